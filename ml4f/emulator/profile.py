"""Cycle profile of one run: the emulator's block and edge counts costed by the
cycle model, per named code range (the layers), and the stack high-water mark."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .machine import Machine
from .timing import CycleCounter


@dataclass
class Profile:
    cycles: dict          # range name -> cycles, plus "other" and "total"
    stack_bytes: int


def profile(obj: bytes, x: np.ndarray, ranges: dict[str, tuple[int, int]]) -> Profile:
    """Run `obj` once on `x`; `ranges` names code ranges as object offsets [start, end)."""
    res = Machine(obj, profile=True).run(x)
    cycles = CycleCounter(obj).count(res.block_counts, res.edge_counts, ranges)
    return Profile(cycles, res.stack_bytes)
