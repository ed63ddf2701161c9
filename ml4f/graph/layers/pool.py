"""Pooling: Max/AveragePooling1D/2D, GlobalMax/GlobalAveragePooling1D/2D."""
from __future__ import annotations

from .. import keras_config as kc
from ..ops import GlobalPool, Pool2D
from ..registry import Converted, converter
from ..shapes import conv_out_and_pads, hwc


# ------------------------------------------------------------------- pooling
@converter("MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D")
def _pool(layer, in_shape, tin, tout):
    rank = kc.spatial_rank(layer, in_shape)
    padding = kc.require(layer, "padding", ("valid", "same"), "valid")
    pool = kc.int_tuple(layer, "pool_size", rank, 2)
    strides = kc.get(layer, "strides")
    st = pool if strides is None else kc.int_tuple(layer, "strides", rank)
    if rank == 1:
        pool, st = (1,) + pool, (1,) + st
    h, w, c = hwc(in_shape)
    oh, pt, pb = conv_out_and_pads(h, pool[0], st[0], 1, padding)
    ow, pl, pr = conv_out_and_pads(w, pool[1], st[1], 1, padding)
    if oh < 1 or ow < 1:
        raise kc.unsupported(layer, f"input {list(in_shape)} is smaller than the pool")
    out_shape = (ow, c) if rank == 1 else (oh, ow, c)
    op = Pool2D(layer.name, layer.class_name, [tin], tout, [in_shape], out_shape,
                mode="max" if layer.class_name.startswith("Max") else "avg",
                pool=(pool[0], pool[1]), strides=(st[0], st[1]), pads=(pt, pl, pb, pr))
    return Converted(out_shape, [op])


@converter("GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalAveragePooling1D", "GlobalAveragePooling2D")
def _global_pool(layer, in_shape, tin, tout):
    rank = kc.spatial_rank(layer, in_shape)
    c = in_shape[-1]
    keepdims = kc.boolean(layer, "keepdims", False)
    out_shape = (1,) * rank + (c,) if keepdims else (c,)
    mode = "max" if "Max" in layer.class_name else "avg"
    return Converted(out_shape, [GlobalPool(layer.name, layer.class_name, [tin], tout, [in_shape],
                                            out_shape, mode=mode)])
