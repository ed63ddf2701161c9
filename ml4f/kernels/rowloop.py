"""The outer loops shared by the convolution kernels: output rows, then slices
of output channels (conv blocks, depthwise groups).

A per-row table in the weight blob gives each output row its first valid input
row (padding rows are skipped, never copied), the number of valid kernel rows,
and the weight offset of the first valid kernel row for a full slice and for
the last, narrower one.  The loop keeps its state in the frame's spill slots
so that the slice bodies have every register.

Inside a streamed region (ml4f/streaming.py) the same loop is a subroutine
that runs a range of rows: r0 = the first row's byte offset in the table, r1
= the rows; the table then also gives each row's output offset (rings do not
advance linearly), the bytes to the slot repeated after a ring (the row is
copied there; 0: none) and the distance from the output to a fused merge
operand.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..errors import CodegenError
from ..thumb.regs import lr, r0, r1, r2, r3, r4, r5, r6
from .context import KernelContext
from .conv_geometry import Geometry
from .immediates import add_const
from .loops import copy_floats

# spill slots of the frame (see context.FRAME_SPILL)
SL_TABLE, SL_ROWS, SL_OUTROW, SL_SLICES, SL_NKY, SL_WSKIP, SL_WSKIP_REST, SL_ROWIN, SL_OUTSLICE = range(9)
# and in a streamed region
SL_RETURN, SL_MIRROR, SL_RESIDUAL, SL_ROWKIND = 10, 11, 12, 13
STREAM_SLOTS = 14              # spill slots a streamed region needs (the frame stays 8-byte aligned)
COPY_CHUNK = 8                 # S registers per VLDM/VSTM of the ring copy


@dataclass(frozen=True)
class RowPlacement:
    """Where the rows of an op running inside a streamed region live."""

    in_row: Callable[[int], int]              # input row -> byte offset in the input's storage
    out_row: Callable[[int], int]             # output row -> byte offset in the output's storage
    mirror: Callable[[int], int]              # output row -> bytes to its repeated slot (0: none)
    residual: Callable[[int], int] | None     # output row -> operand address - output address

    WORDS = 7                                 # table words per row


def residual_delta_loader(ctx: KernelContext):
    """For combine_residual: the current row's operand distance, from its slot."""
    return lambda reg: ctx.reload(reg, SL_RESIDUAL)


def row_table(g: Geometry, op, ky_bytes_full: int, ky_bytes_rest: int,
              reverse: bool = False, placement: RowPlacement | None = None) -> list[int]:
    """Words per output row, in the order the rows run (bottom to top if
    `reverse`): input offset (bytes, at the first valid kernel row, column
    -pad_left), valid kernel rows, weight skip for a full and the last slice;
    in a streamed region (`placement`) also the output offset, the bytes to
    the row's repeated slot and the distance to the fused merge operand."""
    def refuse(what):
        return CodegenError(f"an output {what} sees no input {what}", layer=op.name,
                            layer_class=op.layer_class)
    rows = []
    for oy, (ky0, ky1) in enumerate(g.row_ranges()):
        if ky1 <= ky0:
            raise refuse("row")
        iy = oy * g.sh - g.pt + ky0 * g.dh
        in_row = placement.in_row(iy) if placement else 4 * iy * g.W * g.cin
        row = [in_row - 4 * g.pl * g.cin, ky1 - ky0, ky0 * ky_bytes_full, ky0 * ky_bytes_rest]
        if placement:
            row += [placement.out_row(oy), placement.mirror(oy),
                    placement.residual(oy) if placement.residual else 0]
        rows.append(row)
    if any(k1 <= k0 for k0, k1 in (g.kx_range(ox) for ox in g.border_columns())):
        raise refuse("column")
    return [w for row in (rows[::-1] if reverse else rows) for w in row]


def emit_row_loop(ctx: KernelContext, g: Geometry, *, table_off: int, in_off: int, out_off: int,
                  w_off: int, wreg, width: int, total: int, body, reverse: bool = False,
                  streamed: bool = False, out_row_bytes: int | None = None,
                  rows: int | None = None, out_in_table: bool = False,
                  slice_steps: tuple = ()) -> None:
    """For every output row (top to bottom, or bottom to top if `reverse`: the
    table is in that order), for every slice of `width` of `total` output
    channels (and a last narrower one): body(slice_width, wskip_slot).  At each
    body call, SL_ROWIN holds the input row pointer, SL_OUTSLICE the output
    pointer of the slice, SL_NKY the kernel rows, and `wreg` the slice's
    weights (the body advances it to the next slice).  `out_row_bytes`: from
    one output row to the next, if the rows are not packed.  `rows`: table
    entries, if not one per output row; `out_in_table`: each entry has a fifth
    word, its output offset (entries that make several rows, see
    depthwise.py), instead of the rows following each other.  `slice_steps`:
    per-slice slots ((slot, bytes), SL_OUTSLICE's included) the loop advances
    after each body, with the slice count (see step_slots)."""
    asm = ctx.asm
    row_bytes = 4 * g.OW * g.cout if out_row_bytes is None else out_row_bytes
    if streamed:                       # a subroutine: r0 = table offset of the first row, r1 = rows
        enter_subroutine(ctx, table_off)
        ctx.spill(r1, SL_ROWS)
    else:
        ctx.weights_ptr(r0, table_off)
        ctx.spill(r0, SL_TABLE)
        if not out_in_table:
            ctx.arena_ptr(r0, out_off + ((g.OH - 1) * row_bytes if reverse else 0))
            ctx.spill(r0, SL_OUTROW)
        asm.mov_const(r0, g.OH if rows is None else rows)
        ctx.spill(r0, SL_ROWS)
    row_top = asm.here()
    ctx.reload(r4, SL_TABLE)
    asm.ldm(r4, [r0, r1, r2, r3] + ([r5] if out_in_table else []), wb=True)
    if out_in_table:
        ctx.arena_ptr(r6, out_off)
        asm.add(r5, r5, r6)
        ctx.spill(r5, SL_OUTROW)
    if streamed:
        asm.ldm(r4, [r5, r6, lr], wb=True)      # output offset, repeated slot, operand distance
        ctx.spill(r6, SL_MIRROR)
        ctx.spill(lr, SL_RESIDUAL)
        ctx.arena_ptr(r6, out_off)
        asm.add(r5, r5, r6)
        ctx.spill(r5, SL_OUTROW)
    ctx.spill(r4, SL_TABLE)
    ctx.arena_ptr(r4, in_off)
    asm.add(r0, r0, r4)
    ctx.spill(r0, SL_ROWIN)
    ctx.spill(r1, SL_NKY)
    ctx.spill(r2, SL_WSKIP)
    ctx.spill(r3, SL_WSKIP_REST)
    ctx.reload(r0, SL_OUTROW)
    ctx.spill(r0, SL_OUTSLICE)
    ctx.weights_ptr(wreg, w_off)
    full, rest = divmod(total, width)
    if full > 1:
        asm.mov_const(r0, full)
        ctx.spill(r0, SL_SLICES)
        top = asm.here()
        body(width, SL_WSKIP)
        step_slots(ctx, slice_steps, SL_SLICES, top)
    elif full == 1:
        body(width, SL_WSKIP)
        step_slots(ctx, slice_steps if rest else ())
    if rest:
        body(rest, SL_WSKIP_REST)     # the last slice: its pointers are not needed after it
    if streamed:
        copy_to_repeated_slot(ctx, row_bytes)
    elif not out_in_table:
        ctx.reload(r0, SL_OUTROW)
        add_const(asm, r0, r0, -row_bytes if reverse else row_bytes, scratch=r1)
        ctx.spill(r0, SL_OUTROW)
    count_down(ctx, SL_ROWS, row_top)
    if streamed:
        leave_subroutine(ctx)


def enter_subroutine(ctx: KernelContext, table_off: int, table_slot: int = SL_TABLE) -> None:
    """A streamed region's subroutine entry (r0 = table offset of its first row, r1 =
    rows): the return address to SL_RETURN, the first row's table entry to
    `table_slot`; r1 is left for the caller."""
    ctx.spill(lr, SL_RETURN)
    ctx.weights_ptr(r2, table_off)
    ctx.asm.add(r2, r2, r0)
    ctx.spill(r2, table_slot)


def leave_subroutine(ctx: KernelContext) -> None:
    ctx.reload(lr, SL_RETURN)
    ctx.asm.bx(lr)


def count_down(ctx: KernelContext, slot: int, top) -> None:
    """The counter spilled in `slot` decremented; back to `top` while not zero."""
    step_slots(ctx, (), slot, top)


def copy_to_repeated_slot(ctx: KernelContext, row_bytes: int, mirror=None, out=None) -> None:
    """The row just made, copied to its ring slot's repeat (if the table says so).
    `mirror(reg)`, `out(reg)`: load the bytes to the repeat and the row's address
    (by default from SL_MIRROR and SL_OUTROW)."""
    asm = ctx.asm
    (mirror or (lambda reg: ctx.reload(reg, SL_MIRROR)))(r1)
    done = asm.label()
    asm.cbz(r1, done)
    (out or (lambda reg: ctx.reload(reg, SL_OUTROW)))(r0)
    asm.add(r1, r1, r0)
    copy_floats(asm, r0, r1, row_bytes // 4, r2, COPY_CHUNK)
    asm.bind(done)


STEP_REGS = (r0, r1, r2)         # free at the end of every slice body (scratch: r3)


def step_slots(ctx: KernelContext, steps, counter: int | None = None, top=None) -> None:
    """The spilled per-slice slots advanced ((slot, bytes) each) and, with `counter`,
    that slot counted down, back to `top` while not zero: every slot loaded first,
    into its own register (the loads pipeline and no add waits for its load), the
    counter's SUBS last (the flags the branch reads)."""
    asm = ctx.asm
    slots = list(steps) + ([(counter, -1)] if counter is not None else [])
    if len(slots) > len(STEP_REGS):
        raise ValueError(f"{len(slots)} slots stepped at once, at most {len(STEP_REGS)}")
    regs = STEP_REGS[:len(slots)]
    for (slot, _), reg in zip(slots, regs):
        ctx.reload(reg, slot)
    for (slot, step), reg in zip(slots, regs):
        if slot != counter:
            add_const(asm, reg, reg, step, scratch=r3)
    if counter is not None:
        asm.subs(regs[-1], regs[-1], 1)
    for (slot, _), reg in zip(slots, regs):
        ctx.spill(reg, slot)
    if counter is not None:
        asm.b(top, cond="ne")


def row_subroutine(ctx: KernelContext, rows: list[tuple[int, ...]], *, table_reg,
                   src, src_off: int, dst, dst_off: int, row_bytes: int, body) -> None:
    """A streamed region's subroutine for an op whose rows need no per-row
    weights (pooling, activations, padding): rows [r0 / table row bytes, + r1)
    of a table of (input row offset, output row offset, bytes to the repeated
    slot[, a word the body reloads from SL_ROWKIND]); per row `src` and `dst`
    point at the rows, body() makes the row, the row is copied to its repeated
    slot.  `table_reg` must survive nothing: it is reloaded per row."""
    asm = ctx.asm
    words = max(map(len, rows))
    pad = [0] * (RowPlacement.WORDS - words)
    table_off = ctx.blob.add_words([w for row in rows for w in (*row, *[0] * (words - len(row)), *pad)])
    enter_subroutine(ctx, table_off)
    ctx.spill(r1, SL_ROWS)
    row_top = asm.here()
    ctx.reload(table_reg, SL_TABLE)
    asm.ldm(table_reg, [r0, r1, r2, r3][:words], wb=True)
    if words > 3:
        ctx.spill(r3, SL_ROWKIND)
    add_const(asm, table_reg, table_reg, 4 * len(pad), scratch=r3)
    ctx.spill(table_reg, SL_TABLE)
    ctx.spill(r2, SL_MIRROR)
    ctx.arena_ptr(src, src_off)
    asm.add(src, src, r0)
    ctx.arena_ptr(dst, dst_off)
    asm.add(dst, dst, r1)
    ctx.spill(dst, SL_OUTROW)
    body()
    copy_to_repeated_slot(ctx, row_bytes)
    count_down(ctx, SL_ROWS, row_top)
    leave_subroutine(ctx)
