"""Per-channel affine op: BatchNormalization (when it cannot be folded into
its producer), Rescaling and Normalization."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .base import LINEAR, Activation, Op


@dataclass
class Affine(Op):
    """y = x * scale[c] + offset[c] over the last axis (channel c), then the
    fused activation.  scale, offset: (C,) float32, always stored as float32."""

    scale: np.ndarray = None
    offset: np.ndarray = None
    activation: Activation = LINEAR

    kind: ClassVar[str] = "affine"
    inplace: ClassVar[bool] = True
    FLOAT32: ClassVar[tuple[str, ...]] = ("scale", "offset")

    def weight_arrays(self):
        return [self.scale, self.offset]
