"""Reference data movement: what padding, cropping, upsampling, permutation,
repeats and views produce, stated with NumPy's own operations."""
from __future__ import annotations

import numpy as np

from ..graph.ops import elems
from ..graph.ops.shape import Crop, Pad, Repeat, Transpose, Upsample, View
from ..graph.shapes import hwc
from . import reference


@reference(Pad)
def _pad(op: Pad, xs, dt):
    t, l, b, r = op.pads
    return np.pad(xs[0].reshape(hwc(op.in_shape)), ((t, b), (l, r), (0, 0)))


@reference(Crop)
def _crop(op: Crop, xs, dt):
    t, l, b, r = op.crops
    h, w, _ = hwc(op.in_shape)
    return xs[0].reshape(hwc(op.in_shape))[t:h - b, l:w - r]


@reference(Upsample)
def _upsample(op: Upsample, xs, dt):
    x = xs[0].reshape(hwc(op.in_shape))
    return np.repeat(np.repeat(x, op.size[0], axis=0), op.size[1], axis=1)


@reference(Transpose)
def _transpose(op: Transpose, xs, dt):
    return np.transpose(xs[0], op.perm)


@reference(Repeat)
def _repeat(op: Repeat, xs, dt):
    return np.broadcast_to(xs[0], (op.n,) + tuple(op.in_shape))


@reference(View)
def _view(op: View, xs, dt):
    return xs[0].ravel()[op.offset:op.offset + elems(op.out_shape)]
