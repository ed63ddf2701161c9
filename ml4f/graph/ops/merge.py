"""Ops with several inputs: element-wise merges (Add, Subtract, Multiply,
Average, Maximum, Minimum) and concatenation."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .base import LINEAR, Activation, Op

MERGE_MODES = ("add", "sub", "mul", "avg", "max", "min")


@dataclass
class Merge(Op):
    """out = inputs[0] (mode) inputs[1] (mode) ... element by element, left to
    right (avg: the sum times 1/len(inputs)).  Inputs have the output's shape
    or repeat it over leading axes (NumPy broadcasting, e.g. (1, 1, C) against
    (H, W, C)); all of the latter have one size."""

    mode: str = "add"
    activation: Activation = LINEAR

    kind: ClassVar[str] = "merge"
    inplace: ClassVar[bool] = True
    # every element is read from all inputs before it is written, so the output
    # may take the buffer of whichever input dies here, not only the first one
    inplace_any_input: ClassVar[bool] = True


@dataclass
class Concat(Op):
    """Concatenation along `axis` (batch excluded, 0-based, non-negative)."""

    axis: int = 0

    kind: ClassVar[str] = "concat"
