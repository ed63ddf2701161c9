"""Convolutions (2-D, and 1-D as H = 1): register-tiled direct convolution.

A tile is `p` consecutive output pixels of one row x `bb` consecutive output
channels; its p*bb sums stay in S registers for the whole reduction, so every
loaded input feeds bb MACs and every loaded weight feeds p MACs.  Bias, the
activation and the store happen once per tile, from registers.

Weights are laid out in flash in read order, per block of bb output channels:
    [bias bb x f32] [ky][kx][c][j]   (one (ky,kx) group = Cin*bb weights, word padded)
so the kernel streams them with VLDM.  Padding is never copied: output rows
whose window leaves the input use a shorter ky range (a per-row table gives the
input row, the ky count and the weight offset), and output columns whose window
leaves the input form their own runs with a clipped kx range.

Two ways to feed inputs, chosen per layer by the cost model:
  * chunks: each pixel has a pointer and loads m channels at a time (VLDM);
  * window: for narrow inputs (few channels), the union of all the tile's
    windows on one input row is loaded once (one VLDM) and shared, since
    neighbouring windows overlap.
"""
from __future__ import annotations

from dataclasses import dataclass
from math import ceil

import numpy as np

from ..errors import CodegenError
from ..graph.ops import Conv2D
from ..graph.shapes import hwc
from ..thumb.regs import S, lr, r0, r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, r11, r12
from .registry import kernel
from .common import Ctx, add_const, counted_loop, store_activated
from .mac import emit_macs, load_weights

FP_REGS = 32
PIXEL_PTRS = (r0, r1, r2, r3, r4, r5)
R_W, R_TILE, R_O, R_WBLK, C_TILE, C_KY, C_CHUNK, C_KX = r6, r7, r8, r9, r10, r11, r12, lr

# spill slots of the frame (see common.FRAME_SPILL)
SL_TABLE, SL_ROWS, SL_OUTROW, SL_BLOCKS, SL_NKY, SL_WSKIP, SL_WSKIP_REST, SL_ROWIN, SL_OUTBLK = range(9)


@dataclass(frozen=True)
class Geometry:
    H: int
    W: int
    cin: int
    OH: int
    OW: int
    cout: int
    KH: int
    KW: int
    sh: int
    sw: int
    dh: int
    dw: int
    pt: int
    pl: int

    @staticmethod
    def of(op: Conv2D) -> "Geometry":
        h, w, cin = hwc(op.in_shape)
        oh, ow, cout = hwc(op.out_shape)
        kh, kw = op.kernel.shape[:2]
        return Geometry(h, w, cin, oh, ow, cout, kh, kw, op.strides[0], op.strides[1],
                        op.dilation[0], op.dilation[1], op.pads[0], op.pads[1])

    @staticmethod
    def of_depthwise(op) -> "Geometry":
        h, w, c = hwc(op.in_shape)
        oh, ow, cout = hwc(op.out_shape)
        kh, kw = op.kernel.shape[:2]
        return Geometry(h, w, c, oh, ow, cout, kh, kw, op.strides[0], op.strides[1],
                        op.dilation[0], op.dilation[1], op.pads[0], op.pads[1])

    def k_range(self, o: int, stride: int, pad: int, dil: int, k: int, size: int):
        i = o * stride - pad
        k0 = max(0, -(-(-i) // dil)) if i < 0 else 0
        k1 = min(k, (size - 1 - i) // dil + 1)
        return k0, max(k0, k1)

    def ky_range(self, oy):
        return self.k_range(oy, self.sh, self.pt, self.dh, self.KH, self.H)

    def kx_range(self, ox):
        return self.k_range(ox, self.sw, self.pl, self.dw, self.KW, self.W)

    def column_runs(self):
        """Consecutive output columns sharing a kx range: (ox0, count, kx0, kx1)."""
        runs = []
        for ox in range(self.OW):
            kr = self.kx_range(ox)
            if runs and tuple(runs[-1][2:]) == kr:
                runs[-1][1] += 1
            else:
                runs.append([ox, 1, *kr])
        return [tuple(r) for r in runs]

    def row_ranges(self):
        return [self.ky_range(oy) for oy in range(self.OH)]


@dataclass(frozen=True)
class ConvPlan:
    a: int            # pixels per tile
    b: int            # output channels per block
    m: int            # input values per chunk ("chunks"), or per weight load ("window")
    scheme: str       # "chunks" | "window"
    unroll: int       # chunks per loop iteration


def group_bytes(cin: int, bb: int, f16: bool) -> int:
    """Bytes of one (ky, kx) weight group of a block of bb channels."""
    return 4 * ceil(cin * bb / 2) if f16 else 4 * cin * bb


def merged(g: Geometry, bb: int, f16: bool) -> bool:
    """Can one chunk sequence run across kx groups? (contiguous inputs and no padding)"""
    return g.dw == 1 and (not f16 or (g.cin * bb) % 2 == 0)


def chunk_sizes(length: int, m: int):
    return [m] * (length // m) + ([length % m] if length % m else [])


def window_floats(g: Geometry, p: int, nkx: int) -> int:
    return ((p - 1) * g.sw + (nkx - 1) * g.dw + 1) * g.cin


def wload_cycles(k: int, f16: bool) -> int:
    return 1 + ceil(k / 2) + k if f16 else 1 + k


def f16_chunks_aligned(g: Geometry, plan: ConvPlan, bb: int, nkx: int) -> bool:
    """float16 weights are loaded by whole words: every chunk of m*bb halves must
    start on a word, i.e. m*bb is even unless the chunk is the whole group."""
    if (plan.m * bb) % 2 == 0:
        return True
    if plan.scheme == "chunks" and merged(g, bb, True):
        return plan.m >= nkx * g.cin
    return plan.m >= g.cin


def fp_regs_needed(g: Geometry, plan: ConvPlan, p: int, bb: int, nkx: int) -> int:
    if plan.scheme == "window":
        return p * bb + window_floats(g, p, nkx) + plan.m * bb + 2
    return p * bb + p * plan.m + plan.m * bb + 2


# ------------------------------------------------------------------ cost model
def tile_cycles(g: Geometry, plan: ConvPlan, p: int, bb: int, nkx: int, nky: int, f16: bool,
                relu: bool) -> float:
    setup = p + 4 + (1 + bb) + (p - 1) * bb + 2
    if plan.scheme == "window":
        row = 1 + window_floats(g, p, nkx)
        for _ in range(nkx):
            for mc in chunk_sizes(g.cin, plan.m):
                row += wload_cycles(mc * bb, f16) + 2 * p * bb * mc
        row += 2 + 3
    else:
        if merged(g, bb, f16):
            groups = [nkx * g.cin]
        else:
            groups = [g.cin] * nkx
        row = 0
        for length in groups:
            sizes = chunk_sizes(length, plan.m)
            for mc in sizes:
                row += p * (1 + mc) + wload_cycles(mc * bb, f16) + 2 * p * bb * mc
            row += 3 * ((length // plan.m) // plan.unroll)
            if g.dw > 1:
                row += p
        row += p + 1 + 3
    store = p * (1 + bb + 1) if not relu else p * (bb * 3 + 2)
    return setup + nky * row + store


def layer_cycles(g: Geometry, plan: ConvPlan, f16: bool, relu: bool) -> float:
    rows = {}
    for r in g.row_ranges():
        rows[r[1] - r[0]] = rows.get(r[1] - r[0], 0) + 1
    total = g.OH * 20
    blocks = [(plan.b, g.cout // plan.b)] + ([(g.cout % plan.b, 1)] if g.cout % plan.b else [])
    for bb, nb in blocks:
        for nky, nrows in rows.items():
            per_row = 10
            for ox0, count, kx0, kx1 in g.column_runs():
                full, rest = divmod(count, plan.a)
                per_row += full * (tile_cycles(g, plan, plan.a, bb, kx1 - kx0, nky, f16, relu) + 5)
                if rest:
                    per_row += tile_cycles(g, plan, rest, bb, kx1 - kx0, nky, f16, relu) + 2
            total += nrows * nb * per_row
    return total


def code_estimate(g: Geometry, plan: ConvPlan, f16: bool) -> int:
    """Rough code bytes: every tile body x block variants."""
    bodies = 0
    for ox0, count, kx0, kx1 in g.column_runs():
        nkx = kx1 - kx0
        for p in {min(plan.a, count), count % plan.a} - {0}:
            if plan.scheme == "window":
                inner = nkx * g.cin * (p * plan.b * 2 + 2)
            else:
                inner = plan.unroll * (p + 1 + 2 * p * plan.b * plan.m + (plan.b * plan.m if f16 else 0)) + 12
                if not merged(g, plan.b, f16):
                    inner *= min(nkx, 3)
            bodies += 4 * (inner + 3 * p * plan.b + 20)
    return bodies * (2 if g.cout % plan.b else 1)


def candidate_plans(g: Geometry, f16: bool):
    for a in range(1, min(len(PIXEL_PTRS), g.OW) + 1):
        for b in range(1, min(g.cout, 16) + 1):
            if a * b > 24:
                continue
            for m in range(1, min(g.cin * g.KW, 8) + 1):
                for scheme in ("chunks", "window"):
                    if scheme == "window" and m > g.cin:
                        continue
                    for unroll in ((1, 2, 4, 8) if scheme == "chunks" else (1,)):
                        yield ConvPlan(a, b, m, scheme, unroll)


def plan_fits(g: Geometry, plan: ConvPlan, f16: bool) -> bool:
    for ox0, count, kx0, kx1 in g.column_runs():
        nkx = kx1 - kx0
        for p in {min(plan.a, count), count % plan.a} - {0}:
            for bb in {plan.b, g.cout % plan.b} - {0}:
                if fp_regs_needed(g, plan, p, bb, nkx) > FP_REGS:
                    return False
    if f16:
        for bb in {plan.b, g.cout % plan.b} - {0}:
            for ox0, count, kx0, kx1 in g.column_runs():
                if not f16_chunks_aligned(g, plan, bb, kx1 - kx0):
                    return False
    return True


# code bytes worth one cycle per inference, by optimisation goal
BYTES_PER_CYCLE = {"speed": 0.0, "balanced": 0.02, "size": 0.5}


def choose_plan(op: Conv2D, f16: bool, optimize: str) -> ConvPlan:
    g = Geometry.of(op)
    relu = not op.activation.is_linear
    weight_bytes = op.kernel.size * (2 if f16 else 4)
    budget = max(2 * weight_bytes, 6144)
    best = None
    for plan in candidate_plans(g, f16):
        if not plan_fits(g, plan, f16):
            continue
        code = code_estimate(g, plan, f16)
        if optimize != "speed" and code > budget:
            continue
        score = layer_cycles(g, plan, f16, relu) + BYTES_PER_CYCLE[optimize] * code * g.OH
        key = (score, plan.a, plan.b, plan.m, plan.scheme, plan.unroll)
        if best is None or key < best[0]:
            best = (key, plan)
    if best is None:
        return ConvPlan(1, 1, 1, "chunks", 1)
    return best[1]


# ------------------------------------------------------------------ weights
def weight_blocks(op: Conv2D, plan: ConvPlan, f16: bool):
    """Per block: (bias float32 array, weights array in read order incl. f16 padding)."""
    g = Geometry.of(op)
    kernel = op.kernel.reshape(g.KH, g.KW, g.cin, g.cout)
    bias = op.bias if op.bias is not None else np.zeros(g.cout, np.float32)
    for j0 in range(0, g.cout, plan.b):
        bb = min(plan.b, g.cout - j0)
        groups = kernel[:, :, :, j0:j0 + bb].reshape(g.KH * g.KW, g.cin * bb)
        if f16 and (g.cin * bb) % 2:
            groups = np.concatenate([groups, np.zeros((groups.shape[0], 1), np.float32)], axis=1)
        yield bias[j0:j0 + bb], groups


# ------------------------------------------------------------------ emission
class _Emitter:
    def __init__(self, op: Conv2D, ctx: Ctx, plan: ConvPlan, in_off: int, out_off: int):
        self.op, self.ctx, self.asm, self.plan = op, ctx, ctx.asm, plan
        self.g = Geometry.of(op)
        self.f16 = ctx.float16
        self.in_off, self.out_off = in_off, out_off

    # -- data
    def layout(self):
        g, ctx = self.g, self.ctx
        self.block_bytes = {}
        first = None
        for bias, groups in weight_blocks(self.op, self.plan, self.f16):
            off = ctx.blob.add_f32(bias)
            ctx.blob.add_weights(groups, layer=self.op.name, layer_class=self.op.layer_class)
            first = off if first is None else first
            bb = len(bias)
            self.block_bytes[bb] = 4 * bb + g.KH * g.KW * group_bytes(g.cin, bb, self.f16)
        self.w_off = first
        rest = g.cout % self.plan.b
        table = []
        for oy, (ky0, ky1) in enumerate(g.row_ranges()):
            if ky1 <= ky0:
                raise CodegenError("an output row sees no input row", layer=self.op.name,
                                   layer_class=self.op.layer_class)
            iy = oy * g.sh - g.pt + ky0 * g.dh
            table += [4 * (iy * g.W - g.pl) * g.cin, ky1 - ky0,
                      ky0 * g.KW * group_bytes(g.cin, self.plan.b, self.f16),
                      ky0 * g.KW * group_bytes(g.cin, rest, self.f16) if rest else 0]
        self.table_off = ctx.blob.add_words(table)
        for ox0, count, kx0, kx1 in g.column_runs():
            if kx1 <= kx0:
                raise CodegenError("an output column sees no input column", layer=self.op.name,
                                   layer_class=self.op.layer_class)

    # -- code
    def emit(self):
        g, asm, ctx, plan = self.g, self.asm, self.ctx, self.plan
        self.layout()
        ctx.weights_ptr(r0, self.table_off)
        ctx.spill(r0, SL_TABLE)
        ctx.arena_ptr(r0, self.out_off)
        ctx.spill(r0, SL_OUTROW)
        asm.mov_const(r0, g.OH)
        ctx.spill(r0, SL_ROWS)
        row_top = asm.here()
        # row parameters: input row pointer, ky count, weight skips
        ctx.reload(r4, SL_TABLE)
        asm.ldm(r4, [r0, r1, r2, r3], wb=True)
        ctx.spill(r4, SL_TABLE)
        ctx.arena_ptr(r4, self.in_off)
        asm.add(r0, r0, r4)
        ctx.spill(r0, SL_ROWIN)
        ctx.spill(r1, SL_NKY)
        ctx.spill(r2, SL_WSKIP)
        ctx.spill(r3, SL_WSKIP_REST)
        ctx.reload(r0, SL_OUTROW)
        ctx.spill(r0, SL_OUTBLK)
        ctx.weights_ptr(R_WBLK, self.w_off)
        nblk, rest = divmod(g.cout, plan.b)
        if nblk > 1:
            asm.mov_const(r0, nblk)
            ctx.spill(r0, SL_BLOCKS)
            blk_top = asm.here()
            self.block(plan.b, SL_WSKIP)
            ctx.reload(r0, SL_BLOCKS)
            asm.subs(r0, r0, 1)
            ctx.spill(r0, SL_BLOCKS)
            asm.b(blk_top, cond="ne")
        elif nblk == 1:
            self.block(plan.b, SL_WSKIP)
        if rest:
            self.block(rest, SL_WSKIP_REST)
        # next output row
        ctx.reload(r0, SL_OUTROW)
        add_const(asm, r0, r0, 4 * g.OW * g.cout, scratch=r1)
        ctx.spill(r0, SL_OUTROW)
        ctx.reload(r0, SL_ROWS)
        asm.subs(r0, r0, 1)
        ctx.spill(r0, SL_ROWS)
        asm.b(row_top, cond="ne")

    def block(self, bb: int, wskip_slot: int):
        g, asm, ctx, plan = self.g, self.asm, self.ctx, self.plan
        ctx.reload(R_TILE, SL_ROWIN)
        ctx.reload(R_O, SL_OUTBLK)
        for ox0, count, kx0, kx1 in g.column_runs():
            full, rest = divmod(count, plan.a)
            if full:
                with counted_loop(asm, C_TILE, full):
                    self.tile(plan.a, bb, kx0, kx1, wskip_slot)
            if rest:
                self.tile(rest, bb, kx0, kx1, wskip_slot)
        # next block: weights follow, outputs move bb channels right
        add_const(asm, R_WBLK, R_WBLK, self.block_bytes[bb], scratch=r0)
        ctx.reload(r0, SL_OUTBLK)
        add_const(asm, r0, r0, 4 * bb, scratch=r1)
        ctx.spill(r0, SL_OUTBLK)

    def tile(self, p: int, bb: int, kx0: int, kx1: int, wskip_slot: int):
        g, asm, ctx, plan, f16 = self.g, self.asm, self.ctx, self.plan, self.f16
        nkx = kx1 - kx0
        cin4 = 4 * g.cin
        ptrs = PIXEL_PTRS[:p] if plan.scheme == "chunks" else PIXEL_PTRS[:1]
        for i, reg in enumerate(ptrs):
            add_const(asm, reg, R_TILE, (i * g.sw + kx0 * g.dw) * cin4, scratch=C_CHUNK)
        gb = group_bytes(g.cin, bb, f16)
        ctx.reload(R_W, wskip_slot)
        asm.add(R_W, R_W, R_WBLK)
        add_const(asm, R_W, R_W, 4 * bb + kx0 * gb, scratch=C_CHUNK)
        acc = [[S[q * bb + j] for j in range(bb)] for q in range(p)]
        asm.vldm(R_WBLK, acc[0][0], bb)                        # bias
        for q in range(1, p):
            for j in range(bb):
                asm.vmov(acc[q][j], acc[0][j])
        ctx.reload(C_KY, SL_NKY)
        top = asm.here()
        if plan.scheme == "window":
            advanced = self.window_row(p, bb, nkx, acc)
        else:
            advanced = self.chunk_row(p, bb, nkx, acc, ptrs)
        row_adv = 4 * g.dh * g.W * g.cin - advanced
        for reg in ptrs:
            add_const(asm, reg, reg, row_adv, scratch=C_CHUNK)
        if nkx < g.KW:
            add_const(asm, R_W, R_W, (g.KW - nkx) * gb, scratch=C_CHUNK)
        asm.subs(C_KY, C_KY, 1)
        asm.b(top, cond="ne")
        temps = list(PIXEL_PTRS) + [C_KY, C_CHUNK]
        for q in range(p):
            store_activated(asm, acc[q], R_O, self.op.activation, temps=temps)
            if g.cout != bb:
                add_const(asm, R_O, R_O, 4 * (g.cout - bb), scratch=C_CHUNK)
        add_const(asm, R_TILE, R_TILE, p * g.sw * cin4, scratch=C_CHUNK)

    def _regs(self, p, bb, m, inputs):
        base = p * bb
        xs = [S[base + i] for i in range(inputs)]
        ws = [S[base + inputs + i] for i in range(m * bb)]
        temps = (S[base + inputs + m * bb], S[base + inputs + m * bb + 1])
        return xs, ws, temps

    def chunk_row(self, p, bb, nkx, acc, ptrs) -> int:
        """One input row of the reduction with per-pixel pointers; returns the
        bytes each pointer advanced."""
        g, asm, plan, f16 = self.g, self.asm, self.plan, self.f16
        m = plan.m
        xs, ws, temps = self._regs(p, bb, m, p * m)

        def chunk(mc):
            for q, reg in enumerate(ptrs):
                asm.vldm(reg, xs[q * m], mc, wb=True)
            load_weights(asm, R_W, ws, mc * bb, f16)
            w = [[ws[i * bb + j] for j in range(bb)] for i in range(mc)]
            x = [[xs[q * m + i] for i in range(mc)] for q in range(p)]
            emit_macs(asm, acc, x, w, temps)

        def run(length):
            n, tail = divmod(length, m)
            loops, rem = divmod(n, plan.unroll)
            if loops:
                with counted_loop(asm, C_CHUNK, loops):
                    for _ in range(plan.unroll):
                        chunk(m)
            for _ in range(rem):
                chunk(m)
            if tail:
                chunk(tail)

        if merged(g, bb, f16):
            run(nkx * g.cin)
            return 4 * nkx * g.cin
        skip = 4 * (g.dw - 1) * g.cin

        def group():
            run(g.cin)
            if skip:
                for reg in ptrs:
                    add_const(asm, reg, reg, skip, scratch=C_CHUNK)
        if nkx > 3 and plan.unroll > 1 or nkx > 6:
            with counted_loop(asm, C_KX, nkx):
                group()
        else:
            for _ in range(nkx):
                group()
        return nkx * (4 * g.cin + skip)

    def window_row(self, p, bb, nkx, acc) -> int:
        """One input row of the reduction from a shared window of inputs."""
        g, asm, plan, f16 = self.g, self.asm, self.plan, self.f16
        nwin = window_floats(g, p, nkx)
        xs, ws, temps = self._regs(p, bb, plan.m, nwin)
        ptr = PIXEL_PTRS[0]
        asm.vldm(ptr, xs[0], nwin, wb=False)
        for kx in range(nkx):
            c0 = 0
            for mc in chunk_sizes(g.cin, plan.m):
                load_weights(asm, R_W, ws, mc * bb, f16)
                w = [[ws[i * bb + j] for j in range(bb)] for i in range(mc)]
                x = [[xs[(q * g.sw + kx * g.dw) * g.cin + c0 + i] for i in range(mc)]
                     for q in range(p)]
                emit_macs(asm, acc, x, w, temps)
                c0 += mc
            if f16 and (g.cin * bb) % 2 and plan.m >= g.cin:
                pass   # the padding half was read by the last VLDM of the group
        return 0


@kernel("conv2d")
def emit_conv2d(op: Conv2D, ctx: Ctx, ins: list[int], out_off: int) -> ConvPlan:
    in_off = ins[0]
    plan = choose_plan(op, ctx.float16, ctx.optimize)
    _Emitter(op, ctx, plan, in_off, out_off).emit()
    return plan
