"""Reference activations and softmax."""
from __future__ import annotations

import numpy as np

from ..graph.ops import Elementwise, Softmax
from . import activate, reference


@reference("activation")
def _elementwise(op: Elementwise, xs, dt):
    return activate(xs[0].astype(dt), op.activation)


@reference("softmax")
def _softmax(op: Softmax, xs, dt):
    x = xs[0].astype(dt)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)
