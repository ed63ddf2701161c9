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


# a merge fused into its operand's store (graph.ops.base.RESIDUAL_MODES): a is the
# producer's result, b the other operand
RESIDUAL = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "rsub": lambda a, b: b - a,
    "mul": lambda a, b: a * b,
    "avg": lambda a, b: (a + b) / 2,
    "max": np.maximum,
    "min": np.minimum,
}


def with_residual(op, y, xs, dt):
    """y combined with the op's fused merge operand (xs[1]), if it has one."""
    if not getattr(op, "residual", ""):
        return y
    return RESIDUAL[op.residual](y, xs[1].astype(dt).reshape(y.shape))
