"""What every kernel of one model shares: the code generation state and the
stack frame.

Register conventions inside a kernel: every core register except sp (r0-r12,
lr) and every S register is free; the model prologue saved the callee-saved
ones.  The frame at sp holds the arena base, the weights base and spill words.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..thumb import Assembler
from ..thumb.regs import sp
from ..weights import WeightBlob
from .immediates import add_const

FRAME_ARENA = 0
FRAME_WEIGHTS = 4
FRAME_SPILL = 8          # spill words for kernels: [sp, #8] .. [sp, #44]
SPILL_SLOTS = 10
FRAME_BYTES = FRAME_SPILL + 4 * SPILL_SLOTS


def frame_bytes(spill_slots: int) -> int:
    """The frame with this many spill slots (a multiple of 8 bytes keeps sp aligned)."""
    return -(-(FRAME_SPILL + 4 * spill_slots) // 8) * 8


@dataclass
class KernelContext:
    """Code generation state shared by the kernels of one model."""

    asm: Assembler
    blob: WeightBlob
    optimize: str = "balanced"          # "size" | "balanced" | "speed"
    nonnegative: frozenset = frozenset()  # tensors known to hold no negative value
    reversed: frozenset = frozenset()     # outputs of windowed ops that run bottom to top
    overlapping: frozenset = frozenset()  # outputs written over their input behind the read front
    scratch: dict = field(default_factory=dict)   # op output -> arena offset of its scratch
    pixels_apart: dict = field(default_factory=dict)  # output -> (pixel, row) bytes (plan.py)
    notes: list[str] = field(default_factory=list)
    parts: list = field(default_factory=list)     # the op's parts' code: (start, end) labels

    @property
    def float16(self) -> bool:
        return self.blob.float16

    def arena_ptr(self, rd, offset: int) -> None:
        self.asm.ldr(rd, sp, FRAME_ARENA)
        add_const(self.asm, rd, rd, offset)

    def weights_ptr(self, rd, offset: int) -> None:
        self.asm.ldr(rd, sp, FRAME_WEIGHTS)
        add_const(self.asm, rd, rd, offset)

    def spill(self, rt, slot: int) -> None:
        self.asm.str(rt, sp, FRAME_SPILL + 4 * slot)

    def reload(self, rt, slot: int) -> None:
        self.asm.ldr(rt, sp, FRAME_SPILL + 4 * slot)
