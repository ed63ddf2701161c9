"""An op run frame by frame (TimeDistributed): a loop over the frames that copies
frame t into the op's scratch, runs the inner op's kernel there (emitted once, on
fixed arena offsets) and copies its result out to frame t of the output.  The copies
cost about 2 cycles per value against the inner op's work per value."""
from __future__ import annotations

from ..errors import CodegenError
from ..graph.ops import elems
from ..graph.ops.frames import Frames
from ..thumb.regs import r0, r1, r2
from .context import SPILL_SLOTS, KernelContext
from .loops import copy_floats
from .registry import kernel, kernel_for

SLOT_FRAMES, SLOT_IN, SLOT_OUT = SPILL_SLOTS, SPILL_SLOTS + 1, SPILL_SLOTS + 2
COPY_CHUNK = 16                  # values per VLDM / VSTM of a copy


@kernel(Frames, spill_slots=SPILL_SLOTS + 3)
def emit_frames(op: Frames, ctx: KernelContext, ins: list[int], out_off: int):
    inner, asm = op.inner, ctx.asm
    if inner.scratch_bytes():
        raise CodegenError("an op with its own scratch cannot run frame by frame",
                           layer=op.name, layer_class=op.layer_class)
    n_in, n_out = elems(inner.in_shape), elems(inner.out_shape)
    s_in = ctx.scratch[op.output]
    s_out = s_in + 4 * n_in
    ctx.arena_ptr(r0, ins[0])
    ctx.spill(r0, SLOT_IN)
    ctx.arena_ptr(r0, out_off)
    ctx.spill(r0, SLOT_OUT)
    asm.mov_const(r0, op.frames)
    ctx.spill(r0, SLOT_FRAMES)
    top = asm.here()
    ctx.reload(r0, SLOT_IN)
    ctx.arena_ptr(r1, s_in)
    copy_floats(asm, r0, r1, n_in, r2, COPY_CHUNK)
    ctx.spill(r0, SLOT_IN)
    plan = kernel_for(inner)(inner, ctx, [s_in], s_out)
    ctx.arena_ptr(r0, s_out)
    ctx.reload(r1, SLOT_OUT)
    copy_floats(asm, r0, r1, n_out, r2, COPY_CHUNK)
    ctx.spill(r1, SLOT_OUT)
    ctx.reload(r0, SLOT_FRAMES)
    asm.subs(r0, r0, 1)
    ctx.spill(r0, SLOT_FRAMES)
    asm.b(top, cond="ne")
    return plan
