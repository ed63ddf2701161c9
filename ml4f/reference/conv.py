"""Reference convolutions."""
from __future__ import annotations

import numpy as np

from ..graph.ops import Conv2D, DepthwiseConv2D
from ..graph.ops.conv import WINOGRAD, Conv2DTranspose, WinogradConv2D
from ..graph.shapes import hwc
from . import activate, reference
from .merge import with_residual


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


def _finish(op, out, dt, xs):
    if op.bias is not None:
        out = out + op.bias.astype(dt)
    out = with_residual(op, out.reshape(op.out_shape), xs, dt)
    return activate(out, op.activation).reshape(op.out_shape)


@reference(Conv2D)
def _conv2d(op: Conv2D, xs, dt):
    x = xs[0].astype(dt).reshape(hwc(op.in_shape))
    k = op.kernel.astype(dt)
    oh, ow, cout = hwc(op.out_shape)
    out = np.zeros((oh, ow, cout), dt)
    for ky, kx, patch in _taps(op, x):
        out += patch @ k[ky, kx]
    return _finish(op, out, dt, xs)


@reference(DepthwiseConv2D)
def _depthwise(op: DepthwiseConv2D, xs, dt):
    x = xs[0].astype(dt).reshape(hwc(op.in_shape))
    k = op.kernel.astype(dt)
    kh, kw, c, m = op.kernel.shape
    oh, ow, _ = hwc(op.out_shape)
    out = np.zeros((oh, ow, c, m), dt)
    for ky, kx, patch in _taps(op, x):
        out += patch[..., None] * k[ky, kx]
    return _finish(op, out.reshape(oh, ow, c * m), dt, xs)


@reference(Conv2DTranspose)
def _conv_transpose(op: Conv2DTranspose, xs, dt):
    """Every input pixel times every tap, added at i * stride + t - crop (a scatter)."""
    h, w, _ = hwc(op.in_shape)
    x = xs[0].astype(dt).reshape(h, w, -1)
    k = op.kernel.astype(dt)
    kh, kw = k.shape[:2]
    sh, sw = op.strides
    ct, cl = op.crops
    oh, ow, cout = hwc(op.out_shape)
    full = np.zeros(((h - 1) * sh + kh, (w - 1) * sw + kw, cout), dt)
    for ky in range(kh):
        for kx in range(kw):
            full[ky:ky + (h - 1) * sh + 1:sh, kx:kx + (w - 1) * sw + 1:sw] += x @ k[ky, kx]
    out = np.zeros((oh, ow, cout), dt)
    rows, cols = min(oh, full.shape[0] - ct), min(ow, full.shape[1] - cl)
    out[:rows, :cols] = full[ct:ct + rows, cl:cl + cols]
    if op.bias is not None:
        out = out + op.bias.astype(dt)
    return activate(out, op.activation).reshape(op.out_shape)


@reference(WinogradConv2D)
def _winograd(op: WinogradConv2D, xs, dt):
    """The Winograd algorithm itself on the op's transformed weights (exactly the
    values the code reads): per tile V = B^T d B (taps outside the input are
    zero), M = V . U summed over input channels, Y = A^T M A; partial tiles
    cropped."""
    h, w, cin = hwc(op.in_shape)
    x = xs[0].astype(dt).reshape(h, w, cin)
    (bty, _, aty), (btx, _, atx) = WINOGRAD[op.tile[0]], WINOGRAD[op.tile[1]]
    (my, mx), (ay, ax) = op.tile, op.alpha
    oh, ow, cout = hwc(op.out_shape)
    ty, tx = -(-oh // my), -(-ow // mx)
    pt, pl = op.pads[0], op.pads[1]
    xp = np.zeros(((ty - 1) * my + ay, (tx - 1) * mx + ax, cin), dt)
    rows, cols = min(h, xp.shape[0] - pt), min(w, xp.shape[1] - pl)
    xp[pt:pt + rows, pl:pl + cols] = x[:rows, :cols]
    d = np.empty((ty, tx, ay, ax, cin), dt)
    for a in range(ay):
        for b in range(ax):
            d[:, :, a, b] = xp[a:a + (ty - 1) * my + 1:my, b:b + (tx - 1) * mx + 1:mx]
    v = np.einsum("pa,ijabc,qb->ijpqc", bty.astype(dt), d, btx.astype(dt))
    m = np.einsum("ijpqc,pqck->ijpqk", v, op.transformed.astype(dt))
    y = np.einsum("rp,ijpqk,sq->irjsk", aty.astype(dt), m, atx.astype(dt))
    out = y.reshape(ty * my, tx * mx, cout)[:oh, :ow]
    return _finish(op, np.ascontiguousarray(out), dt, xs)
