"""Reference pooling."""
from __future__ import annotations

import numpy as np

from ..graph.ops import GlobalPool, Pool2D
from ..graph.shapes import hwc
from . import activate, reference


@reference(Pool2D)
def _pool2d(op: Pool2D, xs, dt):
    x = xs[0].astype(dt).reshape(hwc(op.in_shape))
    pt, pl, pb, pr = op.pads
    oh, ow, c = hwc(op.out_shape)
    sh, sw = op.strides
    ph, pw = op.pool
    if op.mode == "max":
        xp = np.pad(x, ((pt, pb), (pl, pr), (0, 0)), constant_values=-np.inf)
        out = np.full((oh, ow, c), -np.inf, dt)
        for ky in range(ph):
            for kx in range(pw):
                out = np.maximum(out, xp[ky:ky + (oh - 1) * sh + 1:sh, kx:kx + (ow - 1) * sw + 1:sw])
    else:
        xp = np.pad(x, ((pt, pb), (pl, pr), (0, 0)))
        ones = np.pad(np.ones(x.shape[:2] + (1,)), ((pt, pb), (pl, pr), (0, 0)))
        out = np.zeros((oh, ow, c), dt)
        cnt = np.zeros((oh, ow, 1), dt)
        for ky in range(ph):
            for kx in range(pw):
                sl = (slice(ky, ky + (oh - 1) * sh + 1, sh), slice(kx, kx + (ow - 1) * sw + 1, sw))
                out += xp[sl]
                cnt += ones[sl]
        out = out / cnt
    return activate(out, op.activation).reshape(op.out_shape)


@reference(GlobalPool)
def _global_pool(op: GlobalPool, xs, dt):
    x = xs[0].astype(dt).reshape(-1, op.in_shape[-1])
    out = x.max(axis=0) if op.mode == "max" else x.sum(axis=0) / dt(x.shape[0])
    return activate(out, op.activation).reshape(op.out_shape)
