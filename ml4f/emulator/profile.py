"""Cycle profile of one run: the emulator's block and edge counts costed by the
cycle model, per named code range (the layers), and the stack high-water mark."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .machine import Machine, RunResult
from .timing import CycleCounter


@dataclass
class Profile:
    cycles: dict          # range name -> cycles, plus "other" and "total"
    stack_bytes: int


def profile(obj: bytes, x: np.ndarray, ranges: dict[str, tuple[int, int]]) -> Profile:
    """Run `obj` once on `x`; `ranges` names code ranges as object offsets [start, end)."""
    with Machine(obj, profile=True) as machine:
        return profile_of(obj, machine.run(x), ranges)


def profile_of(obj: bytes, run: RunResult, ranges: dict[str, tuple[int, int]]) -> Profile:
    """The profile of a run already made by a Machine(obj, profile=True)."""
    cycles = CycleCounter(obj).count(run.block_counts, run.edge_counts, ranges)
    return Profile(cycles, run.stack_bytes)
