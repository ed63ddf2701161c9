"""Depthwise convolutions, vectorised over channels and tiled over pixels.

Input channels are processed in groups of n (n*M outputs with depth
multiplier M).  A tile is p consecutive output pixels of a row; its p*n*M sums
stay in S registers for the whole window.  Per tap the n*M weights are loaded
once (VLDM, read order) and used by all p pixels.  Inputs come either per
pixel and tap ("pixels"), or, when neighbouring windows overlap, as the union
of the tile's windows on one input row, loaded once per row ("window").

Weights per group: [bias n*M f32] [ky][kx][c][m] (each tap word-padded in
float16).  Padding is never copied: the same row table and column runs as the
convolution kernel (see conv.py) clip the window at the borders.
"""
from __future__ import annotations

from dataclasses import dataclass
from math import ceil

import numpy as np

from ..cortex_m4 import FP_REGS
from ..errors import CodegenError
from ..graph.ops import DepthwiseConv2D
from ..thumb.regs import S, lr, r0, r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, r11, r12
from .context import KernelContext
from .conv_geometry import Geometry, row_tiles
from .conv_geometry import window_columns as positions
from .cost import ALU, LOOP, MAC, VMOV, store, vldm, weight_load
from .immediates import add_const
from .loads import load_columns, load_columns_cycles
from .loops import counted_loop
from .mac import emit_products, load_weights
from .registry import kernel
from .rowloop import SL_NKY, SL_OUTSLICE, SL_ROWIN, emit_row_loop, next_slice, row_table
from .store import store_activated

MAX_TILE_PIXELS = 10         # pixels per tile tried
MAX_GROUP_CHANNELS = 8       # input channels per group tried
# estimates (named as in conv_plan.py)
ROW_LOOP = 20                # per output row: the row table, spills and reloads (emit_row_loop)
SLICE_LOOP = 12              # per output row and group: pointer reloads, the group loop
TILE_SETUP = 8               # pointers, the weight pointer from its spill slot, the ky count
ROW_STEP_EXTRA = 1           # per kernel row besides the input step and the ky loop
P, R, R_W, R_TILE, R_O, R_WGRP, C_TILE, C_KY, R2 = r0, r1, r2, r3, r4, r5, r6, r7, lr
TEMPS = (r8, r9, r10, r11)           # free core registers for the fused activation
SCRATCH = r12


@dataclass(frozen=True)
class DwPlan:
    p: int            # pixels per tile
    n: int            # input channels per group
    scheme: str       # "window" | "pixels"


def _geometry(op: DepthwiseConv2D) -> Geometry:
    return Geometry.of(op)


def tap_bytes(nm: int, f16: bool) -> int:
    return 4 * ceil(nm / 2) if f16 else 4 * nm


def fp_regs(g: Geometry, plan: DwPlan, ranges, n: int, m: int) -> int:
    p = len(ranges)
    inputs = (max(positions(g, ranges)) + 1) * n if plan.scheme == "window" else p * n
    return p * n * m + inputs + n * m + 2


def tile_cycles(g: Geometry, plan: DwPlan, ranges, n: int, nky: int, m: int,
                f16: bool, fused: bool) -> float:
    p, nm = len(ranges), n * m
    setup = TILE_SETUP + vldm(nm) + (p - 1) * nm * VMOV
    products = sum(k1 - k0 for k0, k1 in ranges)
    if plan.scheme == "window":
        row = load_columns_cycles([q * 4 * g.cin for q in positions(g, ranges)], n)
    else:
        row = products * (ALU + vldm(n))                           # pointer step + VLDM per tap
    row += g.KW * weight_load(nm, f16) + MAC * products * nm + ALU + LOOP + ROW_STEP_EXTRA
    stores = p * store(nm) if not fused else p * (3 * nm + 3)      # activated: about 3 per value
    return setup + nky * row + stores


def layer_cycles(g: Geometry, plan: DwPlan, m: int, f16: bool, fused: bool) -> float:
    rows = {}
    for ky0, ky1 in g.row_ranges():
        rows[ky1 - ky0] = rows.get(ky1 - ky0, 0) + 1
    groups = [(plan.n, g.cin // plan.n)] + ([(g.cin % plan.n, 1)] if g.cin % plan.n else [])
    total = ROW_LOOP * g.OH
    for n, ng in groups:
        for nky, nrows in rows.items():
            per_row = SLICE_LOOP
            for ox0, count, q, ranges in row_tiles(g, plan.p):
                per_row += count * (tile_cycles(g, plan, ranges, n, nky, m, f16, fused) + LOOP)
            total += nrows * ng * per_row
    return total


def plan_fits(g: Geometry, plan: DwPlan, m: int) -> bool:
    for ox0, count, q, ranges in row_tiles(g, plan.p):
        for n in {plan.n, g.cin % plan.n} - {0}:
            if fp_regs(g, plan, ranges, n, m) > FP_REGS:
                return False
    return True


def choose_plan(op: DepthwiseConv2D, f16: bool) -> DwPlan:
    g = _geometry(op)
    m = op.kernel.shape[3]
    fused = not op.activation.is_linear
    best = None
    for p in range(1, min(MAX_TILE_PIXELS, g.OW) + 1):
        for n in range(1, min(g.cin, MAX_GROUP_CHANNELS) + 1):
            for scheme in ("window", "pixels"):
                plan = DwPlan(p, n, scheme)
                if not plan_fits(g, plan, m):
                    continue
                key = (layer_cycles(g, plan, m, f16, fused), p, n, scheme)
                if best is None or key < best[0]:
                    best = (key, plan)
    if best is None:
        raise CodegenError(f"depth_multiplier {m} needs more registers than the M4F has",
                           layer=op.name, layer_class=op.layer_class)
    return best[1]


def weight_groups(op: DepthwiseConv2D, plan: DwPlan, f16: bool):
    """Per group of n channels: (bias n*M float32, taps array [KH*KW][n*M (+pad)])."""
    kh, kw, c, m = op.kernel.shape
    bias = op.bias if op.bias is not None else np.zeros(c * m, np.float32)
    for c0 in range(0, c, plan.n):
        n = min(plan.n, c - c0)
        taps = op.kernel[:, :, c0:c0 + n, :].reshape(kh * kw, n * m)
        if f16 and (n * m) % 2:
            taps = np.concatenate([taps, np.zeros((kh * kw, 1), np.float32)], axis=1)
        yield bias[c0 * m:(c0 + n) * m], taps


class _Emitter:
    def __init__(self, op, ctx: KernelContext, plan: DwPlan, in_off: int, out_off: int):
        self.op, self.ctx, self.asm, self.plan = op, ctx, ctx.asm, plan
        self.g = _geometry(op)
        self.m = op.kernel.shape[3]
        self.f16 = ctx.float16
        self.in_off, self.out_off = in_off, out_off
        self.reverse = op.output in ctx.reversed      # rows bottom to top (see plan.py)

    def layout(self):
        g, ctx, plan = self.g, self.ctx, self.plan
        self.group_bytes = {}
        first = None
        for bias, taps in weight_groups(self.op, plan, self.f16):
            off = ctx.blob.add_f32(bias)
            ctx.blob.add_weights(taps, layer=self.op.name, layer_class=self.op.layer_class)
            first = off if first is None else first
            n = len(bias) // self.m
            self.group_bytes[n] = 4 * n * self.m + g.KH * g.KW * tap_bytes(n * self.m, self.f16)
        self.w_off = first
        rest = g.cin % plan.n
        self.table_off = ctx.blob.add_words(row_table(
            g, self.op, g.KW * tap_bytes(plan.n * self.m, self.f16),
            g.KW * tap_bytes(rest * self.m, self.f16) if rest else 0, self.reverse))

    def emit(self):
        self.layout()
        emit_row_loop(self.ctx, self.g, table_off=self.table_off, in_off=self.in_off,
                      out_off=self.out_off, w_off=self.w_off, wreg=R_WGRP, width=self.plan.n,
                      total=self.g.cin, body=self.group, reverse=self.reverse)

    def group(self, n: int, wskip_slot: int):
        g, asm, ctx, plan = self.g, self.asm, self.ctx, self.plan
        ctx.reload(R_TILE, SL_ROWIN)
        ctx.reload(R_O, SL_OUTSLICE)
        for ox0, count, q, ranges in row_tiles(g, plan.p):
            with counted_loop(asm, C_TILE, count):
                self.tile(ranges, n, wskip_slot)
        add_const(asm, R_WGRP, R_WGRP, self.group_bytes[n], scratch=r0)
        next_slice(ctx, 4 * n * self.m, extra=((SL_ROWIN, 4 * n),))

    def tile(self, ranges, n: int, wskip_slot: int):
        """p = len(ranges) output pixels; pixel q uses taps kx in ranges[q]."""
        g, asm, ctx, plan, m = self.g, self.asm, self.ctx, self.plan, self.m
        p, nm, c4 = len(ranges), n * self.m, 4 * g.cin
        tb = tap_bytes(nm, self.f16)
        asm.mov(P, R_TILE)
        ctx.reload(R_W, wskip_slot)
        asm.add(R_W, R_W, R_WGRP)
        add_const(asm, R_W, R_W, 4 * nm, scratch=SCRATCH)
        acc = [[S[q * nm + j] for j in range(nm)] for q in range(p)]
        asm.vldm(R_WGRP, acc[0][0], nm)                            # bias
        for q in range(1, p):
            for j in range(nm):
                asm.vmov(acc[q][j], acc[0][j])
        base = p * nm
        ctx.reload(C_KY, SL_NKY)
        top = asm.here()
        window = plan.scheme == "window"
        if window:      # the columns the tile reads, loaded once per input row
            pos = positions(g, ranges)
            slots = max(pos) + 1
        else:           # each pixel's column, loaded per tap
            slots = p
        xs = [S[base + i] for i in range(slots * n)]
        ws = [S[base + slots * n + i] for i in range(nm)]
        temps = (S[base + slots * n + nm], S[base + slots * n + nm + 1])
        if window:
            self.load_positions(pos, n, xs)
        for kx in range(g.KW):
            users = [q for q, (k0, k1) in enumerate(ranges) if k0 <= kx < k1]
            if not users:
                add_const(asm, R_W, R_W, tb, scratch=SCRATCH)
                continue
            load_weights(asm, R_W, ws, nm, self.f16)
            if window:
                slot = {q: q * g.sw + kx * g.dw for q in users}
            else:
                slot = {q: q for q in users}
                load_columns(asm, P, [(q * g.sw + kx * g.dw) * c4 for q in users], n,
                             [xs[q * n + i] for q in users for i in range(n)], (R, R2), SCRATCH)
            products = [(acc[q][c * m + j], xs[slot[q] * n + c], ws[c * m + j])
                        for c in range(n) for q in users for j in range(m)]
            emit_products(asm, products, temps)
        add_const(asm, P, P, g.dh * g.W * c4, scratch=SCRATCH)
        asm.subs(C_KY, C_KY, 1)
        asm.b(top, cond="ne")
        for q in range(p):
            store_activated(asm, acc[q], R_O, self.op.activation, temps=TEMPS,
                            sfree=[S[i] for i in range(p * nm, 32)])
            if g.cout != nm:
                add_const(asm, R_O, R_O, 4 * (g.cout - nm), scratch=SCRATCH)
        add_const(asm, R_TILE, R_TILE, p * g.sw * c4, scratch=SCRATCH)

    def load_positions(self, pos: list[int], n: int, regs) -> None:
        """Input columns `pos` (n channels each) into regs[col * n ...]."""
        c4 = 4 * self.g.cin
        # consecutive columns are contiguous when a group covers all channels
        runs, start = [], 0
        for i in range(1, len(pos) + 1):
            if i == len(pos) or pos[i] != pos[i - 1] + 1:
                runs.append(pos[start:i])
                start = i
        for run in runs:
            load_columns(self.asm, P, [col * c4 for col in run], n, regs[run[0] * n:], (R, R2), SCRATCH)


@kernel(DepthwiseConv2D)
def emit_depthwise(op: DepthwiseConv2D, ctx: KernelContext, ins: list[int], out_off: int) -> DwPlan:
    plan = choose_plan(op, ctx.float16)
    _Emitter(op, ctx, plan, ins[0], out_off).emit()
    return plan
