"""PReLU, in place or not: y = x where x >= 0, else alpha * x.

alpha repeats every `period` elements; the tensor is processed period by
period, each in chunks of up to CHUNK elements: one VLDM of the inputs, one of
their alphas (laid out in flash in element order), the products first (no
instruction waits for the one before), then per element VCMP with zero, VMRS
and a conditional VMOV of the product ("mi": x < 0; a NaN compares unordered,
is not "mi", and stays NaN), and one VSTM.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..graph.ops import elems
from ..graph.ops.elementwise import PReLU
from ..thumb.regs import S, r4, r5, r6, r7, r8
from .context import KernelContext
from .loops import counted_loop
from .registry import kernel

CHUNK = 8
R_SRC, R_DST, R_ALPHA, C_PERIOD, C_CHUNK = r4, r5, r6, r7, r8
X, ALPHA, PRODUCT = 0, 8, 16          # first S register of each bank


@dataclass(frozen=True)
class PReLUPlan:
    chunk: int                  # elements per chunk
    periods: int                # repetitions of alpha


@kernel(PReLU)
def emit_prelu(op: PReLU, ctx: KernelContext, ins: list[int], out_off: int) -> PReLUPlan:
    asm = ctx.asm
    period, n = op.period, elems(op.out_shape)
    m = min(period, CHUNK)
    alpha_off = ctx.blob.add_f32(op.alpha.ravel())
    ctx.arena_ptr(R_SRC, ins[0])
    ctx.arena_ptr(R_DST, out_off)

    def chunk(k: int) -> None:
        xs = [S[X + i] for i in range(k)]
        asm.vldm(R_SRC, S[X], k, wb=True)
        asm.vldm(R_ALPHA, S[ALPHA], k, wb=True)
        for i, x in enumerate(xs):
            asm.vmul(S[PRODUCT + i], x, S[ALPHA + i])
        for i, x in enumerate(xs):
            asm.vcmp(x, 0.0)
            asm.vmrs_apsr()
            asm.it("mi")
            asm.vmov(x, S[PRODUCT + i], cond="mi")
        asm.vstm(R_DST, S[X], k, wb=True)

    with counted_loop(asm, C_PERIOD, n // period):
        ctx.weights_ptr(R_ALPHA, alpha_off)
        full, tail = divmod(period, m)
        with counted_loop(asm, C_CHUNK, full):
            chunk(m)
        if tail:
            chunk(tail)
    return PReLUPlan(m, n // period)
