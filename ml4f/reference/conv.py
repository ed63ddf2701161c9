"""Reference convolutions."""
from __future__ import annotations

import numpy as np

from ..graph.ops import Conv2D, DepthwiseConv2D
from ..graph.shapes import hwc
from . import activate, reference


@reference("conv2d")
def _conv2d(op: Conv2D, xs, dt):
    x = xs[0].astype(dt).reshape(hwc(op.in_shape))
    kh, kw, cin, cout = op.kernel.shape
    pt, pl, pb, pr = op.pads
    xp = np.pad(x, ((pt, pb), (pl, pr), (0, 0)))
    oh, ow, _ = hwc(op.out_shape)
    sh, sw = op.strides
    dh, dw = op.dilation
    k = op.kernel.astype(dt)
    out = np.zeros((oh, ow, cout), dt)
    for ky in range(kh):
        for kx in range(kw):
            y0, x0 = ky * dh, kx * dw
            patch = xp[y0:y0 + (oh - 1) * sh + 1:sh, x0:x0 + (ow - 1) * sw + 1:sw, :]
            out += patch @ k[ky, kx]
    if op.bias is not None:
        out += op.bias.astype(dt)
    return activate(out, op.activation).reshape(op.out_shape)


@reference("depthwise")
def _depthwise(op: DepthwiseConv2D, xs, dt):
    x = xs[0].astype(dt).reshape(hwc(op.in_shape))
    kh, kw, c, m = op.kernel.shape
    pt, pl, pb, pr = op.pads
    xp = np.pad(x, ((pt, pb), (pl, pr), (0, 0)))
    oh, ow, _ = hwc(op.out_shape)
    sh, sw = op.strides
    dh, dw = op.dilation
    k = op.kernel.astype(dt)
    out = np.zeros((oh, ow, c, m), dt)
    for ky in range(kh):
        for kx in range(kw):
            y0, x0 = ky * dh, kx * dw
            patch = xp[y0:y0 + (oh - 1) * sh + 1:sh, x0:x0 + (ow - 1) * sw + 1:sw, :]
            out += patch[..., None] * k[ky, kx]
    out = out.reshape(oh, ow, c * m)
    if op.bias is not None:
        out += op.bias.astype(dt)
    return activate(out, op.activation).reshape(op.out_shape)
