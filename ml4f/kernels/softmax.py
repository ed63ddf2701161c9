"""Softmax, in place or not.  Over the last axis: per row a max scan,
exp(x - max) with the sum, one reciprocal, then multiplies (one VDIV per row
instead of one per element).

Over another axis (the tensor as `outer` blocks of n rows of `inner`
values, the softmax down each column): the columns are vectorised, up to
COLUMNS at a time, their maxima, sums and reciprocals in registers, the rows
read at a stride of one row -- per block: max down the columns and x - max
written to the output, exp over the whole block as one contiguous stream
(the same lane program), then sums, reciprocals and multiplies down the
columns.  No transposed copy, no scratch.

exp is the shared generator (transcendental.py) run as a lane program on
several elements at a time; x - max <= 0, so only its lower clamp is needed:
-inf inputs give exactly 0, results below 2^-125.5 are flushed to 0 (they
cannot change the sum), NaN propagates.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..graph.ops import Softmax
from ..thumb.regs import S, r0, r1, r2, r3, r4, r5, r6, r7, r8, r9, r12
from . import transcendental
from .context import KernelContext
from .immediates import add_const
from .elementwise import LANES, load_consts, plan_stream, stream
from .lanes import LaneProgram
from .loops import counted_loop
from .registry import kernel

R_SRC, R_DST, R_P, C_I, C_ROW = r4, r5, r8, r6, r9
R_Q, R_COL, R_OUT, C_DOWN = r7, r2, r1, r3          # the strided form's pointers and row counter
GROUP = 4
COLUMNS = 8                                         # columns of a strided softmax at once
COL, VAL = 8, 0                                     # first S register: per-column values, a row's values


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
    rows, c, inner = op.split()
    if inner > 1:
        return _emit_strided(op, ctx, ins, out_off)
    asm = ctx.asm                    # the axis is the last, or only 1-long axes follow it
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


def _emit_strided(op: Softmax, ctx: KernelContext, ins: list[int], out_off: int) -> SoftmaxPlan:
    asm = ctx.asm
    outer, n, inner = op.split()
    row, block = 4 * inner, 4 * n * inner
    most = LANES[ctx.optimize]
    s_zero = plan_stream(_exp_program(S[0]), n * inner, reserved=1, most=most).reserved[0]
    st = plan_stream(_exp_program(s_zero), n * inner, reserved=1, most=most)
    ctx.arena_ptr(R_SRC, ins[0])
    ctx.arena_ptr(R_DST, out_off)

    def down(count, step):
        """step() for `count` rows, R_P (and R_Q) a row further each time."""
        if count:
            with counted_loop(asm, C_DOWN, count):
                step()

    def columns(fn):
        groups, tail = divmod(inner, COLUMNS)
        if groups:
            with counted_loop(asm, C_I, groups):
                fn(COLUMNS)
        if tail:
            fn(tail)

    def reduce_down(k, combine):
        """The n rows of k columns from R_COL reduced into S[COL..]: combine(m, v)
        per value of each further row.  Returns (value registers, column registers)."""
        vals, cols = [S[VAL + i] for i in range(k)], [S[COL + i] for i in range(k)]
        asm.mov(R_P, R_COL)
        asm.vldm(R_P, cols[0], k)

        def step():
            add_const(asm, R_P, R_P, row, scratch=r12)
            asm.vldm(R_P, vals[0], k)
            for m, v in zip(cols, vals):
                combine(m, v)
        down(n - 1, step)
        return vals, cols

    def larger(m, v):
        asm.vcmp(m, v)
        asm.vmrs_apsr()
        asm.it("mi")
        asm.vmov(m, v, cond="mi")

    def max_and_shift(k):
        vals, cols = reduce_down(k, larger)
        asm.mov(R_P, R_COL)
        asm.mov(R_Q, R_OUT)

        def shift():
            asm.vldm(R_P, vals[0], k)
            for m, v in zip(cols, vals):
                asm.vsub(v, v, m)
            asm.vstm(R_Q, vals[0], k)
            add_const(asm, R_P, R_P, row, scratch=r12)
            add_const(asm, R_Q, R_Q, row, scratch=r12)
        down(n, shift)
        add_const(asm, R_COL, R_COL, 4 * k, scratch=r12)
        add_const(asm, R_OUT, R_OUT, 4 * k, scratch=r12)

    def normalise(k):
        vals, cols = reduce_down(k, lambda m, v: asm.vadd(m, m, v))
        one = S[COL + COLUMNS]
        asm.vmov_imm(one, 1.0)
        for m in cols:
            asm.vdiv(m, one, m)
        asm.mov(R_P, R_COL)

        def scale():
            asm.vldm(R_P, vals[0], k)
            for m, v in zip(cols, vals):
                asm.vmul(v, v, m)
            asm.vstm(R_P, vals[0], k)
            add_const(asm, R_P, R_P, row, scratch=r12)
        down(n, scale)
        add_const(asm, R_COL, R_COL, 4 * k, scratch=r12)

    with counted_loop(asm, C_ROW, outer):
        asm.mov(R_COL, R_SRC)
        asm.mov(R_OUT, R_DST)
        columns(max_and_shift)
        load_consts(ctx, st, r0)                             # exp(x - max) over the block
        asm.mov_imm(r0, 0)
        asm.vmov_from_core(s_zero, r0)
        asm.mov(R_P, R_DST)
        asm.mov(R_Q, R_DST)
        stream(ctx, st, n * inner, R_P, R_Q, C_I)
        asm.mov(R_COL, R_DST)
        columns(normalise)
        add_const(asm, R_SRC, R_SRC, block, scratch=r12)
        add_const(asm, R_DST, R_DST, block, scratch=r12)
    return SoftmaxPlan(st.lanes)
