"""Element-wise and row-wise ops."""
from __future__ import annotations

from dataclasses import dataclass

from .base import LINEAR, Activation, Op


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
