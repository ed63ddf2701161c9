"""Softmax over the last axis, in place: per row a max scan, exp(x - max)
with the sum, one reciprocal, then multiplies (one VDIV per row instead of
one per element).

exp is the shared generator (transcendental.py) run as a lane program on
several elements at a time; x - max <= 0, so only its lower clamp is needed:
-inf inputs give exactly 0, results below 2^-125.5 are flushed to 0 (they
cannot change the sum), NaN propagates.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..graph.ops import Softmax, elems
from ..thumb.regs import S, r0, r4, r5, r6, r8, r9
from . import transcendental
from .context import KernelContext
from .elementwise import LANES, load_consts, plan_stream, stream
from .lanes import LaneProgram
from .loops import counted_loop
from .registry import kernel

R_SRC, R_DST, R_P, C_I, C_ROW = r4, r5, r8, r6, r9
GROUP = 4


def _exp_program(s_max):
    def build(streamed: bool) -> LaneProgram:
        p = LaneProgram(stream_polys=streamed)
        p.ret(transcendental.exp(p, p.sub(p.x, s_max), upper=False))
        return p
    return build


@dataclass(frozen=True)
class SoftmaxPlan:
    lanes: int                  # exp values per iteration


@kernel(Softmax)
def emit_softmax(op: Softmax, ctx: KernelContext, ins: list[int], out_off: int) -> SoftmaxPlan:
    """Rows are read from the input and written to the output; both may be
    the same buffer."""
    asm = ctx.asm
    c = op.out_shape[-1]
    rows = elems(op.out_shape) // c
    most = LANES[ctx.optimize]
    # where the two reserved registers land depends only on the program's shape
    s_max, s_sum = plan_stream(_exp_program(S[0]), c, reserved=2, most=most).reserved
    st = plan_stream(_exp_program(s_max), c, reserved=2, most=most)
    load_consts(ctx, st, r0)
    ctx.arena_ptr(R_SRC, ins[0])
    ctx.arena_ptr(R_DST, out_off)
    with counted_loop(asm, C_ROW, rows):
        _row_max(asm, c, s_max)
        asm.mov(R_P, R_DST)                                   # exp(x - max) and the sum
        asm.mov_imm(r0, 0)
        asm.vmov_from_core(s_sum, r0)

        def accumulate(regs):
            for reg in regs:
                asm.vadd(s_sum, s_sum, reg)
        stream(ctx, st, c, R_SRC, R_P, C_I, after=accumulate)
        asm.vmov_imm(S[0], 1.0)                                # one division per row
        asm.vdiv(s_sum, S[0], s_sum)
        _scale_row(asm, c, s_sum)
    return SoftmaxPlan(st.lanes)


def _row_max(asm, c: int, s_max) -> None:
    """s_max = max of the row at [R_SRC] (R_SRC unchanged); NaN-free rows only
    matter: a NaN row gives NaN through x - max either way."""
    asm.mov(R_P, R_SRC)
    asm.vldm(R_P, s_max, 1, wb=True)
    groups, tail = divmod(c - 1, GROUP)

    def step(k):
        asm.vldm(R_P, S[0], k, wb=True)
        for i in range(k):
            asm.vcmp(s_max, S[i])
            asm.vmrs_apsr()
            asm.it("mi")
            asm.vmov(s_max, S[i], cond="mi")
    if groups:
        with counted_loop(asm, C_I, groups):
            step(GROUP)
    if tail:
        step(tail)


def _scale_row(asm, c: int, s_scale) -> None:
    """[R_DST..] *= s_scale over one row; R_DST advances past it."""
    groups, tail = divmod(c, GROUP)

    def step(k):
        asm.vldm(R_DST, S[0], k)
        for i in range(k):
            asm.vmul(S[i], S[i], s_scale)
        asm.vstm(R_DST, S[0], k, wb=True)
    if groups:
        with counted_loop(asm, C_I, groups):
            step(GROUP)
    if tail:
        step(tail)
