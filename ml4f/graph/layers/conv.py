"""Convolutions: Conv1D/2D, DepthwiseConv1D/2D, SeparableConv1D/2D,
Conv1DTranspose/Conv2DTranspose.

1-D layers become 2-D ops with height 1.  A separable convolution is a
depthwise convolution followed by a 1x1 convolution (two ops)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import keras_config as kc
from ..ops import Conv2D, DepthwiseConv2D
from ..ops.conv import Conv2DTranspose
from ..registry import Converted, converter, main_and_bias, named_weights, with_softmax
from ..shapes import conv_out_and_pads, deconv_out_and_pad, deconv_runs_back, hwc


@dataclass
class Window:
    """Spatial parameters of a convolution layer, as 2-D (H = 1 for 1-D layers)."""

    kernel: tuple[int, int]
    strides: tuple[int, int]
    dilation: tuple[int, int]
    pads: tuple[int, int, int, int]
    out_hw: tuple[int, int]


def _rank(layer) -> int:
    return 1 if layer.class_name.endswith("1D") else 2


def _window(layer, in_shape) -> Window:
    rank = kc.spatial_rank(layer, in_shape)
    paddings = ("valid", "same", "causal") if rank == 1 else ("valid", "same")
    padding = kc.require(layer, "padding", paddings, "valid")
    ks = kc.int_tuple(layer, "kernel_size", rank)
    st = kc.int_tuple(layer, "strides", rank, 1)
    dl = kc.int_tuple(layer, "dilation_rate", rank, 1)
    groups = kc.integer(layer, "groups", 1)
    if groups != 1:
        raise kc.unsupported(layer, f"unsupported groups={groups}", "groups", groups)
    if rank == 1:
        ks, st, dl = (1,) + ks, (1,) + st, (1,) + dl
    h, w, _ = hwc(in_shape)
    oh, pt, pb = conv_out_and_pads(h, ks[0], st[0], dl[0], padding)
    ow, pl, pr = conv_out_and_pads(w, ks[1], st[1], dl[1], padding)
    if oh < 1 or ow < 1:
        raise kc.unsupported(layer, f"input {list(in_shape)} is smaller than the kernel")
    return Window(ks, st, dl, (pt, pl, pb, pr), (oh, ow))


def _out_shape(layer, win: Window, channels: int) -> tuple[int, ...]:
    oh, ow = win.out_hw
    return (ow, channels) if _rank(layer) == 1 else (oh, ow, channels)


def _as_2d(kernel: np.ndarray, rank: int) -> np.ndarray:
    return np.ascontiguousarray(kernel.reshape((1,) + kernel.shape) if rank == 1 else kernel)


def _check_kernel(layer, kernel, win: Window, c: int, in_shape) -> None:
    if kernel.ndim != 4 or kernel.shape[:3] != (win.kernel[0], win.kernel[1], c):
        raise kc.unsupported(layer, f"kernel shape {kernel.shape} does not fit input {list(in_shape)}")


def _filters(layer, channels: int) -> None:
    """`filters` as Keras needs it: an integer, the kernel's output channels."""
    filters = kc.integer(layer, "filters")
    if filters != channels:
        raise kc.unsupported(layer, f"filters={filters} does not match the kernel's {channels} "
                             "output channels", "filters", filters)


def _bias(layer, w: dict, channels: int):
    """The bias array, checked against the output channels, or None."""
    bias = w.get("bias")
    if bias is not None and bias.shape != (channels,):
        raise kc.unsupported(layer, f"bias has shape {bias.shape}, expected ({channels},)")
    return bias


@converter("Conv1D", "Conv2D", weights=main_and_bias("kernel"))
def _conv(layer, in_shape, tin, tout):
    win = _window(layer, in_shape)
    w = named_weights(layer)
    kernel = w["kernel"]
    kernel = _as_2d(kernel, _rank(layer))
    c = hwc(in_shape)[2]
    _check_kernel(layer, kernel, win, c, in_shape)
    _filters(layer, kernel.shape[3])
    bias = _bias(layer, w, kernel.shape[3])
    act, softmax = kc.activation(layer)
    op = Conv2D(layer.name, layer.class_name, [tin], tout, [in_shape],
                _out_shape(layer, win, kernel.shape[3]), kernel=kernel, bias=bias,
                strides=win.strides, dilation=win.dilation, pads=win.pads, activation=act)
    return with_softmax(layer, op, softmax)


def _multiplier(layer) -> int:
    return kc.integer(layer, "depth_multiplier", 1)


@converter("DepthwiseConv1D", "DepthwiseConv2D", weights=main_and_bias("depthwise_kernel"))
def _depthwise(layer, in_shape, tin, tout):
    win = _window(layer, in_shape)
    w = named_weights(layer)
    kernel = _as_2d(w["depthwise_kernel"], _rank(layer))
    c = hwc(in_shape)[2]
    m = _multiplier(layer)
    _check_kernel(layer, kernel, win, c, in_shape)
    if kernel.shape[3] != m:
        raise kc.unsupported(layer, f"kernel shape {kernel.shape} does not fit depth_multiplier={m}")
    bias = _bias(layer, w, c * m)
    act, softmax = kc.activation(layer)
    op = DepthwiseConv2D(layer.name, layer.class_name, [tin], tout, [in_shape],
                         _out_shape(layer, win, c * m), kernel=kernel, bias=bias,
                         strides=win.strides, dilation=win.dilation, pads=win.pads, activation=act)
    return with_softmax(layer, op, softmax)


@converter("SeparableConv1D", "SeparableConv2D",
           weights=main_and_bias("depthwise_kernel", "pointwise_kernel"))
def _separable(layer, in_shape, tin, tout):
    win = _window(layer, in_shape)
    w = named_weights(layer)
    rank = _rank(layer)
    dw = _as_2d(w["depthwise_kernel"], rank)
    pw = _as_2d(w["pointwise_kernel"], rank)
    c = hwc(in_shape)[2]
    m = _multiplier(layer)
    _check_kernel(layer, dw, win, c, in_shape)
    if dw.shape[3] != m or pw.shape[:3] != (1, 1, c * m):
        raise kc.unsupported(layer, f"kernel shapes {dw.shape}, {pw.shape} do not fit the input")
    _filters(layer, pw.shape[3])
    bias = _bias(layer, w, pw.shape[3])
    act, softmax = kc.activation(layer)
    mid_shape = _out_shape(layer, win, c * m)
    mid = tout + ":depthwise"
    depthwise = DepthwiseConv2D(layer.name, layer.class_name, [tin], mid, [in_shape], mid_shape,
                                kernel=dw, bias=None, strides=win.strides, dilation=win.dilation,
                                pads=win.pads)
    pointwise = Conv2D(layer.name, layer.class_name, [mid], tout, [mid_shape],
                       _out_shape(layer, win, pw.shape[3]), kernel=pw, bias=bias, activation=act)
    res = with_softmax(layer, pointwise, softmax)
    return Converted(res.out_shape, [depthwise] + res.ops)


def _output_padding(layer, rank: int, strides) -> tuple[int, ...] | None:
    v = kc.get(layer, "output_padding")
    if v is None:
        return None
    if kc.is_int(v):
        v = (v,) * rank
    if not isinstance(v, (list, tuple)):
        raise kc.unsupported(layer, f"output_padding={v!r} must be {rank} integers",
                             "output_padding", v)
    v = tuple(v)
    if len(v) != rank or any(not kc.is_int(p) or p < 0 for p in v) or \
            any(p >= s for p, s in zip(v, strides)):
        raise kc.unsupported(layer, f"output_padding={list(v)} must be {rank} integers, each "
                             f"below its stride {list(strides)}", "output_padding", v)
    return v


@converter("Conv1DTranspose", "Conv2DTranspose", weights=main_and_bias("kernel"))
def _conv_transpose(layer, in_shape, tin, tout):
    """Keras' kernel (KH, KW, Cout, Cin) becomes (KH, KW, Cin, Cout); the output
    size is Keras' deconv_output_length, the crop TensorFlow's padding."""
    rank = 1 if layer.class_name == "Conv1DTranspose" else 2
    if len(in_shape) != rank + 1:
        raise kc.unsupported(layer, f"input shape {list(in_shape)} must have rank {rank + 1}")
    kc.channels_last(layer)
    padding = kc.require(layer, "padding", ("valid", "same"), "valid")
    ks = kc.int_tuple(layer, "kernel_size", rank)
    st = kc.int_tuple(layer, "strides", rank, 1)
    dl = kc.int_tuple(layer, "dilation_rate", rank, 1)
    if dl != (1,) * rank:
        raise kc.unsupported(layer, f"unsupported dilation_rate={list(dl)} (only 1)",
                             "dilation_rate", list(dl))
    op_pad = _output_padding(layer, rank, st)
    if rank == 1:
        ks, st = (1,) + ks, (1,) + st
        op_pad = None if op_pad is None else (0,) + op_pad
    h, w, c = hwc(in_shape)
    kernel = _as_2d(named_weights(layer)["kernel"], rank)
    if kernel.ndim != 4 or kernel.shape[:2] != ks or kernel.shape[3] != c:
        raise kc.unsupported(layer, f"kernel shape {kernel.shape} does not fit input {list(in_shape)}")
    kernel = np.ascontiguousarray(kernel.transpose(0, 1, 3, 2))
    oh, ct = deconv_out_and_pad(h, ks[0], st[0], padding, None if op_pad is None else op_pad[0])
    ow, cl = deconv_out_and_pad(w, ks[1], st[1], padding, None if op_pad is None else op_pad[1])
    if not (deconv_runs_back(h, oh, ks[0], st[0], padding)
            and deconv_runs_back(w, ow, ks[1], st[1], padding)):
        raise kc.unsupported(layer, f"input {list(in_shape)} with output_padding="
                             f"{kc.get(layer, 'output_padding')} gives output {[oh, ow]}, which "
                             f"TensorFlow cannot run either", "output_padding",
                             kc.get(layer, "output_padding"))
    cout = kernel.shape[3]
    _filters(layer, cout)
    bias = _bias(layer, named_weights(layer), cout)
    act, softmax = kc.activation(layer)
    out_shape = (ow, cout) if rank == 1 else (oh, ow, cout)
    op = Conv2DTranspose(layer.name, layer.class_name, [tin], tout, [in_shape], out_shape,
                         kernel=kernel, bias=bias, strides=st, crops=(ct, cl), activation=act)
    return with_softmax(layer, op, softmax)
