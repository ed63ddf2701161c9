"""Constants in core registers: rd = rn + any 32-bit value in the fewest
Thumb-2 instructions (ADD/SUB with modified or 12-bit immediates, else
MOVW/MOVT through a scratch register)."""
from __future__ import annotations

from ..thumb import Assembler
from ..thumb.encoding import modimm_encode


def _imm_chunks(v: int) -> list[int]:
    """Split 0 < v < 2**32 into few parts that ADD/ADDW accept as immediates."""
    parts = []
    while v:
        if v < 4096 or modimm_encode(v) is not None:
            parts.append(v)
            break
        h = v.bit_length() - 1
        chunk = v & (0xFF << (h - 7))       # 8 bits from the top set bit: a modified immediate
        parts.append(chunk)
        v -= chunk
    return parts


def add_const_insns(value: int) -> int:
    """Instructions add_const(rd, rn, value, scratch) emits (rd != rn or a scratch given)."""
    parts = _imm_chunks(abs(value)) if value else []
    return 3 if len(parts) > 2 else len(parts)


def add_const(asm: Assembler, rd, rn, value: int, scratch=None) -> None:
    """rd = rn + value for any 32-bit value, with the fewest instructions
    (a scratch register, if given, allows MOVW/MOVT + ADD for awkward values)."""
    if value == 0:
        if rd != rn:
            asm.mov(rd, rn)
        return
    op, v = (asm.add, value) if value > 0 else (asm.sub, -value)
    parts = _imm_chunks(v)
    tmp = scratch if scratch is not None and scratch != rn else (rd if rd != rn else None)
    if len(parts) > 2 and tmp is not None:
        asm.mov_const(tmp, value & 0xFFFFFFFF)
        asm.add(rd, rn, tmp)
        return
    src = rn
    for part in parts:
        op(rd, src, part)
        src = rd
