"""Pooling ops."""
from __future__ import annotations

from dataclasses import dataclass

from .base import LINEAR, Activation, Op, RowAccess, window_access


@dataclass
class Pool2D(Op):
    """Max or average pooling over (H, W) windows, per channel."""

    mode: str = "max"              # "max" | "avg"
    pool: tuple[int, int] = (2, 2)
    strides: tuple[int, int] = (2, 2)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    activation: Activation = LINEAR

    kind = "pool2d"

    def nonnegative(self, inputs: list[bool]) -> bool:
        return super().nonnegative(inputs) or (self.mode == "max" and inputs[0])

    def row_access(self) -> RowAccess:
        return window_access(self, self.pool[0], self.strides[0], 1, self.pads[0], reversible=False)


@dataclass
class GlobalPool(Op):
    """Max or average over all positions, per channel."""

    mode: str = "max"              # "max" | "avg"
    activation: Activation = LINEAR

    kind = "globalpool"

    def nonnegative(self, inputs: list[bool]) -> bool:
        return super().nonnegative(inputs) or (self.mode == "max" and inputs[0])
