"""Data-movement ops: padding, cropping, upsampling, axis permutation, repeats
and views.  They compute nothing; the kernels move floats (ml4f/kernels/copy.py)
and the reference states what the result must be (ml4f/reference/shape.py).

Spatial ops see their tensors as (H, W, C) (1-D layers: H = 1).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..shapes import hwc
from .base import Op, RowAccess


@dataclass
class Pad(Op):
    """Zeros around the (H, W) plane: pads = (top, left, bottom, right)."""

    pads: tuple[int, int, int, int] = (0, 0, 0, 0)

    kind: ClassVar[str] = "pad"

    def stream_access(self) -> RowAccess:
        """Inside a streamed region: row y from input row y - top (none for a
        padding row).  Outside, the copy kernel zeroes the whole output first:
        no overlap with its input (no row_access)."""
        h, w, c = hwc(self.in_shape)
        oh, ow, _ = hwc(self.out_shape)
        top = self.pads[0]
        return RowAccess(4 * w * c, 4 * ow * c,
                         tuple((y - top, y - top) if 0 <= y - top < h else (0, -1) for y in range(oh)))


@dataclass
class Crop(Op):
    """Drop rows and columns at the borders: crops = (top, left, bottom, right)."""

    crops: tuple[int, int, int, int] = (0, 0, 0, 0)

    kind: ClassVar[str] = "crop"


@dataclass
class Upsample(Op):
    """Nearest-neighbour upsampling: every pixel becomes a size[0] x size[1] block."""

    size: tuple[int, int] = (2, 2)

    kind: ClassVar[str] = "upsample"


@dataclass
class Transpose(Op):
    """Output axis i is input axis perm[i] (batch excluded, 0-based)."""

    perm: tuple[int, ...] = ()

    kind: ClassVar[str] = "transpose"


@dataclass
class Repeat(Op):
    """RepeatVector: (F,) -> (n, F)."""

    n: int = 1

    kind: ClassVar[str] = "repeat"


@dataclass
class View(Op):
    """The output is a contiguous part of the input, `offset` floats in, with its
    own shape: no code and no memory of its own (the arena planner places it
    inside its input, whose buffer then lives as long as the view)."""

    offset: int = 0

    kind: ClassVar[str] = "view"
