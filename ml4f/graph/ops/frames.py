"""An op run frame by frame: TimeDistributed around a layer of one op."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np

from .base import Op, elems


@dataclass
class Frames(Op):
    """`inner` (an op over one frame: inner.in_shape = in_shape[1:]) applied to each of
    the in_shape[0] frames; out_shape = (frames,) + inner.out_shape."""

    inner: Op = None

    kind: ClassVar[str] = "frames"

    @property
    def frames(self) -> int:
        return int(self.in_shape[0])

    def macs(self) -> int:
        return self.frames * self.inner.macs()

    def weight_arrays(self) -> list[np.ndarray]:
        return self.inner.weight_arrays()

    def map_arrays(self, fn) -> "Frames":
        return replace(self, inner=self.inner.map_arrays(fn))

    def scratch_bytes(self) -> int:
        """One input frame and one output frame: the inner kernel runs on them."""
        return 4 * (elems(self.inner.in_shape) + elems(self.inner.out_shape))
