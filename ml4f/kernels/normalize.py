"""Row normalizations over the last axis, in place or not: LayerNorm and
UnitNorm.  Per row of C values, chunks of up to CHUNK values by VLDM:

  LayerNorm: mean = sum / C (one VDIV), then a second pass for the variance
             sum((x - mean)^2) / C -- two passes, so no cancellation of
             E[x^2] - mean^2 --, r = 1 / sqrt(variance + epsilon) (VSQRT,
             VDIV), then y = (x - mean) * r [* gamma] [+ beta];
  UnitNorm:  s = sum x^2, r = 1 / sqrt(max(s, floor)), y = x * r.

Sums run in ACCUMULATORS interleaved partial sums (no VADD waits for the one
before), added at the end of the row.  gamma and beta are float32 in flash,
in channel order, re-read per row.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..graph.ops import elems
from ..graph.ops.elementwise import LayerNorm, UnitNorm
from ..thumb.regs import S, r0, r1, r4, r5, r6, r7, r8, r9
from .context import KernelContext
from .loops import counted_loop
from .registry import kernel

CHUNK = 8
ACCUMULATORS = 2
R_SRC, R_DST, C_I, R_GAMMA, R_BETA, C_ROW, R_P = r4, r5, r6, r7, r8, r9, r0
X, GAMMA, BETA = 0, 8, 16                   # first S register of each bank
ACC = 24                                    # S24, S25: partial sums
S_MEAN, S_R, S_T = S[26], S[27], S[28]      # mean, 1 / norm, a temporary
CONSTS = 29                                 # S29..S31: C, epsilon or floor, 1.0


@dataclass(frozen=True)
class NormPlan:
    chunk: int                  # values per VLDM
    rows: int


def _over_row(asm, c: int, step) -> None:
    """step(k) for the chunks of one row: a counted loop, then the tail."""
    groups, tail = divmod(c, CHUNK)
    if groups:
        with counted_loop(asm, C_I, groups):
            step(CHUNK)
    if tail:
        step(tail)


def _accumulate(asm, values) -> None:
    for i, v in enumerate(values):
        acc = S[ACC + i % ACCUMULATORS]
        asm.vadd(acc, acc, v)


def _clear_accumulators(asm) -> None:
    asm.mov_imm(r1, 0)
    for i in range(ACCUMULATORS):
        asm.vmov_from_core(S[ACC + i], r1)


def _sum_accumulators(asm, dst) -> None:
    asm.vadd(dst, S[ACC], S[ACC + 1])


def _consts(ctx: KernelContext, c: int, second: float) -> None:
    off = ctx.blob.add_f32(np.array([c, second, 1.0], np.float32))
    ctx.weights_ptr(r7, off)
    ctx.asm.vldm(r7, S[CONSTS], 3)


def _sum_pass(asm, c: int, centred: bool) -> None:
    """Partial sums of x (or of (x - mean)^2, or x^2 if not centred and squared)
    over the row at [R_SRC] (R_SRC unchanged)."""
    asm.mov(R_P, R_SRC)

    def step(k):
        xs = [S[X + i] for i in range(k)]
        asm.vldm(R_P, xs[0], k, wb=True)
        if centred:
            for x in xs:
                asm.vsub(x, x, S_MEAN)
        for x in xs:
            asm.vmul(x, x, x)
        _accumulate(asm, xs)
    _over_row(asm, c, step)


@kernel(LayerNorm)
def emit_layer_norm(op: LayerNorm, ctx: KernelContext, ins: list[int], out_off: int) -> NormPlan:
    asm = ctx.asm
    c = op.out_shape[-1]
    rows = elems(op.out_shape) // c
    gamma_off = ctx.blob.add_f32(op.gamma) if op.gamma is not None else None
    beta_off = ctx.blob.add_f32(op.beta) if op.beta is not None else None
    _consts(ctx, c, float(np.float32(op.epsilon)))
    s_c, s_eps, s_one = S[CONSTS], S[CONSTS + 1], S[CONSTS + 2]
    ctx.arena_ptr(R_SRC, ins[0])
    ctx.arena_ptr(R_DST, out_off)
    with counted_loop(asm, C_ROW, rows):
        _clear_accumulators(asm)                            # the mean
        asm.mov(R_P, R_SRC)

        def mean_step(k):
            asm.vldm(R_P, S[X], k, wb=True)
            _accumulate(asm, [S[X + i] for i in range(k)])
        _over_row(asm, c, mean_step)
        _sum_accumulators(asm, S_T)
        asm.vdiv(S_MEAN, S_T, s_c)
        _clear_accumulators(asm)                            # the variance, about the mean
        _sum_pass(asm, c, centred=True)
        _sum_accumulators(asm, S_T)
        asm.vdiv(S_T, S_T, s_c)
        asm.vadd(S_T, S_T, s_eps)
        asm.vsqrt(S_T, S_T)
        asm.vdiv(S_R, s_one, S_T)
        if gamma_off is not None:
            ctx.weights_ptr(R_GAMMA, gamma_off)
        if beta_off is not None:
            ctx.weights_ptr(R_BETA, beta_off)

        def out_step(k):
            xs = [S[X + i] for i in range(k)]
            asm.vldm(R_SRC, xs[0], k, wb=True)
            if gamma_off is not None:
                asm.vldm(R_GAMMA, S[GAMMA], k, wb=True)
            if beta_off is not None:
                asm.vldm(R_BETA, S[BETA], k, wb=True)
            for x in xs:
                asm.vsub(x, x, S_MEAN)
            for x in xs:
                asm.vmul(x, x, S_R)
            if gamma_off is not None:
                for i, x in enumerate(xs):
                    asm.vmul(x, x, S[GAMMA + i])
            if beta_off is not None:
                for i, x in enumerate(xs):
                    asm.vadd(x, x, S[BETA + i])
            asm.vstm(R_DST, xs[0], k, wb=True)
        _over_row(asm, c, out_step)
    return NormPlan(min(c, CHUNK), rows)


@kernel(UnitNorm)
def emit_unit_norm(op: UnitNorm, ctx: KernelContext, ins: list[int], out_off: int) -> NormPlan:
    asm = ctx.asm
    c = op.out_shape[-1]
    rows = elems(op.out_shape) // c
    _consts(ctx, c, float(np.float32(op.floor)))
    s_floor, s_one = S[CONSTS + 1], S[CONSTS + 2]
    ctx.arena_ptr(R_SRC, ins[0])
    ctx.arena_ptr(R_DST, out_off)
    with counted_loop(asm, C_ROW, rows):
        _clear_accumulators(asm)
        _sum_pass(asm, c, centred=False)
        _sum_accumulators(asm, S_T)
        asm.vcmp(S_T, s_floor)                              # max(s, floor); NaN stays NaN
        asm.vmrs_apsr()
        asm.it("mi")
        asm.vmov(S_T, s_floor, cond="mi")
        asm.vsqrt(S_T, S_T)
        asm.vdiv(S_R, s_one, S_T)

        def out_step(k):
            xs = [S[X + i] for i in range(k)]
            asm.vldm(R_SRC, xs[0], k, wb=True)
            for x in xs:
                asm.vmul(x, x, S_R)
            asm.vstm(R_DST, xs[0], k, wb=True)
        _over_row(asm, c, out_step)
    return NormPlan(min(c, CHUNK), rows)
