"""A streamed region: a driver that calls each op's rows in the order of the
region's row schedule (ml4f/streaming.py), and each op as a subroutine
running a range of rows (rowloop.py), its rows placed in the ring buffers of
the region's scratch or in the whole tensors around it.

    driver:   MOV r0, #first row * table row bytes; MOV r1, #rows; BL op_k   (per step)
              B end
    op_k:     the op's kernel over rows [r0, r0 + r1), returning through BX LR
    end:
"""
from __future__ import annotations

from dataclasses import dataclass

from ..graph.ops import Conv2D, DepthwiseConv2D, Elementwise, Pool2D
from ..graph.ops.conv import WinogradConv2D
from ..graph.ops.shape import Pad
from ..graph.ops.stream import OUTPUT, Stream, local_input
from ..streaming import rows_of
from ..thumb.regs import r0, r1
from .context import KernelContext
from .conv import emit_conv2d_rows
from .copy import emit_pad_rows
from .depthwise import emit_depthwise_rows
from .elementwise import emit_elementwise_rows
from .pool import emit_pool2d_rows
from .registry import kernel
from .rowloop import STREAM_SLOTS, RowPlacement
from .winograd import emit_winograd_rows

ROWS_OF = {Conv2D: emit_conv2d_rows, WinogradConv2D: emit_winograd_rows,
           DepthwiseConv2D: emit_depthwise_rows, Pool2D: emit_pool2d_rows,
           Elementwise: emit_elementwise_rows, Pad: emit_pad_rows}


@dataclass(frozen=True)
class StreamPlan:
    steps: int                  # subroutine calls of the driver
    rings: str                  # per inner tensor: rows in rotation + repeated rows
    scratch_bytes: int
    ops: tuple                  # the inner ops' plans


def _placement(op, sched, base) -> RowPlacement:
    t_in, t_out = op.inputs[0], op.output
    _, rx = rows_of(op.in_shapes[0])
    _, ry = rows_of(op.out_shape)
    ring = sched.rings.get(t_out)

    def residual(y: int) -> int:
        t = op.inputs[1]
        return (base[t] + sched.row_offset(t, y, ry)) - (base[t_out] + sched.row_offset(t_out, y, ry))
    return RowPlacement(
        in_row=lambda r: sched.row_offset(t_in, r, rx),
        out_row=lambda y: sched.row_offset(t_out, y, ry),
        mirror=lambda y: ring.rows * ry if ring is not None and ring.mirrored(y) else 0,
        residual=residual if getattr(op, "residual", "") else None)


@kernel(Stream, spill_slots=STREAM_SLOTS)
def emit_stream(op: Stream, ctx: KernelContext, ins: list[int], out_off: int) -> StreamPlan:
    asm = ctx.asm
    sched = op.schedule
    base = {local_input(k): off for k, off in enumerate(ins)}
    base[OUTPUT] = out_off
    scratch = ctx.scratch.get(op.output, 0)
    for t, ring in sched.rings.items():
        base[t] = scratch + ring.offset
    labels = [asm.label() for _ in op.ops]
    table_row = 4 * RowPlacement.WORDS
    for k, first, rows in sched.steps:
        asm.mov_const(r0, first * table_row)
        asm.mov_const(r1, rows)
        asm.bl(labels[k])
    end = asm.label()
    asm.b(end)
    plans = []
    for inner, label in zip(op.ops, labels):
        asm.bind(label)
        if inner.scratch_bytes():
            ctx.scratch[inner.output] = scratch + sched.scratch_bytes
        plans.append(ROWS_OF[type(inner)](inner, ctx, [base[t] for t in inner.inputs],
                                          base[inner.output], _placement(inner, sched, base)))
    asm.bind(end)
    ctx.parts = list(zip(labels, labels[1:] + [end]))     # each inner op's code, for the profile
    rings = ", ".join(f"{t} {r.rows}+{r.mirror} rows" for t, r in sched.rings.items())
    return StreamPlan(len(sched.steps), rings, sched.scratch_bytes, tuple(plans))
