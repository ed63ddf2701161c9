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
from math import ceil

import numpy as np

from ..graph.ops import Conv2D
from ..thumb.regs import S, lr, r0, r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, r11, r12
from .context import KernelContext
from .conv_geometry import Geometry, row_tiles, window_columns
from .immediates import add_const
from .loads import load_columns, load_columns_cycles
from .loops import chunked, counted_loop
from .mac import emit_macs, load_weights
from .registry import kernel
from .rowloop import SL_NKY, SL_OUTSLICE, SL_ROWIN, emit_row_loop, next_slice, row_table
from .store import store_activated

FP_REGS = 32
PIXEL_PTRS = (r0, r1, r2, r3, r4, r5)
R_W, R_TILE, R_O, R_WBLK, C_TILE, C_KY, C_CHUNK, C_KX = r6, r7, r8, r9, r10, r11, r12, lr


# code bytes worth one cycle per inference, by optimisation goal
BYTES_PER_CYCLE = {"speed": 0.0, "balanced": 0.02, "size": 0.5}


@dataclass(frozen=True)
class ConvPlan:
    a: int            # pixels per tile
    b: int            # output channels per block
    m: int            # input channels per chunk
    scheme: str       # "chunks" | "rows"
    wrows: bool       # weights loaded one input channel (b values) at a time
    unroll: int       # chunks per loop iteration
    unroll_ky: bool = False   # every output row sees every kernel row: no ky loop


# ------------------------------------------------------------------ weight layout
def unit_len(plan: ConvPlan, mc: int, bb: int) -> int:
    """Values loaded by one weight VLDM for a chunk of mc channels."""
    return bb if plan.wrows else mc * bb


def units(plan: ConvPlan, mc: int) -> int:
    return mc if plan.wrows else 1


def unit_bytes(n: int, f16: bool) -> int:
    return 4 * ceil(n / 2) if f16 else 4 * n


def merged(g: Geometry, plan: ConvPlan, f16: bool) -> bool:
    """Chunks may run across kx groups (contiguous inputs, no padding between)."""
    return plan.scheme == "chunks" and g.dw == 1 and not f16


def chunk_sizes(length: int, m: int) -> list[int]:
    return [m] * (length // m) + ([length % m] if length % m else [])


def chunk_bytes(plan: ConvPlan, mc: int, bb: int, f16: bool) -> int:
    return units(plan, mc) * unit_bytes(unit_len(plan, mc, bb), f16)


def group_bytes(g: Geometry, plan: ConvPlan, bb: int, f16: bool) -> int:
    """chunks scheme: bytes of one kx group (all Cin channels)."""
    if merged(g, plan, f16):
        return 4 * g.cin * bb
    return sum(chunk_bytes(plan, mc, bb, f16) for mc in chunk_sizes(g.cin, plan.m))


def ky_bytes(g: Geometry, plan: ConvPlan, bb: int, f16: bool) -> int:
    if plan.scheme == "chunks":
        return g.KW * group_bytes(g, plan, bb, f16)
    return sum(g.KW * chunk_bytes(plan, mc, bb, f16) for mc in chunk_sizes(g.cin, plan.m))


def block_weights(kernel: np.ndarray, plan: ConvPlan, f16: bool) -> np.ndarray:
    """One block's kernel (KH, KW, Cin, bb) in read order, float16 units padded."""
    kh, kw, cin, bb = kernel.shape
    out = []

    def unit(v):
        v = np.asarray(v, np.float32).ravel()
        out.append(v)
        if f16 and v.size % 2:
            out.append(np.zeros(1, np.float32))

    for ky in range(kh):
        if plan.scheme == "chunks":
            if not f16:
                out.append(kernel[ky].ravel())          # [kx][c][j]: any chunking reads it in order
                continue
            for kx in range(kw):
                c0 = 0
                for mc in chunk_sizes(cin, plan.m):
                    part = kernel[ky, kx, c0:c0 + mc]
                    for u in (part if plan.wrows else [part]):
                        unit(u)
                    c0 += mc
        else:
            c0 = 0
            for mc in chunk_sizes(cin, plan.m):
                for kx in range(kw):
                    part = kernel[ky, kx, c0:c0 + mc]
                    for u in (part if plan.wrows else [part]):
                        unit(u)
                c0 += mc
    return np.concatenate(out) if out else np.zeros(0, np.float32)


# ------------------------------------------------------------------ register needs
def tile_groups(g: Geometry, plan: ConvPlan):
    """(count, ranges) per group of identical tiles along an output row; ranges
    holds each pixel's valid (kx0, kx1).  In the chunks scheme the pixels of a
    tile share one range (column runs); in the rows scheme border pixels join
    interior tiles and their invalid taps are skipped at compile time."""
    if plan.scheme == "rows":
        return [(count, ranges) for ox0, count, q, ranges in row_tiles(g, plan.a)]
    groups = []
    for ox0, count, kx0, kx1 in g.column_runs():
        full, rest = divmod(count, plan.a)
        if full:
            groups.append((full, ((kx0, kx1),) * plan.a))
        if rest:
            groups.append((1, ((kx0, kx1),) * rest))
    return groups


def fp_regs_needed(g: Geometry, plan: ConvPlan, ranges, bb: int) -> int:
    p, m = len(ranges), min(plan.m, g.cin)
    inputs = (max(window_columns(g, ranges)) + 1) * m if plan.scheme == "rows" else p * m
    weights = bb if plan.wrows else m * bb
    return p * bb + inputs + weights + 2


# ------------------------------------------------------------------ cost model
def wload_cycles(n: int, f16: bool) -> int:
    return 1 + ceil(n / 2) + n if f16 else 1 + n


def chunk_weight_cycles(plan: ConvPlan, mc: int, bb: int, f16: bool) -> int:
    return units(plan, mc) * wload_cycles(unit_len(plan, mc, bb), f16)


def row_cycles(g: Geometry, plan: ConvPlan, ranges, bb: int, f16: bool) -> float:
    """One input row (ky) of a tile's reduction."""
    p = len(ranges)
    c = 0.0
    if plan.scheme == "rows":
        cols = window_columns(g, ranges)
        used = [sum(1 for k0, k1 in ranges if k0 <= kx < k1) for kx in range(g.KW)]
        sizes = chunk_sizes(g.cin, plan.m)
        for mc in sizes:
            c += load_columns_cycles([col * 4 * g.cin for col in cols], mc)
            c += sum(chunk_weight_cycles(plan, mc, bb, f16) if u else 1 for u in used)
            c += 2 * bb * mc * sum(used)
        loops = (g.cin // plan.m) // plan.unroll if len(sizes) > 1 else 0
        c += 4 * loops
    else:
        nkx = ranges[0][1] - ranges[0][0]
        groups = [nkx * g.cin] if merged(g, plan, f16) else [g.cin] * nkx
        for length in groups:
            for mc in chunk_sizes(length, plan.m):
                c += p * (1 + mc) + chunk_weight_cycles(plan, mc, bb, f16) + 2 * p * bb * mc
            c += 3 * ((length // plan.m) // plan.unroll)
            if g.dw > 1:
                c += p
        c += 1 if nkx < g.KW else 0
    return c + p + 5


def tile_cycles(g: Geometry, plan: ConvPlan, ranges, bb: int, nky: int, f16: bool, act: str) -> float:
    p = len(ranges)
    setup = (p if plan.scheme == "chunks" else 1) + 5 + (1 + bb) + (p - 1) * bb + 2
    store = p * (2 + bb) if act == "linear" else p * (2 + 2.5 * bb)
    row = row_cycles(g, plan, ranges, bb, f16)
    if g.KH == 1 or plan.unroll_ky:
        row -= 3                  # no ky loop: no counter, no branch
        setup -= 5
    return setup + nky * row + store + 4


def layer_cycles(g: Geometry, plan: ConvPlan, f16: bool, act: str) -> float:
    rows: dict[int, int] = {}
    for ky0, ky1 in g.row_ranges():
        rows[ky1 - ky0] = rows.get(ky1 - ky0, 0) + 1
    blocks = [(plan.b, g.cout // plan.b)] + ([(g.cout % plan.b, 1)] if g.cout % plan.b else [])
    groups = tile_groups(g, plan)
    total = 25 * g.OH
    for bb, nb in blocks:
        for nky, nrows in rows.items():
            per_row = 12 + sum(count * tile_cycles(g, plan, ranges, bb, nky, f16, act)
                               for count, ranges in groups)
            total += nrows * nb * per_row
    return total


def code_estimate(g: Geometry, plan: ConvPlan, f16: bool) -> int:
    """Approximate code bytes: one tile body per (tile group, block size)."""
    total = 0
    ky_copies = g.KH if plan.unroll_ky else 1
    for count, ranges in tile_groups(g, plan):
        p = len(ranges)
        for bb in {plan.b, g.cout % plan.b} - {0}:
            wl = units(plan, plan.m) * (1 + (unit_len(plan, plan.m, bb) if f16 else 0))
            if plan.scheme == "rows":
                cols = len(window_columns(g, ranges))
                products = sum(k1 - k0 for k0, k1 in ranges)
                per_chunk = cols * (1 if plan.m <= 2 else 2) + g.KW * wl + 2 * products * bb * plan.m + 2
                chunks = len(chunk_sizes(g.cin, plan.m))
                inner = per_chunk * (min(chunks, plan.unroll) + (1 if g.cin % plan.m else 0))
            else:
                nkx = ranges[0][1] - ranges[0][0]
                per_chunk = p + wl + 2 * p * bb * plan.m
                inner = per_chunk * (plan.unroll + 1)
                if not merged(g, plan, f16):
                    inner *= min(nkx, 3)
            total += 4 * (inner * ky_copies + 4 * p * bb + 30)
    return total


def candidate_plans(g: Geometry):
    for a in range(1, min(len(PIXEL_PTRS), g.OW) + 1):
        for b in range(1, min(g.cout, 16) + 1):
            if a * b > 26:
                continue
            for m in range(1, min(g.cin, 8) + 1):
                for wrows in (False, True):
                    if wrows and m == 1:
                        continue
                    yield ConvPlan(a, b, m, "chunks", wrows, 1)
                    if g.KW > 1 or m == g.cin:
                        yield ConvPlan(a, b, m, "rows", wrows, 1)


def plan_fits(g: Geometry, plan: ConvPlan) -> bool:
    for count, ranges in tile_groups(g, plan):
        for bb in {plan.b, g.cout % plan.b} - {0}:
            if fp_regs_needed(g, plan, ranges, bb) > FP_REGS:
                return False
    return True


def _unrolls(g: Geometry, base: ConvPlan) -> list[int]:
    if base.scheme == "rows":
        chunks = g.cin // base.m
        return [u for u in (1, 2, 4, 8) if u <= chunks and chunks % u == 0] or [1]
    chunks = max(1, (g.KW * g.cin) // base.m)
    return [u for u in (1, 2, 4, 8) if u <= chunks] or [1]


def choose_plan(op: Conv2D, f16: bool, optimize: str, shortlist: int = 12) -> ConvPlan:
    """Cheapest plan by the cost model, under the code budget of `optimize`.

    Tile shapes are ranked first at their largest unrolling; the best few are
    then costed at every unrolling against the code budget."""
    g = Geometry.of(op)
    act = op.activation.kind
    weight_bytes = op.kernel.size * (2 if f16 else 4)
    budget = max(2 * weight_bytes, 6144)
    ranked = []
    for base in candidate_plans(g):
        if not plan_fits(g, base):
            continue
        plan = ConvPlan(base.a, base.b, base.m, base.scheme, base.wrows, max(_unrolls(g, base)))
        ranked.append((layer_cycles(g, plan, f16, act), plan))
    ranked.sort(key=lambda t: (t[0], t[1].a, t[1].b, t[1].m, t[1].scheme, t[1].wrows))
    best = None
    full_rows = g.KH > 1 and all(r == (0, g.KH) for r in g.row_ranges())
    for _, base in ranked[:shortlist]:
        for unroll, unroll_ky in [(u, k) for u in _unrolls(g, base) for k in (False, True)
                                  if full_rows or not k]:
            plan = ConvPlan(base.a, base.b, base.m, base.scheme, base.wrows, unroll, unroll_ky)
            code = code_estimate(g, plan, f16)
            if optimize != "speed" and code > budget:
                continue
            score = layer_cycles(g, plan, f16, act) + BYTES_PER_CYCLE[optimize] * code * g.OH
            key = (score, plan.a, plan.b, plan.m, plan.scheme, plan.wrows, plan.unroll,
                   plan.unroll_ky)
            if best is None or key < best[0]:
                best = (key, plan)
    if best is None:
        return ConvPlan(1, 1, 1, "chunks", False, 1)
    return best[1]


# ------------------------------------------------------------------ emission
class _Emitter:
    def __init__(self, op: Conv2D, ctx: KernelContext, plan: ConvPlan, in_off: int, out_off: int):
        self.op, self.ctx, self.asm, self.plan = op, ctx, ctx.asm, plan
        self.g = Geometry.of(op)
        self.f16 = ctx.float16
        self.in_off, self.out_off = in_off, out_off

    def layout(self) -> None:
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
            ky_bytes(g, plan, rest, self.f16) if rest else 0))

    def emit(self) -> None:
        self.layout()
        emit_row_loop(self.ctx, self.g, table_off=self.table_off, in_off=self.in_off,
                      out_off=self.out_off, w_off=self.w_off, wreg=R_WBLK, width=self.plan.b,
                      total=self.g.cout, body=self.block)

    def block(self, bb: int, wskip_slot: int) -> None:
        g, asm, ctx, plan = self.g, self.asm, self.ctx, self.plan
        ctx.reload(R_TILE, SL_ROWIN)
        ctx.reload(R_O, SL_OUTSLICE)
        for count, ranges in tile_groups(g, plan):
            with counted_loop(asm, C_TILE, count):
                self.tile(ranges, bb, wskip_slot)
        add_const(asm, R_WBLK, R_WBLK, self.block_bytes[bb], scratch=r0)
        next_slice(ctx, 4 * bb)

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
        for q in range(p):
            store_activated(asm, acc[q], R_O, self.op.activation, temps=temps,
                            sfree=[S[i] for i in range(p * bb, 32)])
            if g.cout != bb:
                add_const(asm, R_O, R_O, 4 * (g.cout - bb), scratch=C_CHUNK)
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
        if self.plan.wrows:
            for i in range(mc):
                load_weights(asm, R_W, ws, bb, f16)
                emit_macs(asm, acc_p, [[row[i]] for row in x_p], [ws[:bb]], temps)
        else:
            load_weights(asm, R_W, ws, mc * bb, f16)
            w = [[ws[i * bb + j] for j in range(bb)] for i in range(mc)]
            emit_macs(asm, acc_p, x_p, w, temps)

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
        if nkx > 6 or (nkx > 3 and plan.unroll > 1):
            with counted_loop(asm, C_KX, nkx):
                group()
        else:
            for _ in range(nkx):
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
def emit_conv2d(op: Conv2D, ctx: KernelContext, ins: list[int], out_off: int) -> ConvPlan:
    plan = choose_plan(op, ctx.float16, ctx.optimize)
    _Emitter(op, ctx, plan, ins[0], out_off).emit()
    return plan
