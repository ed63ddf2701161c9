"""Convolution ops."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import LINEAR, Activation, Op, elems


@dataclass
class Conv2D(Op):
    """Convolution (also 1-D convolutions as H = 1).  kernel: (KH, KW, Cin, Cout)."""

    kernel: np.ndarray = None
    bias: np.ndarray | None = None
    strides: tuple[int, int] = (1, 1)
    dilation: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)     # top, left, bottom, right
    activation: Activation = LINEAR

    kind = "conv2d"
    WEIGHTS = ("kernel",)
    FLOAT32 = ("bias",)

    def macs(self) -> int:
        kh, kw, cin, cout = self.kernel.shape
        return elems(self.out_shape) * kh * kw * cin

    def weight_arrays(self):
        return [self.kernel] + ([self.bias] if self.bias is not None else [])
