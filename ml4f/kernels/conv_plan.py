"""How a convolution is tiled, and what that costs: the plan's parameters, the
S registers a tile needs, the cycle and code-size model that chooses the
plan under the code budget of `--optimize`.  Instruction costs are the named
facts of kernels/cost.py; the numbers that are this kernel's own estimates are
named here."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from ..cortex_m4 import FP_REGS
from ..graph.ops import LINEAR, Conv2D
from .conv_geometry import Geometry, row_tiles, window_columns
from .conv_layout import chunk_sizes, merged, unit_len, units
from .cost import (
    ALU,
    BYTES_PER_CYCLE,
    BYTES_PER_INSN,
    LDR,
    LOOP,
    MAC,
    VMOV,
    code_budget,
    store,
    vldm,
    weight_load,
)
from . import pixel_stream as ps
from .activations import core_consts
from .loads import load_columns_cycles
from .store import value_cycles

# ------------------------------------------------------------------ plan limits
MAX_TILE_PIXELS = 6          # core registers the emitter keeps as pixel pointers
MAX_BLOCK_CHANNELS = 16      # output channels of a tile
MAX_CHUNK_CHANNELS = 8       # input channels loaded at once
MAX_TILE_SUMS = 26           # S registers left for sums with the fewest inputs, weights, temps
UNROLLS = (1, 2, 4, 8)       # chunks per loop iteration tried
SHORTLIST = 12               # tile shapes costed at every unrolling
# kx taps of a chunks-scheme row are unrolled up to this many, or up to the
# second number when the chunk loop is unrolled too; beyond, a loop
KX_UNROLL, KX_UNROLL_WITH_CHUNKS = 6, 3

# ------------------------------------------------------------------ estimates
ROW_LOOP = 25                # per output row: the row table, spills and reloads (emit_row_loop)
SLICE_LOOP = 12              # per output row and block: pointer reloads, the block loop
KY_SETUP = LDR + ALU + LDR   # the weight pointer from its spill slot, the ky count reloaded
TILE_SETUP_EXTRA = 2         # the weight pointer's start, the first pixel pointer
ROW_STEP_EXTRA = 2           # per kernel row: row steps beyond 12 bits take two instructions
INSNS_PER_MAC = 2            # VMUL + VADD
TILE_FIXED_INSNS = 30        # a tile body's set-up, ky loop and tile loop
STORE_INSNS_PER_VALUE = 4    # a value through an activated store
RESIDENT_BLOCK_SETUP = 2 * LDR + 2 * ALU   # row and slice pointers, the weight pointers


@dataclass(frozen=True)
class ConvPlan:
    a: int            # pixels per tile
    b: int            # output channels per block
    m: int            # input channels per chunk
    scheme: str       # "chunks" | "rows"
    wrows: bool       # weights loaded one input channel (b values) at a time
    unroll: int       # chunks per loop iteration
    unroll_ky: bool = False   # every output row sees every kernel row: no ky loop


def kx_unrolled(nkx: int, unroll: int) -> bool:
    """Whether a chunks-scheme row emits its nkx taps one after the other (else a loop)."""
    return nkx <= KX_UNROLL and not (nkx > KX_UNROLL_WITH_CHUNKS and unroll > 1)


def bias_shared(g: Geometry, plan: ConvPlan, ranges, f16: bool) -> bool:
    """Whether a tile's sums start from its first pixel's bias registers (see
    mac.emit_macs bias_in_first) instead of (p - 1) * bb copies of them: the
    chunks scheme, where every pixel reads every tap, when the tile's first
    chunk is straight-line code (not the body of a loop that runs it again)."""
    if plan.scheme != "chunks" or len(ranges) < 2 or not (g.KH == 1 or plan.unroll_ky):
        return False
    nkx = ranges[0][1] - ranges[0][0]
    if merged(g, plan, f16):
        length = nkx * g.cin
    elif nkx == 1 or kx_unrolled(nkx, plan.unroll):
        length = g.cin
    else:
        return False
    return length // plan.m < 2 * plan.unroll           # chunked(): at most one pass of its loop


# ------------------------------------------------------------------ register needs
def tile_groups(g: Geometry, plan: ConvPlan):
    """(count, ranges) per group of identical tiles along an output row; ranges
    holds each pixel's valid (kx0, kx1).  In the chunks scheme the pixels of a
    tile share one range (column runs); in the rows scheme border pixels join
    interior tiles and their invalid taps are skipped at compile time."""
    return _tile_groups(g, plan.a, plan.scheme)


@lru_cache(maxsize=1024)
def _tile_groups(g: Geometry, a: int, scheme: str) -> tuple:
    if scheme == "rows":
        return tuple((count, ranges) for ox0, count, q, ranges in row_tiles(g, a))
    groups = []
    for ox0, count, kx0, kx1 in g.column_runs():
        full, rest = divmod(count, a)
        if full:
            groups.append((full, ((kx0, kx1),) * a))
        if rest:
            groups.append((1, ((kx0, kx1),) * rest))
    return tuple(groups)


def fp_regs_needed(g: Geometry, plan: ConvPlan, ranges, bb: int) -> int:
    p, m = len(ranges), min(plan.m, g.cin)
    inputs = (max(window_columns(g, ranges)) + 1) * m if plan.scheme == "rows" else p * m
    weights = bb if plan.wrows else m * bb
    return p * bb + inputs + weights + 2


# ------------------------------------------------------------------ cost model
@lru_cache(maxsize=1 << 14)
def chunk_weight_cycles(plan: ConvPlan, mc: int, bb: int, f16: bool) -> int:
    return units(plan, mc) * weight_load(unit_len(plan, mc, bb), f16)


def _size_counts(length: int, m: int) -> list[tuple[int, int]]:
    """chunk_sizes as (size, how many): the costs below are exact integers (or
    halves), so costing each size once and multiplying gives the same sums."""
    full, rest = divmod(length, m)
    return [(m, full)] * bool(full) + [(rest, 1)] * bool(rest)


def row_cycles(g: Geometry, plan: ConvPlan, ranges, bb: int, f16: bool) -> float:
    """One input row (ky) of a tile's reduction."""
    p = len(ranges)
    c = 0.0
    if plan.scheme == "rows":
        cols = window_columns(g, ranges)
        offsets = [col * 4 * g.cin for col in cols]
        used = [sum(1 for k0, k1 in ranges if k0 <= kx < k1) for kx in range(g.KW)]
        taps, skipped = sum(used), sum(1 for u in used if not u)
        for mc, n in _size_counts(g.cin, plan.m):
            c += n * (load_columns_cycles(offsets, mc)
                      + (len(used) - skipped) * chunk_weight_cycles(plan, mc, bb, f16)
                      + skipped * ALU                                        # a skip
                      + MAC * bb * mc * taps)
        loops = (g.cin // plan.m) // plan.unroll if g.cin > plan.m else 0
        c += (LOOP + ALU) * loops                                  # and the pointer step
    else:
        nkx = ranges[0][1] - ranges[0][0]
        groups = [(nkx * g.cin, 1)] if merged(g, plan, f16) else [(g.cin, nkx)]
        for length, copies in groups:
            per = 0.0
            for mc, n in _size_counts(length, plan.m):
                per += n * (p * vldm(mc) + chunk_weight_cycles(plan, mc, bb, f16)
                            + MAC * p * bb * mc)
            per += LOOP * ((length // plan.m) // plan.unroll)
            if g.dw > 1:
                per += p * ALU                                     # dilation: pointers skip
            c += copies * per
        c += ALU if nkx < g.KW else 0                              # skip the clipped taps' weights
    return c + p * ALU + LOOP + ROW_STEP_EXTRA                     # pointers to the next row, ky loop


@lru_cache(maxsize=1 << 16)      # planning costs every tile of thousands of candidate plans
def tile_cycles(g: Geometry, plan: ConvPlan, ranges, bb: int, nky: int, f16: bool,
                per_value: float | None) -> float:
    """`per_value`: cycles per value of the activated store (None: linear; a
    number, not the Activation, keeps the cache key cheap to hash)."""
    p = len(ranges)
    pointers = p if plan.scheme == "chunks" else 1
    copies = 0 if bias_shared(g, plan, ranges, f16) else (p - 1) * bb
    setup = pointers * ALU + KY_SETUP + vldm(bb) + copies * VMOV + TILE_SETUP_EXTRA
    if per_value is None:
        stores = p * store(bb)
    else:
        stores = p * (store(0) + per_value * bb)
    row = row_cycles(g, plan, ranges, bb, f16)
    if g.KH == 1 or plan.unroll_ky:
        row -= LOOP                   # no ky loop: no counter, no branch
        setup -= KY_SETUP
    return setup + nky * row + stores + LOOP + ALU                 # tile loop, tile pointer step


def layer_cycles(g: Geometry, plan: ConvPlan, f16: bool, act) -> float:
    """Estimated cycles of the layer; `act`: its fused Activation."""
    if plan.scheme == "resident":
        return _resident_cycles(g, plan, f16, act)
    rows: dict[int, int] = {}
    for ky0, ky1 in g.row_ranges():
        rows[ky1 - ky0] = rows.get(ky1 - ky0, 0) + 1
    blocks = [(plan.b, g.cout // plan.b)] + ([(g.cout % plan.b, 1)] if g.cout % plan.b else [])
    groups = tile_groups(g, plan)
    per_value = None if act.is_linear else value_cycles(act)
    total = ROW_LOOP * g.OH
    for bb, nb in blocks:
        for nky, nrows in rows.items():
            per_row = SLICE_LOOP + sum(count * tile_cycles(g, plan, ranges, bb, nky, f16, per_value)
                                       for count, ranges in groups)
            total += nrows * nb * per_row
    return total


def _resident_cycles(g: Geometry, plan: ConvPlan, f16: bool, act) -> float:
    """The resident scheme: per output row and block, the block's weights into
    registers, then the row's pixels streaming past (pixel_stream.py)."""
    total = ROW_LOOP * g.OH
    for bb in (plan.b,) * (g.cout // plan.b) + ((g.cout % plan.b,) if g.cout % plan.b else ()):
        total += g.OH * (SLICE_LOOP + RESIDENT_BLOCK_SETUP + ps.load_cycles(g.cin, bb, f16)
                         + len(core_consts(act)) * ALU
                         + ps.stream_cycles(g.cin, bb, g.OW, plan.unroll, act, in_skip=g.sw > 1))
    return total


def code_estimate(g: Geometry, plan: ConvPlan, f16: bool, act=LINEAR) -> int:
    """Approximate code bytes: one tile body per (tile group, block size)."""
    if plan.scheme == "resident":
        return BYTES_PER_INSN * sum(
            TILE_FIXED_INSNS + (bb * g.cin if f16 else 0)
            + ps.stream_insns(g.cin, bb, g.OW, plan.unroll, act)
            for bb in {plan.b, g.cout % plan.b} - {0})
    total = 0
    ky_copies = g.KH if plan.unroll_ky else 1
    for count, ranges in tile_groups(g, plan):
        p = len(ranges)
        for bb in {plan.b, g.cout % plan.b} - {0}:
            # weight loads: a VLDM per unit, and a VCVT per value in float16
            wl = units(plan, plan.m) * (1 + (unit_len(plan, plan.m, bb) if f16 else 0))
            if plan.scheme == "rows":
                cols = len(window_columns(g, ranges))
                products = sum(k1 - k0 for k0, k1 in ranges)
                column_loads = cols * (1 if plan.m <= 2 else 2)       # VLDR each, or pointer + VLDM
                per_chunk = (column_loads + g.KW * wl + INSNS_PER_MAC * products * bb * plan.m
                             + 2)                                     # the chunk loop
                chunks = len(chunk_sizes(g.cin, plan.m))
                inner = per_chunk * (min(chunks, plan.unroll) + (1 if g.cin % plan.m else 0))
            else:
                nkx = ranges[0][1] - ranges[0][0]
                per_chunk = p + wl + INSNS_PER_MAC * p * bb * plan.m
                inner = per_chunk * (plan.unroll + 1)                 # unrolled body + tail
                if not merged(g, plan, f16) and kx_unrolled(nkx, plan.unroll):
                    inner *= nkx                                      # the emitter's kx copies
            total += BYTES_PER_INSN * (inner * ky_copies + STORE_INSNS_PER_VALUE * p * bb
                                       + TILE_FIXED_INSNS)
    return total


def resident_applies(g: Geometry) -> bool:
    """1x1 windows without padding whose weights for one channel fit in registers."""
    return g.KH == g.KW == 1 and g.pt == g.pl == 0 and ps.fits(g.cin, 1)


def candidate_plans(g: Geometry, resident: bool = False):
    if resident and resident_applies(g):
        for b in range(1, min(g.cout, ps.MAX_BLOCK) + 1):
            if ps.fits(g.cin, b):
                yield ConvPlan(1, b, g.cin, "resident", False, 1)
    for a in range(1, min(MAX_TILE_PIXELS, g.OW) + 1):
        for b in range(1, min(g.cout, MAX_BLOCK_CHANNELS) + 1):
            if a * b > MAX_TILE_SUMS:
                continue
            for m in range(1, min(g.cin, MAX_CHUNK_CHANNELS) + 1):
                for wrows in (False, True):
                    if wrows and m == 1:
                        continue
                    yield ConvPlan(a, b, m, "chunks", wrows, 1)
                    if g.KW > 1 or m == g.cin:
                        yield ConvPlan(a, b, m, "rows", wrows, 1)


def plan_fits(g: Geometry, plan: ConvPlan) -> bool:
    if plan.scheme == "resident":
        return ps.fits(g.cin, plan.b)
    for count, ranges in tile_groups(g, plan):
        for bb in {plan.b, g.cout % plan.b} - {0}:
            if fp_regs_needed(g, plan, ranges, bb) > FP_REGS:
                return False
    return True


def _unrolls(g: Geometry, base: ConvPlan) -> list[int]:
    if base.scheme == "resident":
        return [u for u in ps.UNROLLS if u <= max(1, g.OW - 1)]
    if base.scheme == "rows":
        chunks = g.cin // base.m
        return [u for u in UNROLLS if u <= chunks and chunks % u == 0] or [1]
    chunks = max(1, (g.KW * g.cin) // base.m)
    return [u for u in UNROLLS if u <= chunks] or [1]


#: float16 code may grow to this factor of the float32 plan's code, no more
F16_CODE_FACTOR = 1.1


def choose_plan(op: Conv2D, f16: bool, optimize: str, shortlist: int = SHORTLIST) -> ConvPlan:
    """Cheapest plan by the cost model, under the code budget of `optimize`
    (and, for float16 weights, within F16_CODE_FACTOR of the float32 plan's code).

    Tile shapes are ranked first at their largest unrolling; the best few are
    then costed at every unrolling against the code budget.  The resident
    scheme (1x1, few input channels) is a candidate unless a merge is fused."""
    return _choose(Geometry.of(op), op.activation, op.kernel.size, f16, optimize, shortlist,
                   not op.residual)


@lru_cache(maxsize=256)          # validation plans each layer again, on its own
def _choose(g: Geometry, act, kernel_size: int, f16: bool, optimize: str,
            shortlist: int, resident: bool) -> ConvPlan:
    """(Every argument positional: the cache keys of all callers agree.)"""
    budget = code_budget(kernel_size * (2 if f16 else 4))
    cap = None
    if f16:
        cap = F16_CODE_FACTOR * code_estimate(
            g, _choose(g, act, kernel_size, False, optimize, shortlist, resident), False, act)
    ranked = []
    for base in candidate_plans(g, resident):
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
            code = code_estimate(g, plan, f16, act)
            if (optimize != "speed" and code > budget) or (cap is not None and code > cap):
                continue
            score = layer_cycles(g, plan, f16, act) + BYTES_PER_CYCLE[optimize] * code * g.OH
            key = (score, plan.a, plan.b, plan.m, plan.scheme, plan.wrows, plan.unroll,
                   plan.unroll_ky)
            if best is None or key < best[0]:
                best = (key, plan)
    if best is None:
        return ConvPlan(1, 1, 1, "chunks", False, 1)
    return best[1]
