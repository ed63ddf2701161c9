"""Softmax over the last axis, in place: max scan, exp(x - max) and sum, one
reciprocal, then multiplies (one VDIV per row instead of one per element).

exp is computed in the generated code: x*log2(e) = n + f with n an integer,
r = x - n*ln2 (ln2 split in two so n*ln2_hi is exact), e^r by a degree-7
polynomial (Horner), and 2^n added to the float's exponent as an integer.
Relative error below 2e-7 over the range softmax sees (x <= 0); results below
2^-125 (x < -86.6) are flushed to 0.
"""
from __future__ import annotations

import math

from ..graph.ops import Softmax, elems
from ..thumb.regs import S, r0, r1, r4, r5, r6, r8, r9
from .registry import kernel
from .common import Ctx, counted_loop

LN2_HI = 0.693145751953125            # 16 significant bits: n*LN2_HI is exact for |n| < 256
LN2_LO = math.log(2.0) - LN2_HI
EXP_POLY = [1.0 / math.factorial(k) for k in range(7, -1, -1)]   # c7 .. c0 for Horner
# constant table order in the blob
CONSTANTS = [1.0 / math.log(2.0), 0.5, LN2_HI, LN2_LO] + EXP_POLY

R_SRC, R_DST, R_P, C_ROW, C_I = r4, r5, r6, r8, r9
S_LOG2E, S_HALF, S_LN2HI, S_LN2LO = S[16], S[17], S[18], S[19]
S_POLY = [S[20 + i] for i in range(len(EXP_POLY))]                 # s20..s27
S_MAX, S_SUM, S_X, S_T, S_N = S[0], S[1], S[2], S[3], S[4]


def emit_exp(asm, x, t, n_f, r_n, r_bits) -> None:
    """x := exp(x) for x <= 0, using S temporaries t, n_f and core r_n, r_bits."""
    asm.vmul(t, x, S_LOG2E)
    asm.vsub(t, t, S_HALF)
    asm.vcvt_s32_f32(n_f, t)                 # toward zero: n = round(x*log2e), n <= 0
    asm.vmov_to_core(r_n, n_f)
    asm.vcvt_f32_s32(n_f, n_f)
    asm.vmul(t, n_f, S_LN2HI)
    asm.vsub(x, x, t)
    asm.vmul(t, n_f, S_LN2LO)
    asm.vsub(x, x, t)                        # r in [-ln2/2, ln2/2]
    asm.vmov(t, S_POLY[0])
    for c in S_POLY[1:]:
        asm.vmul(t, t, x)
        asm.vadd(t, t, c)
    asm.vmov_to_core(r_bits, t)
    asm.add(r_bits, r_bits, r_n, shift=("lsl", 23))
    asm.cmn(r_n, 125)                        # n < -125: the result is below 2^-125
    asm.it("lt")
    asm.mov_imm(r_bits, 0, cond="lt")
    asm.vmov_from_core(x, r_bits)


@kernel("softmax")
def emit_softmax(op: Softmax, ctx: Ctx, ins: list[int], out_off: int) -> None:
    """Rows are read from the input and written to the output; both may be
    the same buffer."""
    in_off = ins[0]
    asm = ctx.asm
    c = op.out_shape[-1]
    rows = elems(op.out_shape) // c
    ctx.weights_ptr(r0, ctx.blob.add_f32(CONSTANTS))
    asm.vldm(r0, S_LOG2E, len(CONSTANTS))
    ctx.arena_ptr(R_SRC, in_off)
    ctx.arena_ptr(R_DST, out_off)
    with counted_loop(asm, C_ROW, rows):
        asm.mov(R_P, R_SRC)                                   # max
        asm.vldm(R_P, S_MAX, 1, wb=True)
        if c > 1:
            with counted_loop(asm, C_I, c - 1):
                asm.vldm(R_P, S_X, 1, wb=True)
                asm.vcmp(S_MAX, S_X)
                asm.vmrs_apsr()
                asm.it("mi")
                asm.vmov(S_MAX, S_X, cond="mi")
        asm.mov(R_P, R_DST)                                   # exp(x - max) and the sum
        asm.mov_imm(r0, 0)
        asm.vmov_from_core(S_SUM, r0)
        with counted_loop(asm, C_I, c):
            asm.vldm(R_SRC, S_X, 1, wb=True)
            asm.vsub(S_X, S_X, S_MAX)
            emit_exp(asm, S_X, S_T, S_N, r0, r1)
            asm.vadd(S_SUM, S_SUM, S_X)
            asm.vstm(R_P, S_X, 1, wb=True)
        asm.vmov_imm(S_T, 1.0)                                # one division per row
        asm.vdiv(S_SUM, S_T, S_SUM)
        with counted_loop(asm, C_I, c):
            asm.vldm(R_DST, S_X, 1)
            asm.vmul(S_X, S_X, S_SUM)
            asm.vstm(R_DST, S_X, 1, wb=True)
