"""Convolutions (2-D, and 1-D as H = 1): register-tiled direct convolution.

A tile is `a` consecutive output pixels of one row x `b` consecutive output
channels; its a*b sums stay in S registers for the whole reduction, so every
loaded input feeds b MACs and every loaded weight feeds a MACs.  Bias, the
activation and the store happen once per tile, from registers.

Two ways to feed inputs, chosen per layer by the cost model:
  * chunks: every pixel has a pointer and loads m channels at a time (VLDM);
  * rows:   for each input row of the window and each chunk of m channels,
            the union of the tile's windows is loaded once and shared by all
            kx taps (neighbouring windows overlap when the stride is small).
Weights are loaded m*b at a time, or one input channel (b values) at a time
("weight rows"), which needs fewer registers and so allows larger tiles.

Weights are laid out in flash in exactly the order a tile reads them, per
block of b output channels: [bias b x f32] then per ky:
  chunks: [kx][c][j]                 rows: [chunk][kx][c in chunk][j]
(with float16, every unit loaded by one VLDM starts on a word).  Padding is
never copied: a per-row table gives each output row its first valid input row,
its ky count and weight offset, and output columns whose window leaves the
input form their own runs with a clipped kx range (see conv_geometry.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..graph.ops import Conv2D
from ..thumb.regs import S, lr, r0, r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, r11, r12
from .context import KernelContext
from .conv_geometry import Geometry, window_columns
from .conv_layout import (
    block_weights,
    chunk_bytes,
    chunk_sizes,
    group_bytes,
    ky_bytes,
    merged,
)
from .conv_plan import MAX_TILE_PIXELS, ConvPlan, bias_shared, choose_plan, kx_unrolled, tile_groups
from .immediates import add_const
from .loads import load_columns
from .loops import chunked, counted_loop
from .mac import emit_macs, load_weights
from . import pixel_stream as ps
from .pointwise import emit_passes, flat_output
from .registry import kernel
from .rowloop import (SL_NKY, SL_OUTSLICE, SL_ROWIN, emit_row_loop, residual_delta_loader,
                      row_table)
from .store import combine_residual, store_activated

PIXEL_PTRS = (r0, r1, r2, r3, r4, r5)
R_W, R_TILE, R_O, R_WBLK, C_TILE, C_KY, C_CHUNK, C_KX = r6, r7, r8, r9, r10, r11, r12, lr
assert len(PIXEL_PTRS) == MAX_TILE_PIXELS


# ------------------------------------------------------------------ emission
@dataclass(frozen=True)
class OutputStrides:
    """Bytes from one output pixel to the next and from one output row to the
    next: a dense tensor, or every s-th pixel of every s-th row of a larger one
    (the phases of a transposed convolution)."""

    pixel_bytes: int
    row_bytes: int

    @staticmethod
    def dense(g: Geometry) -> "OutputStrides":
        return OutputStrides(4 * g.cout, 4 * g.OW * g.cout)


class _Emitter:
    def __init__(self, op: Conv2D, ctx: KernelContext, plan: ConvPlan, ins: list[int], out_off: int,
                 out_strides: OutputStrides | None = None):
        self.op, self.ctx, self.asm, self.plan = op, ctx, ctx.asm, plan
        self.g = Geometry.of(op)
        self.out = out_strides or OutputStrides.dense(self.g)
        self.f16 = ctx.float16
        self.in_off, self.out_off = ins[0], out_off
        self.residual_delta = ins[1] - out_off if op.residual else 0   # fused merge operand
        self.reverse = op.output in ctx.reversed      # rows bottom to top (see plan.py)
        self.streamed = False
        self.bias_pending = False     # the tile's first products start the sums from the bias

    def layout(self, placement=None) -> None:
        g, ctx, plan = self.g, self.ctx, self.plan
        kernel = self.op.kernel.reshape(g.KH, g.KW, g.cin, g.cout)
        bias = self.op.bias if self.op.bias is not None else np.zeros(g.cout, np.float32)
        self.block_bytes = {}
        first = None
        for j0 in range(0, g.cout, plan.b):
            bb = min(plan.b, g.cout - j0)
            off = ctx.blob.add_f32(bias[j0:j0 + bb])
            ctx.blob.add_weights(block_weights(kernel[..., j0:j0 + bb], plan, self.f16),
                                 layer=self.op.name, layer_class=self.op.layer_class)
            first = off if first is None else first
            self.block_bytes[bb] = 4 * bb + g.KH * ky_bytes(g, plan, bb, self.f16)
        self.w_off = first
        rest = g.cout % plan.b
        self.table_off = ctx.blob.add_words(row_table(
            g, self.op, ky_bytes(g, plan, plan.b, self.f16),
            ky_bytes(g, plan, rest, self.f16) if rest else 0, self.reverse, placement))

    def emit(self) -> None:
        self.layout()
        emit_row_loop(self.ctx, self.g, table_off=self.table_off, in_off=self.in_off,
                      out_off=self.out_off, w_off=self.w_off, wreg=R_WBLK, width=self.plan.b,
                      total=self.g.cout, body=self.block, slice_steps=self.slice_steps(),
                      reverse=self.reverse, out_row_bytes=self.out.row_bytes)

    def emit_streamed(self, placement) -> None:
        """A subroutine running a range of rows inside a streamed region
        (rowloop.py): rows placed as `placement` says (RowPlacement)."""
        self.streamed = True
        self.layout(placement)
        emit_row_loop(self.ctx, self.g, table_off=self.table_off, in_off=self.in_off,
                      out_off=self.out_off, w_off=self.w_off, wreg=R_WBLK, width=self.plan.b,
                      total=self.g.cout, body=self.block, slice_steps=self.slice_steps(), streamed=True)

    def slice_steps(self):
        """The per-block slot the row loop advances: the output pointer."""
        return ((SL_OUTSLICE, 4 * self.plan.b),)

    def block(self, bb: int, wskip_slot: int) -> None:
        g, asm, ctx, plan = self.g, self.asm, self.ctx, self.plan
        ctx.reload(R_TILE, SL_ROWIN)
        ctx.reload(R_O, SL_OUTSLICE)
        if plan.scheme == "resident":
            self.resident_block(bb)
            return
        for count, ranges in tile_groups(g, plan):
            with counted_loop(asm, C_TILE, count):
                self.tile(ranges, bb, wskip_slot)
        add_const(asm, R_WBLK, R_WBLK, self.block_bytes[bb], scratch=r0)

    def resident_block(self, bb: int) -> None:
        """The resident scheme (1x1): the block's weights held in registers while
        the row's pixels stream past (pixel_stream.py)."""
        g, asm = self.g, self.asm
        regs = ps.Regs.of(g.cin, bb)
        consts = ps.relu_consts(asm, self.op.activation, (C_KY, C_CHUNK))
        add_const(asm, R_W, R_WBLK, 4 * bb, scratch=r0)
        ps.load_block(asm, R_WBLK, R_W, regs, self.f16, bias_wb=False)
        ps.stream(asm, regs, g.OW, self.plan.unroll, R_TILE, R_O, C_TILE, act=self.op.activation,
                  consts=consts, pixel_bytes=self.out.pixel_bytes,
                  in_skip=4 * g.cin * (g.sw - 1))
        add_const(asm, R_WBLK, R_WBLK, self.block_bytes[bb], scratch=r0)

    def tile(self, ranges, bb: int, wskip_slot: int) -> None:
        """One tile: p = len(ranges) pixels x bb channels; pixel q uses taps kx in ranges[q]."""
        g, asm, ctx, plan = self.g, self.asm, self.ctx, self.plan
        p = len(ranges)
        kx0 = ranges[0][0] if plan.scheme == "chunks" else 0
        cin4 = 4 * g.cin
        ptrs = PIXEL_PTRS[:p] if plan.scheme == "chunks" else PIXEL_PTRS[:1]
        for i, reg in enumerate(ptrs):
            add_const(asm, reg, R_TILE, (i * g.sw + kx0 * g.dw) * cin4, scratch=C_CHUNK)
        start = 4 * bb + (kx0 * group_bytes(g, plan, bb, self.f16) if plan.scheme == "chunks" else 0)
        unrolled = g.KH == 1 or plan.unroll_ky      # every output row reads all KH input rows
        if unrolled:
            add_const(asm, R_W, R_WBLK, start, scratch=C_CHUNK)
        else:
            ctx.reload(R_W, wskip_slot)
            asm.add(R_W, R_W, R_WBLK)
            add_const(asm, R_W, R_W, start, scratch=C_CHUNK)
        acc = [[S[q * bb + j] for j in range(bb)] for q in range(p)]
        asm.vldm(R_WBLK, acc[0][0], bb)                        # bias
        self.bias_pending = bias_shared(g, plan, ranges, self.f16)   # the first products add it
        if not self.bias_pending:
            for q in range(1, p):
                for j in range(bb):
                    asm.vmov(acc[q][j], acc[0][j])
        if not unrolled:
            ctx.reload(C_KY, SL_NKY)
            top = asm.here()
        for ky in range(g.KH if unrolled else 1):
            if plan.scheme == "rows":
                advanced = self.rows_row(ranges, bb, acc)
            else:
                nkx = ranges[0][1] - ranges[0][0]
                advanced = self.chunk_row(p, bb, nkx, acc, ptrs)
                if nkx < g.KW:
                    add_const(asm, R_W, R_W, (g.KW - nkx) * group_bytes(g, plan, bb, self.f16),
                              scratch=C_CHUNK)
            if not unrolled or ky + 1 < g.KH:
                row_adv = 4 * g.dh * g.W * g.cin - advanced
                for reg in ptrs:
                    add_const(asm, reg, reg, row_adv, scratch=C_CHUNK)
        if not unrolled:
            asm.subs(C_KY, C_KY, 1)
            asm.b(top, cond="ne")
        temps = list(PIXEL_PTRS) + [C_KY, C_CHUNK]
        sfree = [S[i] for i in range(p * bb, 32)]
        for q in range(p):
            if self.op.residual:
                combine_residual(asm, acc[q], R_O, self.residual_delta, self.op.residual,
                                 sfree, C_KX,
                                 delta_from=residual_delta_loader(ctx) if self.streamed else None)
            store_activated(asm, acc[q], R_O, self.op.activation, temps=temps, sfree=sfree)
            if self.out.pixel_bytes != 4 * bb:
                add_const(asm, R_O, R_O, self.out.pixel_bytes - 4 * bb, scratch=C_CHUNK)
        add_const(asm, R_TILE, R_TILE, p * g.sw * cin4, scratch=C_CHUNK)

    def _fp_regs(self, p: int, bb: int, inputs: int):
        base = p * bb
        wn = bb if self.plan.wrows else self.plan.m * bb
        xs = [S[base + i] for i in range(inputs)]
        ws = [S[base + inputs + i] for i in range(wn)]
        temps = (S[base + inputs + wn], S[base + inputs + wn + 1])
        return xs, ws, temps

    def macs(self, acc, x, bb: int, mc: int, ws, temps, pixels=None) -> None:
        """acc[q][j] += sum_i x[q][i] * w[i][j] for the next chunk of weights,
        for the pixels q in `pixels` (all by default)."""
        asm, f16 = self.asm, self.f16
        pixels = range(len(acc)) if pixels is None else pixels
        acc_p = [acc[q] for q in pixels]
        x_p = [x[q] for q in pixels]
        first, self.bias_pending = self.bias_pending, False
        assert not first or len(acc_p) == len(acc)
        if self.plan.wrows:
            for i in range(mc):
                load_weights(asm, R_W, ws, bb, f16)
                emit_macs(asm, acc_p, [[row[i]] for row in x_p], [ws[:bb]], temps,
                          bias_in_first=first and i == 0)
        else:
            load_weights(asm, R_W, ws, mc * bb, f16)
            w = [[ws[i * bb + j] for j in range(bb)] for i in range(mc)]
            emit_macs(asm, acc_p, x_p, w, temps, bias_in_first=first)

    def chunk_row(self, p, bb, nkx, acc, ptrs) -> int:
        """One input row of the reduction with per-pixel pointers; returns the
        bytes each pointer advanced."""
        g, asm, plan = self.g, self.asm, self.plan
        m = plan.m
        xs, ws, temps = self._fp_regs(p, bb, p * m)

        def chunk(mc):
            for q, reg in enumerate(ptrs):
                asm.vldm(reg, xs[q * m], mc, wb=True)
            self.macs(acc, [[xs[q * m + i] for i in range(mc)] for q in range(p)], bb, mc, ws, temps)

        def run(length):
            chunked(asm, C_CHUNK, length, m, plan.unroll, chunk)

        if merged(g, plan, self.f16):
            run(nkx * g.cin)
            return 4 * nkx * g.cin
        skip = 4 * (g.dw - 1) * g.cin

        def group():
            run(g.cin)
            if skip:
                for reg in ptrs:
                    add_const(asm, reg, reg, skip, scratch=C_CHUNK)
        if kx_unrolled(nkx, plan.unroll):
            for _ in range(nkx):
                group()
        else:
            with counted_loop(asm, C_KX, nkx):
                group()
        return nkx * (4 * g.cin + skip)

    def rows_row(self, ranges, bb, acc) -> int:
        """One input row of the reduction: per chunk of channels, the input
        columns the tile reads are loaded once and shared by every kx tap;
        taps outside the input (border pixels) are skipped."""
        g, asm, plan = self.g, self.asm, self.plan
        p = len(ranges)
        cols = window_columns(g, ranges)
        m = min(plan.m, g.cin)
        xs, ws, temps = self._fp_regs(p, bb, (cols[-1] + 1) * m)
        ptr, scratch = PIXEL_PTRS[0], PIXEL_PTRS[3]
        users = [[q for q, (k0, k1) in enumerate(ranges) if k0 <= kx < k1] for kx in range(g.KW)]

        def chunk(mc, c0):
            for run in _runs(cols):
                load_columns(asm, ptr, [col * 4 * g.cin + 4 * c0 for col in run], mc,
                             xs[run[0] * mc:], (PIXEL_PTRS[1], PIXEL_PTRS[2]), scratch)
            for kx in range(g.KW):
                if not users[kx]:
                    add_const(asm, R_W, R_W, chunk_bytes(plan, mc, bb, self.f16), scratch=scratch)
                    continue
                x = [[xs[(q * g.sw + kx * g.dw) * mc + i] for i in range(mc)]
                     if q in users[kx] else None for q in range(p)]
                self.macs(acc, x, bb, mc, ws, temps, users[kx])

        n, tail = divmod(g.cin, m)
        if n > plan.unroll and n % plan.unroll == 0:
            # a loop over chunks: the pointer moves by the unrolled chunks' channels
            with counted_loop(asm, C_CHUNK, n // plan.unroll):
                for u in range(plan.unroll):
                    chunk(m, u * m)
                add_const(asm, ptr, ptr, 4 * m * plan.unroll, scratch=scratch)
            advanced = 4 * m * n
            if tail:
                chunk(tail, 0)
                add_const(asm, ptr, ptr, 4 * tail, scratch=scratch)
                advanced += 4 * tail
            return advanced
        c0 = 0
        for mc in chunk_sizes(g.cin, m):
            chunk(mc, c0)
            c0 += mc
        return 0


def _runs(cols: list[int]) -> list[list[int]]:
    """Split sorted column indices into runs of consecutive ones."""
    runs = [[cols[0]]]
    for c in cols[1:]:
        if c == runs[-1][-1] + 1:
            runs[-1].append(c)
        else:
            runs.append([c])
    return runs


@kernel(Conv2D)
def emit_conv2d(op: Conv2D, ctx: KernelContext, ins: list[int], out_off: int):
    if op.channel_passes and flat_output(op, ctx) and op.output not in ctx.reversed:
        return emit_passes(op, ctx, ins, out_off)
    plan = choose_plan(op, ctx.float16, ctx.optimize)
    apart = ctx.pixels_apart.get(op.output)       # its channel slice of a concatenation
    _Emitter(op, ctx, plan, ins, out_off, apart and OutputStrides(*apart)).emit()
    return plan


def emit_conv2d_strided(op: Conv2D, ctx: KernelContext, in_off: int, out_off: int,
                        out_strides: OutputStrides) -> ConvPlan:
    """The convolution writing its output pixels `out_strides` apart, from
    `out_off` on (no fused merge, rows top to bottom)."""
    assert not op.residual
    plan = choose_plan(op, ctx.float16, ctx.optimize)
    _Emitter(op, ctx, plan, [in_off], out_off, out_strides).emit()
    return plan


def emit_conv2d_rows(op: Conv2D, ctx: KernelContext, ins: list[int], out_off: int,
                     placement) -> ConvPlan:
    """The convolution as a subroutine of a streamed region (see rowloop.py)."""
    plan = choose_plan(op, ctx.float16, ctx.optimize)
    _Emitter(op, ctx, plan, ins, out_off).emit_streamed(placement)
    return plan
