"""Convolutions: Conv1D, Conv2D."""
from __future__ import annotations

import numpy as np

from .. import keras_config as kc
from ..ops import Conv2D
from ..registry import converter, weights_of, with_softmax
from ..shapes import conv_out_and_pads, hwc


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
    (kernel,), bias = weights_of(layer, use_bias)
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
    return with_softmax(layer, op, softmax)
