"""Element-wise and row-wise ops."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..shapes import hwc
from .base import LINEAR, Activation, Op, RowAccess, elems


@dataclass
class Elementwise(Op):
    """A standalone activation (when it could not be fused into its producer)."""

    activation: Activation = LINEAR

    kind = "activation"
    inplace = True

    def stream_access(self) -> RowAccess:
        """Row y from row y (the planner keeps it in place outside regions, so
        row_access stays None: no overlap pair)."""
        h, w, c = hwc(self.out_shape)
        return RowAccess(4 * w * c, 4 * w * c, tuple((y, y) for y in range(h)))


@dataclass
class Softmax(Op):
    """Softmax over one axis (`axis`: an index of the shape without the batch
    axis, -1 the last), for every position of the other axes."""

    axis: int = -1

    kind = "softmax"
    inplace = True

    def nonnegative(self, inputs: list[bool]) -> bool:
        return True

    def split(self) -> tuple[int, int, int]:
        """(outer, n, inner): the tensor as outer blocks of n rows of inner values,
        the softmax running down each column of n values."""
        shape = self.out_shape
        axis = self.axis % len(shape)
        return elems(shape[:axis]), int(shape[axis]), elems(shape[axis + 1:])


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


@dataclass
class LayerNorm(Op):
    """Layer normalization over the last axis, for every position of the
    leading axes: (x - mean) / sqrt(variance + epsilon) * gamma + beta, the
    variance the biased one; gamma, beta None when `scale`, `center` are off;
    both always stored as float32."""

    gamma: np.ndarray | None = None
    beta: np.ndarray | None = None
    epsilon: float = 1e-3

    kind: ClassVar[str] = "layer_norm"
    inplace: ClassVar[bool] = True
    FLOAT32: ClassVar[tuple[str, ...]] = ("gamma", "beta")

    def weight_arrays(self):
        return [a for a in (self.gamma, self.beta) if a is not None]


#: UnitNormalization's floor of the sum of squares, by Keras generation:
#: Keras 3 x * min(rsqrt(s), 1 / 1e-12), Keras 2 x * rsqrt(max(s, 1e-12))
UNIT_NORM_FLOOR = {"keras3": 1e-24, "keras2": 1e-12}


@dataclass
class UnitNorm(Op):
    """x / sqrt(max(sum of x^2, floor)) over the last axis, for every position
    of the leading axes; the floor depends on the Keras generation that wrote
    the file (set by the graph pass that reads it)."""

    generation: str = ""

    kind: ClassVar[str] = "unit_norm"
    inplace: ClassVar[bool] = True
    BY_GENERATION: ClassVar[bool] = True

    @property
    def floor(self) -> float:
        return UNIT_NORM_FLOOR[self.generation]
