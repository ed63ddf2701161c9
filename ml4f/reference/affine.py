"""Reference per-channel affine op."""
from __future__ import annotations

from ..graph.ops.affine import Affine
from . import activate, reference


@reference(Affine)
def _affine(op: Affine, xs, dt):
    x = xs[0].astype(dt)
    return activate(x * op.scale.astype(dt) + op.offset.astype(dt), op.activation)
