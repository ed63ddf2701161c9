"""Standalone activations (when they could not be fused into a producer):
four values at a time through core registers."""
from __future__ import annotations

from ..graph.ops import Elementwise, elems
from ..thumb.regs import r0, r1, r2, r3, r4, r5, r6
from .registry import kernel
from .common import CORE_ACTIVATIONS, Ctx, counted_loop

R_SRC, R_DST, C_I = r4, r5, r6
GROUP = (r0, r1, r2, r3)


@kernel("activation")
def emit_elementwise(op: Elementwise, ctx: Ctx, ins: list[int], out_off: int) -> None:
    in_off = ins[0]
    asm = ctx.asm
    n = elems(op.out_shape)
    apply = CORE_ACTIVATIONS[op.activation.kind]
    ctx.arena_ptr(R_SRC, in_off)
    ctx.arena_ptr(R_DST, out_off)
    groups, tail = divmod(n, 4)

    def step(regs):
        asm.ldm(R_SRC, list(regs), wb=True)
        apply(asm, list(regs), op.activation)
        asm.stm(R_DST, list(regs), wb=True)
    if groups:
        with counted_loop(asm, C_I, groups):
            step(GROUP)
    if tail:
        step(GROUP[:tail])
