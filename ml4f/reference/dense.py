"""Reference dense layer."""
from __future__ import annotations

from ..graph.ops import Dense
from . import activate, reference


@reference(Dense)
def _dense(op: Dense, xs, dt):
    x = xs[0].astype(dt)
    y = x @ op.kernel.astype(dt)
    if op.bias is not None:
        y = y + op.bias.astype(dt)
    return activate(y, op.activation)
