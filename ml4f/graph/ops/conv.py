"""Convolution ops."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..shapes import hwc, transposed_taps
from .base import LINEAR, Activation, FusedResidual, Op, RowAccess, elems, window_access


@dataclass
class Conv2D(FusedResidual, Op):
    """Convolution (also 1-D convolutions as H = 1).  kernel: (KH, KW, Cin, Cout)."""

    kernel: np.ndarray = None
    bias: np.ndarray | None = None
    strides: tuple[int, int] = (1, 1)
    dilation: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)     # top, left, bottom, right
    activation: Activation = LINEAR
    residual: str = ""            # a merge fused into the store (RESIDUAL_MODES), inputs[1]

    kind = "conv2d"
    WEIGHTS = ("kernel",)
    FLOAT32 = ("bias",)

    def macs(self) -> int:
        kh, kw, cin, cout = self.kernel.shape
        return elems(self.out_shape) * kh * kw * cin

    def row_access(self) -> RowAccess:
        return window_access(self, self.kernel.shape[0], self.strides[0], self.dilation[0],
                             self.pads[0], reversible=True)

    def weight_arrays(self):
        return [self.kernel] + ([self.bias] if self.bias is not None else [])

    def writes_pixels_apart(self) -> bool:
        return not self.residual         # a fused merge reads its operand with the same strides


@dataclass
class DepthwiseConv2D(FusedResidual, Op):
    """Depthwise convolution: every input channel c convolved with its own
    depth_multiplier filters; output channel c*M + m.  kernel: (KH, KW, C, M)."""

    kernel: np.ndarray = None
    bias: np.ndarray | None = None
    strides: tuple[int, int] = (1, 1)
    dilation: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    activation: Activation = LINEAR
    residual: str = ""            # a merge fused into the store (RESIDUAL_MODES), inputs[1]

    kind: ClassVar[str] = "depthwise"
    WEIGHTS: ClassVar[tuple[str, ...]] = ("kernel",)
    FLOAT32: ClassVar[tuple[str, ...]] = ("bias",)

    def macs(self) -> int:
        kh, kw = self.kernel.shape[:2]
        return elems(self.out_shape) * kh * kw

    def row_access(self) -> RowAccess:
        return window_access(self, self.kernel.shape[0], self.strides[0], self.dilation[0],
                             self.pads[0], reversible=True)

    def weight_arrays(self):
        return [self.kernel] + ([self.bias] if self.bias is not None else [])



@dataclass
class Conv2DTranspose(Op):
    """Transposed convolution (also 1-D as H = 1).  kernel: (KH, KW, Cin, Cout)
    (Keras stores (KH, KW, Cout, Cin)); output position o receives
    x[i] * kernel[t] wherever i * stride + t == o + crops (per axis), so
    output positions no tap reaches hold the bias."""

    kernel: np.ndarray = None
    bias: np.ndarray | None = None
    strides: tuple[int, int] = (1, 1)
    crops: tuple[int, int] = (0, 0)          # top, left
    activation: Activation = LINEAR

    kind: ClassVar[str] = "conv_transpose"
    WEIGHTS: ClassVar[tuple[str, ...]] = ("kernel",)
    FLOAT32: ClassVar[tuple[str, ...]] = ("bias",)

    def macs(self) -> int:
        """Useful MACs: the products that land inside the output."""
        kh, kw, cin, cout = self.kernel.shape
        h, w, _ = hwc(self.in_shape)
        oh, ow, _ = hwc(self.out_shape)
        return (transposed_taps(h, oh, kh, self.strides[0], self.crops[0])
                * transposed_taps(w, ow, kw, self.strides[1], self.crops[1]) * cin * cout)

    def weight_arrays(self):
        return [self.kernel] + ([self.bias] if self.bias is not None else [])
