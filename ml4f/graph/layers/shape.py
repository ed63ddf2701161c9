"""Shape layers: ZeroPadding1D/2D, Cropping1D/2D, UpSampling1D/2D, Permute,
RepeatVector.  Layers that do not change the layout become aliases, crops that
keep whole leading rows become views (no code), the rest data-movement ops."""
from __future__ import annotations

from .. import keras_config as kc
from ..ops.shape import Crop, Pad, Repeat, Transpose, Upsample, View
from ..registry import Converted, converter
from ..shapes import hwc


def _pair(layer, key, v) -> tuple[int, int]:
    if isinstance(v, int) and not isinstance(v, bool):
        v = (v, v)
    if (not isinstance(v, (list, tuple)) or len(v) != 2
            or not all(isinstance(x, int) and not isinstance(x, bool) for x in v)):
        raise kc.unsupported(layer, f"unsupported {key}={v!r}", key, v)
    if min(v) < 0:
        raise kc.unsupported(layer, f"{key}={list(v)} must not be negative", key, v)
    return int(v[0]), int(v[1])


def _borders(layer, key: str, rank: int) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) from Keras's int / (sym_h, sym_w) / ((t, b), (l, r));
    1-D: int / (left, right)."""
    v = kc.get(layer, key)
    if rank == 1:
        left, right = _pair(layer, key, v)
        return 0, left, 0, right
    if isinstance(v, int) and not isinstance(v, bool):
        v = (v, v)
    if not isinstance(v, (list, tuple)) or len(v) != 2:
        raise kc.unsupported(layer, f"unsupported {key}={v!r}", key, v)
    (t, b), (l, r) = _pair(layer, key, v[0]), _pair(layer, key, v[1])
    return t, l, b, r


def _shape(rank: int, h: int, w: int, c: int) -> tuple[int, ...]:
    return (w, c) if rank == 1 else (h, w, c)


# ------------------------------------------------------------ zero padding
@converter("ZeroPadding1D", "ZeroPadding2D")
def _zero_padding(layer, in_shape, tin, tout):
    rank = kc.spatial_rank(layer, in_shape)
    pads = _borders(layer, "padding", rank)
    h, w, c = hwc(in_shape)
    out_shape = _shape(rank, h + pads[0] + pads[2], w + pads[1] + pads[3], c)
    if not any(pads):
        return Converted(in_shape, [])
    return Converted(out_shape, [Pad(layer.name, layer.class_name, [tin], tout, [in_shape],
                                     out_shape, pads=pads)])


# ---------------------------------------------------------------- cropping
@converter("Cropping1D", "Cropping2D")
def _cropping(layer, in_shape, tin, tout):
    rank = kc.spatial_rank(layer, in_shape)
    t, l, b, r = _borders(layer, "cropping", rank)
    h, w, c = hwc(in_shape)
    oh, ow = h - t - b, w - l - r
    if oh < 1 or ow < 1:
        raise kc.unsupported(layer, f"cropping {kc.get(layer, 'cropping')} leaves nothing of "
                             f"input {list(in_shape)}", "cropping", kc.get(layer, "cropping"))
    out_shape = _shape(rank, oh, ow, c)
    if not (t or l or b or r):
        return Converted(in_shape, [])
    args = (layer.name, layer.class_name, [tin], tout, [in_shape], out_shape)
    if (l == 0 and r == 0) or oh == 1:
        # whole rows, or a part of one row: the result is a contiguous part of the input
        return Converted(out_shape, [View(*args, offset=(t * w + l) * c)])
    return Converted(out_shape, [Crop(*args, crops=(t, l, b, r))])


# -------------------------------------------------------------- upsampling
@converter("UpSampling1D", "UpSampling2D")
def _upsampling(layer, in_shape, tin, tout):
    rank = kc.spatial_rank(layer, in_shape)
    if rank == 2:
        kc.require(layer, "interpolation", ("nearest",), "nearest")
        size = kc.int_tuple(layer, "size", 2, 2)
    else:
        size = (1,) + kc.int_tuple(layer, "size", 1, 2)
    h, w, c = hwc(in_shape)
    out_shape = _shape(rank, h * size[0], w * size[1], c)
    if size == (1, 1):
        return Converted(in_shape, [])
    return Converted(out_shape, [Upsample(layer.name, layer.class_name, [tin], tout, [in_shape],
                                          out_shape, size=size)])


# ----------------------------------------------------------------- permute
@converter("Permute")
def _permute(layer, in_shape, tin, tout):
    dims = kc.get(layer, "dims")
    n = len(in_shape)
    if (not isinstance(dims, (list, tuple)) or not all(kc.is_int(d) for d in dims)
            or sorted(dims) != list(range(1, n + 1))):
        raise kc.unsupported(layer, f"dims={dims!r} is not a permutation of the axes "
                             f"1..{n} of input {list(in_shape)}", "dims", dims)
    perm = tuple(int(d) - 1 for d in dims)
    out_shape = tuple(in_shape[p] for p in perm)
    moved = [p for p in perm if in_shape[p] != 1]
    if moved == sorted(moved):
        return Converted(out_shape, [])          # only axes of length 1 move: same layout
    return Converted(out_shape, [Transpose(layer.name, layer.class_name, [tin], tout, [in_shape],
                                           out_shape, perm=perm)])


# ------------------------------------------------------------ repeat vector
@converter("RepeatVector")
def _repeat_vector(layer, in_shape, tin, tout):
    if len(in_shape) != 1:
        raise kc.unsupported(layer, f"input shape {list(in_shape)} must have rank 1")
    n = kc.get(layer, "n")
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise kc.unsupported(layer, f"unsupported n={n!r}", "n", n)
    out_shape = (n,) + tuple(in_shape)
    if n == 1:
        return Converted(out_shape, [])
    return Converted(out_shape, [Repeat(layer.name, layer.class_name, [tin], tout, [in_shape],
                                        out_shape, n=n)])

