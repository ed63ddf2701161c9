"""Dense (matrix-vector) op."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import LINEAR, Activation, FusedResidual, Op, elems


@dataclass
class Dense(FusedResidual, Op):
    """y = x @ kernel + bias over the last axis; leading axes are rows."""

    kernel: np.ndarray = None      # (in, units)
    bias: np.ndarray | None = None
    activation: Activation = LINEAR
    residual: str = ""            # a merge fused into the store (RESIDUAL_MODES), inputs[1]

    kind = "dense"
    WEIGHTS = ("kernel",)
    FLOAT32 = ("bias",)

    def macs(self) -> int:
        return elems(self.in_shape) * self.kernel.shape[1]

    def weight_arrays(self):
        return [self.kernel] + ([self.bias] if self.bias is not None else [])
