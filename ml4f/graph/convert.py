"""One converter per Keras layer kind, behind a dispatch table.

A converter turns a layer (config + weights) and its input shape into ops with
concrete shapes, or into an alias when the layer is free in channels-last
row-major layout (Flatten, Reshape, Dropout).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..model.records import Layer
from . import keras_config as kc
from .ops import Conv2D, Dense, Elementwise, Op, Pool2D, Softmax, elems
from .shapes import conv_out_and_pads, hwc


@dataclass
class Converted:
    out_shape: tuple[int, ...]
    ops: list[Op]                 # empty: the output is an alias of the input


ConvertFn = Callable[[Layer, tuple, str, str], Converted]
CONVERTERS: dict[str, ConvertFn] = {}


def converter(*class_names: str):
    def register(fn: ConvertFn) -> ConvertFn:
        for name in class_names:
            CONVERTERS[name] = fn
        return fn
    return register


def check_class(name: str, class_name: str, config: dict) -> None:
    """Refuse layer kinds without a converter (called before weights are read)."""
    if class_name not in CONVERTERS and class_name != "InputLayer":
        raise kc.unsupported(Layer(name, class_name, config),
                             f"unsupported layer kind {class_name}")


def _with_softmax(layer: Layer, op: Op, softmax: bool) -> Converted:
    ops = [op]
    if softmax:
        ops.append(Softmax(layer.name, layer.class_name, [op.output], op.output + ":softmax",
                           [op.out_shape], op.out_shape))
    return Converted(ops[-1].out_shape, ops)


def _weights(layer: Layer, use_bias: bool, n_main: int = 1):
    w = layer.weights
    expect = n_main + (1 if use_bias else 0)
    if len(w) != expect:
        raise kc.unsupported(layer, f"expected {expect} weight arrays, found {len(w)}")
    return w[:n_main], (w[n_main] if use_bias else None)


# --------------------------------------------------------------------- no-ops
@converter("Dropout", "SpatialDropout1D", "SpatialDropout2D", "GaussianNoise",
           "GaussianDropout", "AlphaDropout", "ActivityRegularization")
def _identity(layer, in_shape, tin, tout):
    return Converted(in_shape, [])


@converter("Flatten")
def _flatten(layer, in_shape, tin, tout):
    kc.channels_last(layer)
    return Converted((elems(in_shape),), [])


@converter("Reshape")
def _reshape(layer, in_shape, tin, tout):
    target = list(kc.get(layer, "target_shape") or [])
    n = elems(in_shape)
    if target.count(-1) > 1 or any(d == 0 or d < -1 for d in target):
        raise kc.unsupported(layer, f"invalid target_shape {target}", "target_shape", target)
    if -1 in target:
        known = elems([d for d in target if d != -1])
        if known == 0 or n % known:
            raise kc.unsupported(layer, f"cannot reshape {list(in_shape)} to {target}",
                                 "target_shape", target)
        target[target.index(-1)] = n // known
    if elems(target) != n:
        raise kc.unsupported(layer, f"cannot reshape {list(in_shape)} to {target}",
                             "target_shape", target)
    return Converted(tuple(int(d) for d in target), [])


# ---------------------------------------------------------------- activation
@converter("Activation")
def _activation(layer, in_shape, tin, tout):
    act, softmax = kc.activation(layer)
    if softmax:
        return Converted(in_shape, [Softmax(layer.name, layer.class_name, [tin], tout,
                                            [in_shape], in_shape)])
    if act.is_linear:
        return Converted(in_shape, [])
    return Converted(in_shape, [Elementwise(layer.name, layer.class_name, [tin], tout,
                                            [in_shape], in_shape, activation=act)])


# --------------------------------------------------------------------- dense
@converter("Dense")
def _dense(layer, in_shape, tin, tout):
    use_bias = bool(kc.get(layer, "use_bias", True))
    (kernel,), bias = _weights(layer, use_bias)
    if kernel.ndim != 2 or kernel.shape[0] != in_shape[-1]:
        raise kc.unsupported(layer, f"kernel shape {kernel.shape} does not fit input {list(in_shape)}")
    act, softmax = kc.activation(layer)
    out_shape = tuple(in_shape[:-1]) + (kernel.shape[1],)
    op = Dense(layer.name, layer.class_name, [tin], tout, [in_shape], out_shape,
               kernel=kernel, bias=bias, activation=act)
    return _with_softmax(layer, op, softmax)


# --------------------------------------------------------------- convolution
@converter("Conv1D", "Conv2D")
def _conv(layer, in_shape, tin, tout):
    rank = 1 if layer.class_name == "Conv1D" else 2
    if len(in_shape) != rank + 1:
        raise kc.unsupported(layer, f"input shape {list(in_shape)} must have rank {rank + 1}")
    kc.channels_last(layer)
    paddings = ("valid", "same", "causal") if rank == 1 else ("valid", "same")
    padding = kc.require(layer, "padding", paddings, "valid")
    ks = kc.int_tuple(layer, "kernel_size", rank)
    st = kc.int_tuple(layer, "strides", rank, 1)
    dl = kc.int_tuple(layer, "dilation_rate", rank, 1)
    if int(kc.get(layer, "groups", 1) or 1) != 1:
        raise kc.unsupported(layer, f"unsupported groups={kc.get(layer, 'groups')}", "groups",
                             kc.get(layer, "groups"))
    if max(st) > 1 and max(dl) > 1:
        raise kc.unsupported(layer, "strides > 1 together with dilation_rate > 1",
                             "dilation_rate", list(dl))
    use_bias = bool(kc.get(layer, "use_bias", True))
    (kernel,), bias = _weights(layer, use_bias)
    if rank == 1:
        kernel = kernel.reshape((1,) + kernel.shape)
        ks, st, dl = (1,) + ks, (1,) + st, (1,) + dl
    h, w, c = hwc(in_shape)
    if kernel.shape[:3] != (ks[0], ks[1], c):
        raise kc.unsupported(layer, f"kernel shape {kernel.shape} does not fit input {list(in_shape)}")
    oh, pt, pb = conv_out_and_pads(h, ks[0], st[0], dl[0], padding)
    ow, pl, pr = conv_out_and_pads(w, ks[1], st[1], dl[1], padding)
    if oh < 1 or ow < 1:
        raise kc.unsupported(layer, f"input {list(in_shape)} is smaller than the kernel")
    cout = kernel.shape[3]
    out_shape = (ow, cout) if rank == 1 else (oh, ow, cout)
    act, softmax = kc.activation(layer)
    op = Conv2D(layer.name, layer.class_name, [tin], tout, [in_shape], out_shape,
                kernel=np.ascontiguousarray(kernel), bias=bias, strides=(st[0], st[1]),
                dilation=(dl[0], dl[1]), pads=(pt, pl, pb, pr), activation=act)
    return _with_softmax(layer, op, softmax)


# ------------------------------------------------------------------- pooling
@converter("MaxPooling1D", "MaxPooling2D")
def _pool(layer, in_shape, tin, tout):
    rank = 1 if layer.class_name.endswith("1D") else 2
    if len(in_shape) != rank + 1:
        raise kc.unsupported(layer, f"input shape {list(in_shape)} must have rank {rank + 1}")
    kc.channels_last(layer)
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
                mode="max", pool=(pool[0], pool[1]), strides=(st[0], st[1]), pads=(pt, pl, pb, pr))
    return Converted(out_shape, [op])
