"""Counted loops, chunked runs and block copies, the loop shapes every kernel uses."""
from __future__ import annotations

from contextlib import contextmanager

from ..thumb import Assembler
from ..thumb.regs import S


@contextmanager
def counted_loop(asm: Assembler, counter, count: int):
    """Body runs `count` times (count >= 1); counts down to zero in `counter`."""
    if count == 1:
        yield
        return
    asm.mov_const(counter, count)
    top = asm.here()
    yield
    asm.subs(counter, counter, 1)
    asm.b(top, cond="ne")


def chunked(asm: Assembler, counter, length: int, m: int, unroll: int, chunk) -> None:
    """chunk(size) over `length` items in steps of m: a counted loop whose body is
    `unroll` chunks, the chunks left over unrolled, then a shorter tail chunk."""
    n, tail = divmod(length, m)
    loops, rem = divmod(n, unroll)
    if loops:
        with counted_loop(asm, counter, loops):
            for _ in range(unroll):
                chunk(m)
    for _ in range(rem):
        chunk(m)
    if tail:
        chunk(tail)


def copy_floats(asm: Assembler, src, dst, n: int, counter, chunk: int) -> None:
    """n floats from [src]! to [dst]!, `chunk` S registers (from s0) per VLDM/VSTM."""
    groups, tail = divmod(n, chunk)
    if groups:
        with counted_loop(asm, counter, groups):
            asm.vldm(src, S[0], chunk, wb=True)
            asm.vstm(dst, S[0], chunk, wb=True)
    if tail:
        asm.vldm(src, S[0], tail, wb=True)
        asm.vstm(dst, S[0], tail, wb=True)
