"""Element-wise and row-wise ops."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .base import LINEAR, Activation, Op, elems


@dataclass
class Elementwise(Op):
    """A standalone activation (when it could not be fused into its producer)."""

    activation: Activation = LINEAR

    kind = "activation"
    inplace = True


@dataclass
class Softmax(Op):
    """Softmax over the last axis, for every position of the leading axes."""

    kind = "softmax"
    inplace = True

    def nonnegative(self, inputs: list[bool]) -> bool:
        return True


@dataclass
class PReLU(Op):
    """x where x >= 0, else alpha * x, with a learned alpha per element.  alpha
    repeats every alpha.size elements (its leading axes are the shared ones
    Keras broadcasts over), always stored as float32."""

    alpha: np.ndarray = None

    kind: ClassVar[str] = "prelu"
    inplace: ClassVar[bool] = True
    FLOAT32: ClassVar[tuple[str, ...]] = ("alpha",)

    @property
    def period(self) -> int:
        return int(self.alpha.size)

    def macs(self) -> int:
        return elems(self.out_shape)

    def weight_arrays(self):
        return [self.alpha]
