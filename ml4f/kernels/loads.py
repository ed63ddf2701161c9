"""Loading runs of input values that sit at several places of a tensor.

`load_columns` fills consecutive S registers with n floats from each of
several byte offsets from a base pointer, choosing per case: one VLDM when the
runs are contiguous, VLDR (immediate offset, no pointer arithmetic) for single
floats within reach, otherwise ADD + VLDM through two pointer registers used
alternately, so that no VLDM waits for the ADD right before it.
"""
from __future__ import annotations

from .cost import ALU, VLDR, vldm
from .immediates import add_const

VLDR_REACH = 1020


def _contiguous(offsets, n) -> bool:
    return all(b - a == 4 * n for a, b in zip(offsets, offsets[1:]))


def load_columns_cycles(offsets, n: int) -> int:
    """Cycles `load_columns` spends (same choices, Cortex-M4 timing)."""
    if _contiguous(offsets, n):
        return vldm(len(offsets) * n) + (ALU if offsets[0] else 0)
    total = 0
    for off in offsets:
        if n <= 2 and 0 <= off and off + 4 * (n - 1) <= VLDR_REACH:
            total += n * VLDR
        elif off == 0:
            total += vldm(n)
        else:
            total += ALU + vldm(n)                  # a pointer, then VLDM
    return total


def load_columns(asm, base, offsets, n: int, regs, ptrs, scratch) -> None:
    """regs[i*n:(i+1)*n] := n floats at base + offsets[i]; `ptrs` are two free
    core registers, `scratch` a third one for large constants."""
    if _contiguous(offsets, n):
        if offsets[0]:
            add_const(asm, ptrs[0], base, offsets[0], scratch=scratch)
            asm.vldm(ptrs[0], regs[0], n * len(offsets))
        else:
            asm.vldm(base, regs[0], n * len(offsets))
        return
    pending = []              # (pointer, regs) computed but not loaded yet
    turn = 0
    for i, off in enumerate(offsets):
        dst = regs[i * n:(i + 1) * n]
        if n <= 2 and 0 <= off and off + 4 * (n - 1) <= VLDR_REACH:
            for k, r in enumerate(dst):
                asm.vldr(r, base, off + 4 * k)
            continue
        if off == 0:
            asm.vldm(base, dst[0], n)
            continue
        ptr = ptrs[turn]
        turn ^= 1
        add_const(asm, ptr, base, off, scratch=scratch)
        pending.append((ptr, dst))
        if len(pending) == 2:
            p, d = pending.pop(0)
            asm.vldm(p, d[0], n)
    for p, d in pending:
        asm.vldm(p, d[0], n)
