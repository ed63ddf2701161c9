"""Element-wise merges of k same-shaped inputs (Add, Subtract, Multiply,
Average, Maximum, Minimum), with a fused activation.

Chunks of m elements: the first input is loaded into accumulators S0.., every
further input into S16.. by one VLDM each and combined left to right; Average
multiplies the sum by 1/k; the result is stored through store_activated.  Each
element is read from every input before it is written, so the output may
share the buffer of any full-size input.  Inputs broadcast over leading axes
(e.g. (1, 1, C) against (H, W, C)) repeat every `period` elements: the output
is produced period by period and their pointers go back after each.  Per element and input: ~1 cycle to load and
1 to combine (max/min: VCMP + VMRS + IT + VMOV, 4), plus ~1 to store.
"""
from __future__ import annotations

from ..errors import CodegenError
from ..graph.ops import elems
from ..graph.ops.merge import Merge
from ..thumb.regs import S, lr, r0, r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, r11, r12
from .context import KernelContext
from .immediates import add_const
from .loops import counted_loop
from .registry import kernel
from .store import store_activated

POINTERS = (r4, r5, r6, r7, r8, r9, r10, r11)     # one per input while they last
R_OUT, C_CHUNK = r12, lr
R_POS, R_TMP, R_BPOS = r4, r5, r7                 # more inputs: arena positions + offsets
SL_BLOCKS = 0                                     # spill slot: periods left (broadcasting)
ACC, TMP = 0, 16                                  # first S register of each bank
SCALE = S[31]                                     # 1/k for Average
STORE_TEMPS = (r0, r1, r2, r3)


def _vadd(asm, a, b):
    asm.vadd(a, a, b)


def _vsub(asm, a, b):
    asm.vsub(a, a, b)


def _vmul(asm, a, b):
    asm.vmul(a, a, b)


def _select(cond):
    """a = b where `a cond b` holds after VCMP a, b (NaN in a or b: keep a)."""
    def emit(asm, a, b):
        asm.vcmp(a, b)
        asm.vmrs_apsr()
        asm.it(cond)
        asm.vmov(a, b, cond=cond)
    return emit


COMBINE = {
    "add": _vadd,
    "avg": _vadd,
    "sub": _vsub,
    "mul": _vmul,
    "max": _select("mi"),       # a < b
    "min": _select("gt"),       # a > b
}


class _Operands:
    """Where the current chunk of every input comes from: a write-back pointer
    per input while registers last, else a position register (one for the
    full-size inputs, one for the broadcast ones) plus each input's offset.
    A broadcast input (one that repeats every `period` elements) goes back
    to its start after every period."""

    def __init__(self, ctx: KernelContext, ins: list[int], broadcast: list[bool]):
        self.ctx, self.asm, self.ins, self.broadcast = ctx, ctx.asm, ins, broadcast
        self.direct = len(ins) <= len(POINTERS)
        if self.direct:
            for reg, off in zip(POINTERS, ins):
                ctx.arena_ptr(reg, off)
        else:
            ctx.arena_ptr(R_POS, 0)
            if any(broadcast):
                ctx.arena_ptr(R_BPOS, 0)

    def load(self, j: int, first: int, m: int) -> None:
        if self.direct:
            self.asm.vldm(POINTERS[j], S[first], m, wb=True)
        else:
            base = R_BPOS if self.broadcast[j] else R_POS
            add_const(self.asm, R_TMP, base, self.ins[j], scratch=r6)
            self.asm.vldm(R_TMP, S[first], m)

    def advance(self, m: int) -> None:
        if not self.direct:
            self.asm.add(R_POS, R_POS, 4 * m)
            if any(self.broadcast):
                self.asm.add(R_BPOS, R_BPOS, 4 * m)

    def rewind(self, period: int) -> None:
        regs = ([POINTERS[j] for j, b in enumerate(self.broadcast) if b] if self.direct
                else [R_BPOS] if any(self.broadcast) else [])
        for reg in regs:
            add_const(self.asm, reg, reg, -4 * period, scratch=r0)


@kernel(Merge)
def emit_merge(op: Merge, ctx: KernelContext, ins: list[int], out_off: int) -> str:
    asm = ctx.asm
    n, k = elems(op.out_shape), len(ins)
    sizes = [elems(s) for s in op.in_shapes]
    period = min(sizes)                     # broadcast inputs repeat every `period` elements
    if any(size not in (period, n) for size in sizes):
        raise CodegenError("broadcast inputs of different sizes", layer=op.name,
                           layer_class=op.layer_class)
    combine = COMBINE[op.mode]
    m = min(period, 15 if op.mode == "avg" else 16)
    if op.mode == "avg":
        ctx.weights_ptr(r0, ctx.blob.add_f32([1.0 / k]))
        asm.vldr(SCALE, r0, 0)
    src = _Operands(ctx, ins, [size != n for size in sizes])
    ctx.arena_ptr(R_OUT, out_off)
    free = [S[i] for i in range(TMP, SCALE.num if op.mode == "avg" else 32)]

    def chunk(c):
        acc = [S[ACC + i] for i in range(c)]
        tmp = [S[TMP + i] for i in range(c)]
        src.load(0, ACC, c)
        for j in range(1, k):
            src.load(j, TMP, c)
            for a, b in zip(acc, tmp):
                combine(asm, a, b)
        if op.mode == "avg":
            for a in acc:
                asm.vmul(a, a, SCALE)
        store_activated(asm, acc, R_OUT, op.activation, temps=STORE_TEMPS, sfree=free)
        src.advance(c)

    def block():
        full, tail = divmod(period, m)
        with counted_loop(asm, C_CHUNK, full):
            chunk(m)
        if tail:
            chunk(tail)

    blocks = n // period
    if blocks == 1:
        block()
    else:
        asm.mov_const(r0, blocks)
        ctx.spill(r0, SL_BLOCKS)
        top = asm.here()
        block()
        src.rewind(period)
        ctx.reload(r0, SL_BLOCKS)
        asm.subs(r0, r0, 1)
        ctx.spill(r0, SL_BLOCKS)
        asm.b(top, cond="ne")
    return (f"{op.mode} of {k}, chunks of {m}" + (f", {blocks} periods" if blocks > 1 else "")
            + ("" if src.direct else ", offsets"))
