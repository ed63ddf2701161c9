"""A region of windowed ops run row by row (depth first): its inner tensors
never exist whole, only as ring buffers of the rows their readers still need
(ml4f/streaming.py schedules the rows and sizes the rings)."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import ClassVar

import numpy as np

from .base import Op

OUTPUT = "<out>"              # the region's output, as its ops name it


def local_input(k: int) -> str:
    """inputs[k] of the region, as its ops name it (the region can be renamed
    from outside, e.g. to validate it alone, without touching its ops)."""
    return f"<in{k}>"


@dataclass
class Stream(Op):
    """ops: the region's ops in run order (Conv2D / DepthwiseConv2D, with fused
    merges); their inputs are the region's inputs (local_input(k): tensors
    that exist whole) or the outputs of earlier ops of the region; the last
    op's output is OUTPUT.  inputs[0] is the input the output may overlap."""

    ops: list = field(default_factory=list)
    strip: int = 1                # output rows made per round of the schedule

    kind: ClassVar[str] = "stream"

    @cached_property
    def schedule(self):
        from ...streaming import schedule_rows
        return schedule_rows(self)

    def macs(self) -> int:
        return sum(op.macs() for op in self.ops)

    def weight_arrays(self) -> list[np.ndarray]:
        return [a for op in self.ops for a in op.weight_arrays()]

    def map_arrays(self, fn) -> "Stream":
        return replace(self, ops=[op.map_arrays(fn) for op in self.ops])

    def scratch_bytes(self) -> int:
        """The rings, then the largest scratch of an inner op (after the rings)."""
        return self.schedule.scratch_bytes + self.inner_scratch_bytes()

    def inner_scratch_bytes(self) -> int:
        return max((op.scratch_bytes() for op in self.ops), default=0)

    def overlap_offsets(self):
        return self.schedule.forward, None
