"""Reference convolutions."""
from __future__ import annotations

import numpy as np

from ..graph.ops import Conv2D, DepthwiseConv2D
from ..graph.shapes import hwc
from . import activate, reference


def _taps(op, x):
    """(ky, kx, the input values under that kernel tap for every output position)."""
    pt, pl, pb, pr = op.pads
    xp = np.pad(x, ((pt, pb), (pl, pr), (0, 0)))
    oh, ow, _ = hwc(op.out_shape)
    sh, sw = op.strides
    dh, dw = op.dilation
    kh, kw = op.kernel.shape[:2]
    for ky in range(kh):
        for kx in range(kw):
            y0, x0 = ky * dh, kx * dw
            yield ky, kx, xp[y0:y0 + (oh - 1) * sh + 1:sh, x0:x0 + (ow - 1) * sw + 1:sw, :]


def _finish(op, out, dt):
    if op.bias is not None:
        out = out + op.bias.astype(dt)
    return activate(out, op.activation).reshape(op.out_shape)


@reference(Conv2D)
def _conv2d(op: Conv2D, xs, dt):
    x = xs[0].astype(dt).reshape(hwc(op.in_shape))
    k = op.kernel.astype(dt)
    oh, ow, cout = hwc(op.out_shape)
    out = np.zeros((oh, ow, cout), dt)
    for ky, kx, patch in _taps(op, x):
        out += patch @ k[ky, kx]
    return _finish(op, out, dt)


@reference(DepthwiseConv2D)
def _depthwise(op: DepthwiseConv2D, xs, dt):
    x = xs[0].astype(dt).reshape(hwc(op.in_shape))
    k = op.kernel.astype(dt)
    kh, kw, c, m = op.kernel.shape
    oh, ow, _ = hwc(op.out_shape)
    out = np.zeros((oh, ow, c, m), dt)
    for ky, kx, patch in _taps(op, x):
        out += patch[..., None] * k[ky, kx]
    return _finish(op, out.reshape(oh, ow, c * m), dt)
