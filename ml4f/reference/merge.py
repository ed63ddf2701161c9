"""Reference merges and concatenation."""
from __future__ import annotations

from functools import reduce

import numpy as np

from ..graph.ops.merge import Concat, Merge
from . import activate, reference

# left to right, as Keras applies them
COMBINE = {
    "add": np.add,
    "sub": np.subtract,
    "mul": np.multiply,
    "avg": np.add,
    "max": np.maximum,
    "min": np.minimum,
}


@reference(Merge)
def _merge(op: Merge, xs, dt):
    y = reduce(COMBINE[op.mode], [x.astype(dt) for x in xs])
    if op.mode == "avg":
        y = y / len(xs)
    return activate(y, op.activation)


@reference(Concat)
def _concat(op: Concat, xs, dt):
    return np.concatenate(xs, axis=op.axis)
