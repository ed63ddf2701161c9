"""Depthwise convolutions, vectorised over channels and tiled over pixels.

Input channels are processed in groups of n (n*M outputs with depth
multiplier M).  A tile is p consecutive output pixels of a row; its p*n*M sums
stay in S registers for the whole window.  Per tap the n*M weights are loaded
once (VLDM, read order) and used by all p pixels.  Inputs come either per
pixel and tap ("pixels"), or, when neighbouring windows overlap, as the union
of the tile's windows on one input row, loaded once per row ("window").

"resident" (the rows whose kernel rows are all valid): the group's bias and
all KH*KW*n*M weights are loaded once per output row and stay in S registers
while the tiles of the row run, so a tile loads nothing but its inputs.  A
tile streams its window column by column (n inputs at a time, VLDR at an
offset from a base pointer moved only when out of reach, each load issued two
columns ahead into one of INPUT_SETS register sets), each column feeding every
product of the tile that reads it; the kernel rows are unrolled and the first
product of each sum adds the bias register (no copy of the bias into the
sums).  With n = 1 (the usual choice) up to 17 pixels fit: 17 sums, 9
weights, the bias, 3 inputs, 2 temporaries; one value per pixel is stored at
offsets from one pointer (VMOV pairs, the integer ReLU, STR).  Where the
registers allow, the columns a tile shares with the next tile of its row (2
per input row at stride 1, 1 at stride 2) are loaded into registers the next
tile reads them from instead of loading them again (row_carries; a loop of
tiles has them loaded once before it).  Rows with
clipped kernel rows (padding at the top and bottom) run resident too, with
their valid kernel rows only (edge_p = 0; the row table's kernel rows word
then holds the row's kind, see _Emitter.kinds), or branch to the "window" or
"pixels" scheme (`edge_p`, `edge_scheme`), as the cost model says.  Streamed
regions run the same code row by row.

Pairs of full rows (`pair_p` > 0): one pass makes 2 output rows of pair_p
pixels, each loaded input row feeding both (4 input rows for 2 output rows
at stride 1, 5 at stride 2).  A pair reads one input row further ahead of
the output rows it writes, so pairs are made only where the output does
not overlap the input or the op's row_pairs lets the planner keep the output
a row further away (depthwise_pairs.py, within the arena allowance), and not
in streamed regions; the row loop's entries then carry their output offset
(rowloop.emit_row_loop with out_in_table).

Channel groups outermost (`outer`): where the output does not overlap the
input at all (the planner keeps it apart for the ops depthwise_pairs.py gives
channels_outer), each group's weights are loaded once for every row of the
group instead of once per row, and the rows run as runs of entries of one
kind (outer_runs: a loop where a run has several; no row table, no kind
dispatch, the group's entry pointers in registers).  Small maps with many
channels pay most for the per-row weights and row-loop work this removes.

Measured with the emulator's cycle model (f32, fused ReLU; the layers of
MobileNetV1-0.25, DS-CNN and dw_bn, compiled op by op, default options):
stride 1 48x48x8 2.83, 24x24x32 2.78, 12x12x64 2.67, 6x6x128 2.56, 3x3x256
2.54, 24x24x16 2.78, 12x12x32 2.67 cycles/MAC (pairs, channels outer), 25x5x64
2.95 (pairs over the input; the "window" scheme: 3.66); stride 2 48x48x16
3.57 (pairs over the input), 24x24x32 3.44, 12x12x64 3.43, 6x6x128 3.43
(channels outer; one row at a time 3.58/3.73/3.95).  The tile schemes before
the resident one took 3.60-3.85 at stride 1 and 4.46-4.54 at stride 2.

Weights per group: [bias n*M f32] [ky][kx][c][m] (each tap word-padded in
float16).  Padding is never copied: the same row table and column runs as the
convolution kernel (see conv.py) clip the window at the borders.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import lru_cache
from math import ceil

import numpy as np

from ..cortex_m4 import FP_REGS
from ..errors import CodegenError
from ..graph.ops import DepthwiseConv2D
from ..graph.shapes import row_groups
from ..thumb.regs import S, lr, r0, r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, r11, r12
from ..weights import check_words
from .context import KernelContext
from .conv_geometry import Geometry, row_tiles
from .conv_geometry import window_columns as positions
from .cost import (ALU, BYTES_PER_CYCLE, BYTES_PER_INSN, LOOP, MAC, VLDR, VMOV, VSTR, code_budget, store,
                   vldm, weight_load)
from .immediates import add_const, add_const_insns
from .loads import VLDR_REACH, load_columns, load_columns_cycles
from .loops import counted_loop
from .mac import emit_products, load_weights
from .registry import kernel
from .rowloop import (SL_NKY, SL_OUTSLICE, SL_ROWIN, SL_SLICES, RowPlacement, emit_row_loop,
                      residual_delta_loader, row_table)
from .activations import core_capable, core_consts, core_relu
from .store import combine_residual, move_to_core, store_activated

MAX_TILE_PIXELS = 10         # pixels per tile tried
MAX_GROUP_CHANNELS = 8       # input channels per group tried
MAX_RESIDENT_PIXELS = 24     # pixels per tile tried with resident weights
INPUT_SETS = 3               # resident: input registers in flight (loaded two columns ahead)
MAX_VLDM = 16                # S registers per VLDM of the resident weights
# estimates (named as in conv_plan.py)
ROW_LOOP = 20                # per output row: the row table, spills and reloads (emit_row_loop)
SLICE_LOOP = 6               # per output row and group: pointer reloads and steps, the group loop
TILE_SETUP = 8               # pointers, the weight pointer from its spill slot, the ky count
ROW_STEP_EXTRA = 1           # per kernel row besides the input step and the ky loop
RESIDENT_TILE_SETUP = 1      # resident: the tile step (the tile pointer is the row pointer)
RESIDENT_ROW_SETUP = 4       # resident: per full row, the first loads' wait
OUTER_SETUP = 12             # channels outer: the pointers, the group count
OUTER_GROUP = 7              # channels outer, per group: the entry pointers' steps, the group loop
OUTER_ROW_SETUP = 1          # channels outer, per entry: the first load's wait
EDGE_TEST = (7, 5)           # resident with edge rows: the kernel-row test and branches (full, edge row)
P, R, R_W, R_TILE, R_O, R_WGRP, C_TILE, C_KY, R2 = r0, r1, r2, r3, r4, r5, r6, r7, lr
ENTRY_IN, ENTRY_OUT, C_ENTRY = r7, r2, r0     # channels outer: the entry pointers, a run's count
TEMPS = (r8, r9, r10, r11)           # free core registers for the fused activation
SCRATCH = r12


@dataclass(frozen=True)
class DwPlan:
    p: int            # pixels per tile
    n: int            # input channels per group
    scheme: str       # "window" | "pixels" | "resident"


@dataclass(frozen=True)
class ResidentPlan(DwPlan):
    """Weights resident over full rows; rows with clipped kernel rows run
    DwPlan(edge_p, n, edge_scheme) (edge_p = 0: the layer has none)."""
    edge_p: int = 0
    edge_scheme: str = ""
    pair_p: int = 0       # > 0: pairs of full rows in one pass, tiles of 2 x pair_p pixels
    outer: bool = False   # channel groups outermost, rows inside (edge_p = 0; an output apart from its input)

    @property
    def edge(self) -> DwPlan | None:
        return DwPlan(self.edge_p, self.n, self.edge_scheme) if self.edge_p else None


def _geometry(op: DepthwiseConv2D) -> Geometry:
    return Geometry.of(op)


def tap_bytes(nm: int, f16: bool) -> int:
    return 4 * ceil(nm / 2) if f16 else 4 * nm


def fp_regs(g: Geometry, plan: DwPlan, ranges, n: int, m: int) -> int:
    p = len(ranges)
    inputs = (max(positions(g, ranges)) + 1) * n if plan.scheme == "window" else p * n
    return p * n * m + inputs + n * m + 2


def tile_cycles(g: Geometry, plan: DwPlan, ranges, n: int, nky: int, m: int,
                f16: bool, act) -> float:
    p, nm = len(ranges), n * m
    setup = TILE_SETUP + vldm(nm) + (p - 1) * nm * VMOV
    products = sum(k1 - k0 for k0, k1 in ranges)
    if plan.scheme == "window":
        row = load_columns_cycles([q * 4 * g.cin for q in positions(g, ranges)], n)
    else:
        row = products * (ALU + vldm(n))                           # pointer step + VLDM per tap
    row += g.KW * weight_load(nm, f16) + MAC * products * nm + ALU + LOOP + ROW_STEP_EXTRA
    stores = p * pixel_store_cycles(act, nm)
    return setup + nky * row + stores


def _add_cycles(value: int) -> int:
    """Cycles of add_const(rd, rn, value, scratch)."""
    return add_const_insns(value) * ALU


def column_loads(offsets, n: int):
    """How a resident tile loads n floats at each byte offset of one input row:
    (the row pointer's offset from the row start, per offset (new base offset
    from the row start or None, offset from the current base)).  n <= 2: VLDR
    within reach (+-VLDR_REACH) of the base, so a base placed VLDR_REACH past
    a column serves the columns on both sides of it (one pointer for a window
    of up to 2 * VLDR_REACH bytes); else VLDM at the base.  A base moves only
    when the next column is out of reach."""
    if n > 2:
        steps, base = [], 0
        for off in offsets:
            steps.append((None, 0) if off == base else (off, 0))
            base = off
        return 0, steps
    hi = VLDR_REACH - 4 * (n - 1)

    def placed(off):        # the farthest base that still reaches `off`
        return off + VLDR_REACH if offsets[-1] - off > hi else off
    origin = base = placed(offsets[0])
    steps = []
    for off in offsets:
        if -VLDR_REACH <= off - base <= hi:
            steps.append((None, off - base))
        else:
            base = placed(off)
            steps.append((base, off - base))
    return origin, steps


def resident_regs(g: Geometry, p: int, n: int, m: int, rows: int = 1) -> int:
    """S registers: rows*p*n*M sums, INPUT_SETS sets of n inputs, two
    temporaries, the bias and the KH*KW*n*M weights."""
    nm = n * m
    return rows * p * nm + INPUT_SETS * n + 2 + nm + g.KH * g.KW * nm


def final_product_move(sums: list, first: int):
    """`sums`: the sum each product of a tile adds to, in emission order.  If
    the last two add to the same sum (its final VADD would wait for the one
    before), the index of a product to move to just before the last one: the
    latest one at or after `first` of another sum that adds nothing after it
    (so every sum keeps its order); else None."""
    if len(sums) < 3 or sums[-1] != sums[-2]:
        return None
    for i in range(len(sums) - 3, first - 1, -1):
        if sums[i] != sums[-1] and sums[i] not in sums[i + 1:]:
            return i
    return None


def tile_origin(g: Geometry, ranges, n: int) -> int:
    """Where a resident tile's row pointer sits, from its window start (column_loads)."""
    return column_loads([col * 4 * g.cin for col in positions(g, ranges)], n)[0]


def carry_pairs(g: Geometry, p: int) -> list[tuple[int, int]]:
    """The window columns a row's p-pixel tiles share with the next tile: (the
    column in a tile, the same column in the next tile), in column order."""
    cols = positions(g, ((0, g.KW),) * p)
    shift, have = p * g.sw, set(cols)
    pairs = [(c, c - shift) for c in cols if c >= shift and c - shift in have]
    # a column both handed on and received (tiles narrower than the kernel's
    # reach) would need two registers at once: none then
    if {out for out, _ in pairs} & {inp for _, inp in pairs}:
        return []
    return pairs


def window_rows(g: Geometry, rows: int, kys=None) -> list[int]:
    """The input rows a tile making `rows` output rows reads (kernel rows `kys`,
    or all), from its first one."""
    nky = g.KH if kys is None else len(kys)
    return sorted({r * g.sh + k * g.dh for r in range(rows) for k in range(nky)})


def carry_regs(g: Geometry, p: int, n: int, rows: int, kys=None) -> int:
    """S registers holding the shared columns of every input row of a tile."""
    return len(window_rows(g, rows, kys)) * len(carry_pairs(g, p)) * n


@lru_cache(maxsize=1 << 12)
def row_carries(g: Geometry, p: int, n: int, m: int, rows: int = 1, kys=None) -> list:
    """How the tiles of a resident row hand on the columns the next tile reads
    too, in registers instead of loading them again: per group of row_tiles
    (g, p), (carry_in, carry_out, preload).  carry_in: its shared columns come
    from the tile before; carry_out: it loads the next tile's into the
    registers; preload: a loop whose first tile has no tile before handing
    them on loads them first.  A loop's tiles all do the same; a shape takes
    part only with the registers for the columns (after its sums, inputs and
    temporaries) and, if it both receives and hands on, when each received
    column is used up before the load of its successor is issued."""
    groups = row_tiles(g, p)
    pairs = carry_pairs(g, p)
    need = carry_regs(g, p, n, rows, kys)
    none = [(False, False, False)] * len(groups)
    if not pairs or resident_regs(g, p, n, m, rows) + need > FP_REGS:
        return none

    def able(ranges, side):          # side 0: holds the columns it hands on, 1: those it receives
        cols = set(positions(g, ranges))
        return all(pair[side] in cols for pair in pairs)

    def apart(ranges):               # received columns used up before their successors load
        index = {c: i for i, c in enumerate(positions(g, ranges))}
        return all(index[out] - index[inp] >= INPUT_SETS for out, inp in pairs)

    def loops(ranges):
        return able(ranges, 0) and able(ranges, 1) and apart(ranges)

    def receives(k):
        count, ranges = groups[k][1], groups[k][3]
        return loops(ranges) if count > 1 else able(ranges, 1)
    out = []
    for k, (_, count, _, ranges) in enumerate(groups):
        handed = bool(out) and out[-1][1]
        if count > 1:
            self_ = loops(ranges)
            out.append((self_, self_, self_ and not handed))
            continue
        carry_in = handed and able(ranges, 1)
        carry_out = (k + 1 < len(groups) and able(ranges, 0) and receives(k + 1)
                     and (not carry_in or apart(ranges)))
        out.append((carry_in, carry_out, False))
    # a tile that hands on to one that does not take them: nothing to hand on
    fixed = []
    for k, (cin, cout, pre) in enumerate(out):
        nxt = out[k + 1][0] if k + 1 < len(out) else False
        fixed.append((cin, cout and (nxt or groups[k][1] > 1), pre))
    return fixed if any(c or o for c, o, _ in fixed) else none


def resident_jobs(g: Geometry, ranges, rows: int, kys=None):
    """A resident tile making `rows` output rows with kernel rows `kys` (all,
    or the valid ones of a clipped row): the columns it reads and, in load
    order, per (input row from the first valid one, column index) the products
    (r, q, ky, kx) of output row r, pixel q with that input (ascending ky, kx
    for every sum)."""
    kys = range(g.KH) if kys is None else kys
    cols = positions(g, ranges)
    users = {col: [(q, kx) for q, (k0, k1) in enumerate(ranges) for kx in range(k0, k1)
                   if q * g.sw + kx * g.dw == col] for col in cols}

    def row(r, ky):
        return r * g.sh + (ky - kys[0]) * g.dh
    jobs = []
    for ir in window_rows(g, rows, kys):
        for i, col in enumerate(cols):
            jobs.append((ir, i, [(r, q, ky, kx) for r in range(rows) for ky in kys
                                 if row(r, ky) == ir for q, kx in users[col]]))
    return cols, jobs


@lru_cache(maxsize=1 << 10)       # the plan search, the cost model and the emitter ask again
def outer_runs(g: Geometry, pairs: bool) -> tuple:
    """The entries of a layer with channel groups outermost (ResidentPlan.outer),
    consecutive entries of one kind a fixed step apart as one run: (kind,
    count, (input, output) byte offsets of its first entry from the group's
    channels, (input, output) step); kind "single", "pair" or ("clipped",
    ky0, ky1)."""
    runs = []
    for kind, oy in resident_entries(g, pairs):
        ky0, ky1 = g.row_ranges()[oy]
        key = ("clipped", ky0, ky1) if kind == "edge" else kind
        at = (4 * ((oy * g.sh - g.pt + ky0 * g.dh) * g.W - g.pl) * g.cin, 4 * oy * g.OW * g.cout)
        if runs and runs[-1][0] == key:
            _, count, first, step = runs[-1]
            gap = tuple(a - f for a, f in zip(at, first))
            if count == 1 or gap == tuple(count * s for s in step):
                runs[-1] = (key, count + 1, first, gap if count == 1 else step)
                continue
        runs.append((key, 1, at, (0, 0)))
    return tuple(runs)


def resident_entries(g: Geometry, pairs: bool):
    """The row loop's entries in row order: ("edge", oy) for a row with clipped
    kernel rows, ("single", oy), or ("pair", oy) for the full rows oy, oy + 1
    (the grouping DepthwiseConv2D.row_access describes to the arena planner)."""
    return row_groups([ky1 - ky0 == g.KH for ky0, ky1 in g.row_ranges()], pairs)


def resident_weight_cycles(g: Geometry, nm: int, f16: bool) -> int:
    taps = g.KH * g.KW
    if f16:
        return vldm(nm) + taps * weight_load(nm, True)
    if nm + taps * nm <= MAX_VLDM:
        return vldm(nm + taps * nm)
    count, total = taps * nm, vldm(nm)
    while count:
        total += vldm(min(count, MAX_VLDM))
        count -= min(count, MAX_VLDM)
    return total


def pixel_store_cycles(act, nm: int) -> int:
    """store_activated of one pixel's nm sums and the step to the next pixel."""
    if act.is_linear:
        return store(nm)
    if not core_capable(act):
        return 3 * nm + 3                                  # about 3 per value (lane programs)
    consts = len(core_consts(act))
    per = (3 if act.threshold > 0 else 1) + (4 if act.max_value is not None else 0)
    groups = ceil(nm / max(1, 4 - consts))
    return 2 * consts + 2 * ceil(nm / 2) + per * nm + groups + nm + ALU


@lru_cache(maxsize=1 << 14)      # plans of one layer share their tiles
def resident_tile_cycles(g: Geometry, ranges, n: int, m: int, act, residual, rows: int = 1,
                         kys=None, carried: int = 0, leave: bool = True) -> float:
    """One tile; `carried`: p of the row's tiles if its shared columns come
    from the tile before (row_carries), else 0; `leave`: not the row's last."""
    p, nm, c4 = len(ranges), n * m, 4 * g.cin
    cols, jobs = resident_jobs(g, ranges, rows, kys)
    origin, steps = column_loads([q * c4 for q in cols], n)
    skipped = {cols.index(c) for _, c in carry_pairs(g, carried)} if carried else set()
    value = n * VLDR if n <= 2 else vldm(n)
    load = [(_add_cycles(b - origin) if b is not None else 0) + (0 if i in skipped else value)
            for i, (b, _) in enumerate(steps)]
    loads = sum(load[i] for _, i, _ in jobs)
    in_rows = sorted({ir for ir, _, _ in jobs})
    row_steps = sum(_add_cycles((b - a) * g.W * c4) for a, b in zip(in_rows, in_rows[1:]))
    products = sum(len(pr) for _, _, pr in jobs) * nm
    # stalls: an address computed right before its load (a column with one
    # product, see resident_tile), the last sum stored right after its VADD

    def emits(j):
        _, i, _ = jobs[j]
        return bool(j and i == 0) or steps[i][0] is not None
    ahead = INPUT_SETS - 1
    sums = [(r, q, c) for _, _, pr in jobs for r, q, _, _ in pr for c in range(nm)]
    tail = sum(len(pr) for _, _, pr in jobs[:max(0, len(jobs) - INPUT_SETS)]) * nm
    stalls = int(final_product_move(sums, tail) is None)          # the last two VADDs to one sum
    stalls += sum(1 for j in range(len(jobs) - ahead) if len(jobs[j][2]) * nm < 2 and emits(j + ahead))
    stalls += sum(1 for j in range(1, min(ahead, len(jobs))) if emits(j))
    if nm == 1 and not residual and strided_store_ok(act):
        stores = strided_store_cycles(act, p, 4 * g.cout, rows, 4 * g.OW * g.cout, leave)
    else:
        stores = rows * p * pixel_store_cycles(act, nm) + (rows - 1) * _add_cycles(4 * g.OW * g.cout)
    setup = RESIDENT_TILE_SETUP if leave else 0
    return setup + stalls + loads + row_steps + products * MAC + stores


def row_tiles_cycles(g: Geometry, p: int, n: int, m: int, act, residual, rows: int = 1,
                     kys=None, from_entry: bool = False) -> float:
    """The resident tiles of one row (of `rows` rows), their loops and shared
    columns; `from_entry`: the tile pointer set from another register (one
    instruction whatever the first origin)."""
    total, at = 0, 0
    in_rows = len(window_rows(g, rows, kys))
    tiles = row_tiles(g, p)
    for k, ((ox0, count, q, ranges), (cin, cout, pre)) in enumerate(
            zip(tiles, row_carries(g, p, n, m, rows, kys))):
        origin = tile_origin(g, ranges, n)
        total += ALU if origin != at or (from_entry and not k) else 0   # the tile pointer to the origin
        at = origin
        # a preload: per input row and shared column a pointer (and its wait) and n VLDR
        total += in_rows * len(carry_pairs(g, p)) * (2 * ALU + n * VLDR) if pre else 0
        total += count * (resident_tile_cycles(g, ranges, n, m, act, residual, rows, kys,
                                               p if cin else 0, count > 1 or k + 1 < len(tiles))
                          + (LOOP if count > 1 else 0))
    return total


def run_shape(plan: ResidentPlan, kind):
    """(output rows, pixels per tile, kernel rows or None) of a resident row kind."""
    if kind == "pair":
        return 2, plan.pair_p, None
    if kind == "single":
        return 1, plan.p, None
    return 1, plan.p, range(kind[1], kind[2])


def _outer_layer_cycles(g: Geometry, plan: ResidentPlan, m: int, f16: bool, act, residual) -> float:
    groups = [(plan.n, g.cin // plan.n)] + ([(g.cin % plan.n, 1)] if g.cin % plan.n else [])
    total = OUTER_SETUP
    for n, ng in groups:
        per = OUTER_GROUP + resident_weight_cycles(g, n * m, f16)
        for kind, count, first, step in outer_runs(g, plan.pair_p > 0):
            rows, p, kys = run_shape(plan, kind)
            row = OUTER_ROW_SETUP + row_tiles_cycles(g, p, n, m, act, residual, rows, kys, True)
            if count == 1:
                per += row + max(ALU, _add_cycles(first[1]))
            else:
                per += 2 * ALU + count * (row + ALU + _add_cycles(step[0]) + _add_cycles(step[1]) + LOOP)
        total += ng * per
    return total


def _resident_layer_cycles(g: Geometry, plan: ResidentPlan, m: int, f16: bool, act, residual) -> float:
    if plan.outer:
        return _outer_layer_cycles(g, plan, m, f16, act, residual)
    entries = resident_entries(g, plan.pair_p > 0)
    kinds = {k for k, _ in entries}
    groups = [(plan.n, g.cin // plan.n)] + ([(g.cin % plan.n, 1)] if g.cin % plan.n else [])
    total = ROW_LOOP * len(entries)
    edge = plan.edge
    ranges_of = g.row_ranges()
    for n, ng in groups:
        cache = {}
        for kind, oy in entries:
            nky = ranges_of[oy][1] - ranges_of[oy][0]
            key = (kind, ranges_of[oy])
            if key not in cache:
                per = SLICE_LOOP + (EDGE_TEST[kind == "edge"] if len(kinds) > 1 or edge is None else 0)
                if kind == "edge" and edge is None:       # clipped rows resident too
                    per += RESIDENT_ROW_SETUP + resident_weight_cycles(g, n * m, f16)
                    per += row_tiles_cycles(g, plan.p, n, m, act, residual, 1, range(*ranges_of[oy]))
                elif kind == "edge":
                    for ox0, count, q, ranges in row_tiles(g, edge.p):
                        per += count * (tile_cycles(g, edge, ranges, n, nky, m, f16, act) + LOOP)
                else:
                    rows, p = (2, plan.pair_p) if kind == "pair" else (1, plan.p)
                    per += RESIDENT_ROW_SETUP + resident_weight_cycles(g, n * m, f16)
                    per += row_tiles_cycles(g, p, n, m, act, residual, rows)
                cache[key] = per
            total += ng * cache[key]
    return total


def layer_cycles(g: Geometry, plan: DwPlan, m: int, f16: bool, act, residual=None) -> float:
    """Estimated cycles of the layer (`act`: the fused activation, `residual`: the
    fused merge's mode or None)."""
    if plan.scheme == "resident":
        return _resident_layer_cycles(g, plan, m, f16, act, residual)
    rows = {}
    for ky0, ky1 in g.row_ranges():
        rows[ky1 - ky0] = rows.get(ky1 - ky0, 0) + 1
    groups = [(plan.n, g.cin // plan.n)] + ([(g.cin % plan.n, 1)] if g.cin % plan.n else [])
    total = ROW_LOOP * g.OH
    for n, ng in groups:
        for nky, nrows in rows.items():
            per_row = SLICE_LOOP
            for ox0, count, q, ranges in row_tiles(g, plan.p):
                per_row += count * (tile_cycles(g, plan, ranges, n, nky, m, f16, act) + LOOP)
            total += nrows * ng * per_row
    return total


def op_cycles(op: DepthwiseConv2D, plan: DwPlan, f16: bool) -> float:
    """Estimated cycles of the op run with `plan`."""
    return layer_cycles(_geometry(op), plan, op.kernel.shape[3], f16, op.activation, op.residual)


def plan_fits(g: Geometry, plan: DwPlan, m: int) -> bool:
    if plan.scheme == "resident":
        if any(resident_regs(g, plan.p, n, m) > FP_REGS for n in {plan.n, g.cin % plan.n} - {0}):
            return False
        if plan.pair_p and any(resident_regs(g, plan.pair_p, n, m, 2) > FP_REGS
                               for n in {plan.n, g.cin % plan.n} - {0}):
            return False
        return plan.edge is None or plan_fits(g, plan.edge, m)
    for ox0, count, q, ranges in row_tiles(g, plan.p):
        for n in {plan.n, g.cin % plan.n} - {0}:
            if fp_regs(g, plan, ranges, n, m) > FP_REGS:
                return False
    return True


SCHEMES = ("window", "pixels", "resident")


def resident_key(g, plan, m, f16, act, residual, optimize, budget):
    """The ranking key of a resident plan, None if its code is over the budget."""
    code = code_estimate(g, plan, m)
    if optimize != "speed" and code > budget:
        return None
    return (layer_cycles(g, plan, m, f16, act, residual) + BYTES_PER_CYCLE[optimize] * code * g.OH,
            plan.p, plan.n, "resident", plan.pair_p, plan.edge_p)


def code_estimate(g: Geometry, plan: DwPlan, m: int) -> int:
    """Code bytes of the layer's tiles (the instructions per distinct tile, the
    kernel rows unrolled in the resident scheme), roughly."""
    nm = plan.n * m
    insns = 0
    if plan.scheme == "resident" and plan.outer:       # a body per run
        for kind, count, _, _ in outer_runs(g, plan.pair_p > 0):
            rows, p, kys = run_shape(plan, kind)
            insns += _resident_row_insns(g, p, plan.n, m, rows, (kys.start, kys.stop) if kys else None) + 6
    elif plan.scheme == "resident":
        clipped = sorted({r for r in g.row_ranges() if r[1] - r[0] < g.KH}) if plan.edge is None else []
        kinds = {k for k, _ in resident_entries(g, plan.pair_p > 0)}
        rows_made = [(1, plan.p, None)] if "single" in kinds else []
        rows_made += [(2, plan.pair_p, None)] if "pair" in kinds else []
        for rows, p, kys in rows_made + [(1, plan.p, r) for r in clipped]:
            insns += _resident_row_insns(g, p, plan.n, m, rows, kys) if p else 0
    for ox0, count, q, ranges in row_tiles(g, plan.p) if plan.scheme != "resident" else ():
        p = len(ranges)
        products = sum(k1 - k0 for k0, k1 in ranges) * nm
        cols = len(positions(g, ranges))
        loads = cols * plan.n if plan.scheme == "window" else products // m * 2
        insns += p * nm + 12 + loads + g.KW * 2 + 2 * products + p * (nm + 3)
    if plan.scheme == "resident" and plan.edge is not None:
        insns += code_estimate(g, plan.edge, m) // BYTES_PER_INSN + 12
    return BYTES_PER_INSN * insns


@lru_cache(maxsize=1 << 12)
def _resident_row_insns(g: Geometry, p: int, n: int, m: int, rows: int, kys) -> int:
    """Instructions of the resident tiles making `rows` rows of p-pixel tiles
    (kys: the valid kernel rows (ky0, ky1) of a clipped row, or None)."""
    nm, insns = n * m, 0
    for ox0, count, q, ranges in row_tiles(g, p):
        cols, jobs = resident_jobs(g, ranges, rows, range(*kys) if kys else None)
        insns += sum(2 * len(pr) * nm + (n if n <= 2 else 2) for _, _, pr in jobs)
        insns += rows * len(ranges) * (nm + 3) + 8
    return insns


def choose_plan(op: DepthwiseConv2D, f16: bool, schemes=SCHEMES, optimize: str = "balanced",
                pairs: bool = False, outer: bool = False) -> DwPlan:
    """The plan of least estimated cycles among `schemes` (the edge rows of a
    resident plan always run one of the others); with `optimize` other than
    "speed", a resident plan must fit the code budget and pays for its code
    bytes as the convolution's plans do (BYTES_PER_CYCLE per byte and row).
    `pairs`: full rows may be made in pairs (not in a streamed region; over the
    input only where the planner left room for them).  `outer`: channel groups
    may run outermost (the output apart from the input, not streamed)."""
    return _choose(_geometry(op), op.kernel.shape[3], op.activation, op.residual,
                   op.kernel.size, f16, tuple(schemes), optimize, pairs, op.name, op.layer_class,
                   outer)


@lru_cache(maxsize=1024)          # the pair choice, the kernel and validation ask again
def _choose(g: Geometry, m: int, act, residual, kernel_size: int, f16: bool, schemes,
            optimize: str, pairs: bool, name: str, layer_class: str, outer: bool = False) -> DwPlan:
    best = None
    best_of_n = {}
    for p in range(1, min(MAX_TILE_PIXELS, g.OW) + 1):
        for n in range(1, min(g.cin, MAX_GROUP_CHANNELS) + 1):
            for scheme in ("window", "pixels"):
                plan = DwPlan(p, n, scheme)
                if not plan_fits(g, plan, m):
                    continue
                key = (layer_cycles(g, plan, m, f16, act, residual), p, n, scheme)
                if scheme in schemes and (best is None or key < best[0]):
                    best = (key, plan)
                if n not in best_of_n or key < best_of_n[n][0]:
                    best_of_n[n] = (key, plan)
    partial = any(ky1 - ky0 < g.KH for ky0, ky1 in g.row_ranges())
    budget = code_budget(kernel_size * (2 if f16 else 4))
    if best is not None:
        best = ((best[0][0] + BYTES_PER_CYCLE[optimize] * code_estimate(g, best[1], m) * g.OH,)
                + best[0][1:], best[1])
    for n in range(1, min(g.cin, MAX_GROUP_CHANNELS) + 1 if "resident" in schemes else 1):
        if partial and n not in best_of_n:
            continue
        edge = best_of_n[n][1] if partial else None
        single = None
        for p in range(1, min(MAX_RESIDENT_PIXELS, g.OW) + 1):
            # the clipped rows in a tile scheme, or resident too (edge_p = 0)
            for e in ([edge, None] if edge else [None]):
                plan = ResidentPlan(p, n, "resident", e.p if e else 0, e.scheme if e else "")
                if not plan_fits(g, plan, m):
                    break
                for trial in [plan] + ([dataclasses.replace(plan, outer=True)] if outer and not e else []):
                    key = resident_key(g, trial, m, f16, act, residual, optimize, budget)
                    if key is not None and (single is None or key < single[0]):
                        single = (key, trial)
            if not plan_fits(g, plan, m):
                break
        if single is None:
            continue
        if best is None or single[0] < best[0]:
            best = single
        entries = resident_entries(g, True)
        singles = any(k == "single" for k, _ in entries)
        if pairs and any(k == "pair" for k, _ in entries):
            for pp in range(1, min(MAX_RESIDENT_PIXELS, g.OW) + 1):
                if not plan_fits(g, dataclasses.replace(single[1], pair_p=pp), m):
                    break
                # the rows left single: as wide as alone, or narrower (less code, few such rows)
                for p in range(single[1].p, 0, -1) if singles else (single[1].p,):
                    plan = dataclasses.replace(single[1], p=p, pair_p=pp)
                    for trial in [plan] + ([dataclasses.replace(plan, outer=True)]
                                           if outer and plan.edge is None and not plan.outer else []):
                        key = resident_key(g, trial, m, f16, act, residual, optimize, budget)
                        if key is not None and key < best[0]:
                            best = (key, trial)
    if best is None:
        raise CodegenError(f"depth_multiplier {m} needs more registers than the M4F has",
                           layer=name, layer_class=layer_class)
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
    def __init__(self, op, ctx: KernelContext, plan: DwPlan, ins: list[int], out_off: int):
        self.op, self.ctx, self.asm, self.plan = op, ctx, ctx.asm, plan
        self.g = _geometry(op)
        self.m = op.kernel.shape[3]
        self.f16 = ctx.float16
        self.in_off, self.out_off = ins[0], out_off
        self.residual_delta = ins[1] - out_off if op.residual else 0   # fused merge operand
        self.reverse = op.output in ctx.reversed      # rows bottom to top (see plan.py)
        self.streamed = False

    def layout_weights(self):
        """The groups' weights in the blob: self.w_off, self.group_bytes[n]."""
        g, ctx = self.g, self.ctx
        self.group_bytes = {}
        first = None
        for bias, taps in weight_groups(self.op, self.plan, self.f16):
            off = ctx.blob.add_f32(bias)
            ctx.blob.add_weights(taps, layer=self.op.name, layer_class=self.op.layer_class)
            first = off if first is None else first
            n = len(bias) // self.m
            self.group_bytes[n] = 4 * n * self.m + g.KH * g.KW * tap_bytes(n * self.m, self.f16)
        self.w_off = first

    def layout(self, placement=None):
        g, ctx, plan = self.g, self.ctx, self.plan
        self.layout_weights()
        rest = g.cin % plan.n
        words = row_table(g, self.op, g.KW * tap_bytes(plan.n * self.m, self.f16),
                          g.KW * tap_bytes(rest * self.m, self.f16) if rest else 0, self.reverse,
                          placement)
        coded = self.coded()
        if self.entries is not None:      # one entry per row or pair: its output offset added
            rows = [words[4 * i:4 * i + 4] for i in range(g.OH)]
            if self.reverse:
                rows = rows[::-1]
            words = []
            for kind, oy in (self.entries[::-1] if self.reverse else self.entries):
                code = self.kinds().index(self.kind_of(kind, oy)) if coded else (
                    g.KH + 1 if kind == "pair" else rows[oy][1])
                words += rows[oy][:1] + [code] + rows[oy][2:]
                words.append(4 * oy * g.OW * g.cout)
        elif coded:                       # the kernel rows word: the row's kind
            per = RowPlacement.WORDS if placement else 4
            order = range(g.OH - 1, -1, -1) if self.reverse else range(g.OH)
            for i, oy in enumerate(order):
                words[per * i + 1] = self.kinds().index(self.kind_of("row", oy))
        self.table_off = ctx.blob.add_words(words)

    def kind_of(self, kind: str, oy: int):
        """"single", "pair", "edge" (a clipped row in a tile scheme) or
        ("clipped", ky0, ky1) (a clipped row, resident)."""
        ky0, ky1 = self.g.row_ranges()[oy]
        if kind == "pair":
            return "pair"
        if ky1 - ky0 == self.g.KH:
            return "single"
        return "edge" if self.plan.edge is not None else ("clipped", ky0, ky1)

    def kinds(self) -> list:
        """The kinds of row this layer has, in a fixed order."""
        if self.plan.scheme != "resident":
            return []
        if self.entries is not None:
            found = {self.kind_of(k, oy) for k, oy in self.entries}
        else:
            found = {self.kind_of("row", oy) for oy in range(self.g.OH)}
        return sorted(found, key=lambda k: (isinstance(k, tuple), str(k)))

    def coded(self) -> bool:
        """Whether the table's kernel rows word holds the kind (resident clipped rows)."""
        return any(isinstance(k, tuple) for k in self.kinds())

    def emit(self):
        plan = self.plan
        if getattr(plan, "outer", False):
            return self.emit_outer()
        pairs = plan.scheme == "resident" and plan.pair_p > 0
        self.entries = resident_entries(self.g, True) if pairs else None
        self.layout()
        emit_row_loop(self.ctx, self.g, table_off=self.table_off, in_off=self.in_off,
                      out_off=self.out_off, w_off=self.w_off, wreg=R_WGRP, width=self.plan.n,
                      total=self.g.cin, body=self.group, slice_steps=self.slice_steps(),
                      reverse=self.reverse,
                      rows=len(self.entries) if pairs else None, out_in_table=pairs)

    def emit_outer(self) -> None:
        """Channel groups outermost (ResidentPlan.outer): each group's weights
        loaded once for all its rows, the rows as runs of entries of one kind
        (outer_runs: a loop where a run has several), no row table and no
        dispatch.  ENTRY_IN and ENTRY_OUT point into the group's input and
        output channels; a loop's entries step them."""
        g, asm, ctx, plan = self.g, self.asm, self.ctx, self.plan
        # the rows' offsets as the row table would hold them: every row sees an input row,
        # every offset fits 32 bits
        check_words(row_table(g, self.op, 0, 0) + [v for _, _, first, step in outer_runs(g, plan.pair_p > 0)
                                                   for v in (*first, *step)])
        self.layout_weights()
        ctx.weights_ptr(R_WGRP, self.w_off)
        ctx.arena_ptr(ENTRY_IN, self.in_off)
        ctx.arena_ptr(ENTRY_OUT, self.out_off)
        full, rest = divmod(g.cin, plan.n)
        if full > 1:
            asm.mov_const(r0, full)
            ctx.spill(r0, SL_SLICES)
            top = asm.here()
            self.outer_group(plan.n, last=False, counted=True)
            asm.subs(r0, r0, 1)
            ctx.spill(r0, SL_SLICES)
            asm.b(top, cond="ne")
        elif full == 1:
            self.outer_group(plan.n, last=not rest)
        if rest:
            self.outer_group(rest, last=True)

    def outer_group(self, n: int, last: bool, counted: bool = False) -> None:
        """One group of n channels over every row (emit_outer); unless `last`,
        ENTRY_IN and ENTRY_OUT end at the next group's channels; `counted`: the
        group count reloaded into r0 before those steps (no wait for it)."""
        asm = self.asm
        bias, w = self.resident_weights(n)
        at = (0, 0)                       # ENTRY_IN's, ENTRY_OUT's offsets from the group's start
        for kind, count, first, step in outer_runs(self.g, self.plan.pair_p > 0):
            rows, p, kys = run_shape(self.plan, kind)
            if count == 1:                # the tile pointers from the entry pointers
                self.resident_tiles(n, rows, p, kys, bias, w, ENTRY_IN, first[0] - at[0],
                                    lambda d=first[1] - at[1]: add_const(asm, R_O, ENTRY_OUT, d,
                                                                         scratch=SCRATCH))
                continue
            add_const(asm, ENTRY_IN, ENTRY_IN, first[0] - at[0], scratch=SCRATCH)
            add_const(asm, ENTRY_OUT, ENTRY_OUT, first[1] - at[1], scratch=SCRATCH)
            with counted_loop(asm, C_ENTRY, count):
                self.resident_tiles(n, rows, p, kys, bias, w, ENTRY_IN, 0,
                                    lambda: asm.mov(R_O, ENTRY_OUT))
                add_const(asm, ENTRY_IN, ENTRY_IN, step[0], scratch=SCRATCH)
                add_const(asm, ENTRY_OUT, ENTRY_OUT, step[1], scratch=SCRATCH)
            at = (first[0] + count * step[0], first[1] + count * step[1])
        if counted:
            self.ctx.reload(r0, SL_SLICES)
        if not last:
            add_const(asm, ENTRY_IN, ENTRY_IN, 4 * n - at[0], scratch=SCRATCH)
            add_const(asm, ENTRY_OUT, ENTRY_OUT, 4 * n * self.m - at[1], scratch=SCRATCH)

    def emit_streamed(self, placement) -> None:
        """A subroutine running a range of rows inside a streamed region
        (rowloop.py): rows placed as `placement` says (RowPlacement)."""
        self.streamed = True
        assert not getattr(self.plan, "pair_p", 0), "pairs of rows are not made in a streamed region"
        self.entries = None
        self.layout(placement)
        emit_row_loop(self.ctx, self.g, table_off=self.table_off, in_off=self.in_off,
                      out_off=self.out_off, w_off=self.w_off, wreg=R_WGRP, width=self.plan.n,
                      total=self.g.cin, body=self.group, slice_steps=self.slice_steps(), streamed=True)

    def slice_steps(self):
        """The per-group slots the row loop advances: the output and input pointers."""
        return ((SL_OUTSLICE, 4 * self.plan.n * self.m), (SL_ROWIN, 4 * self.plan.n))

    def group(self, n: int, wskip_slot: int):
        g, asm, ctx, plan = self.g, self.asm, self.ctx, self.plan
        dispatch = plan.scheme == "resident" and len(self.kinds()) > 1
        if dispatch:
            ctx.reload(r0, SL_NKY)          # first: the test below does not wait for it
        ctx.reload(R_TILE, SL_ROWIN)
        ctx.reload(R_O, SL_OUTSLICE)
        if plan.scheme == "resident":
            # the entry's kind from its kernel rows word: fewer than KH (clipped,
            # the edge scheme), KH (one full row), KH + 1 (a pair of full rows)
            # or, with resident clipped rows, the kind's index in kinds()
            def body(k):                    # True if it moved R_WGRP to the next group
                if k == "edge":
                    self.edge_row(n, wskip_slot)
                    return False
                self.resident_row(n, *run_shape(self.plan, k))
                return True
            kinds = self.kinds()
            coded = self.coded()
            # the most frequent kind last, tested first: one taken branch, no jump to the end
            common = self.common_kind()
            bodies = [k for k in kinds if k != common] + [common]
            cond = {"single": "eq", "pair": "gt", "edge": "lt"}
            labels = {k: asm.label() for k in bodies[1:]}
            done = asm.label()
            if dispatch:
                if not coded:
                    asm.cmp(r0, g.KH)
                for k in [common] + bodies[1:-1]:
                    if coded:
                        asm.cmp(r0, self.kinds().index(k))
                    asm.b(labels[k], cond="eq" if coded else cond[k])
            for i, k in enumerate(bodies):
                if i:
                    asm.bind(labels[k])
                if not body(k):
                    add_const(asm, R_WGRP, R_WGRP, self.group_bytes[n], scratch=r0)
                if i + 1 < len(bodies):
                    asm.b(done)
            asm.bind(done)
            return
        else:
            for ox0, count, q, ranges in row_tiles(g, plan.p):
                with counted_loop(asm, C_TILE, count):
                    self.tile(ranges, n, wskip_slot, plan.scheme)
        add_const(asm, R_WGRP, R_WGRP, self.group_bytes[n], scratch=r0)

    def common_kind(self):
        """The kind of row entry the layer has most of (the first in kinds() on a tie)."""
        if self.entries is not None:
            found = [self.kind_of(k, oy) for k, oy in self.entries]
        else:
            found = [self.kind_of("row", oy) for oy in range(self.g.OH)]
        return max(self.kinds(), key=found.count)

    def edge_row(self, n: int, wskip_slot: int):
        edge = self.plan.edge
        for ox0, count, q, ranges in row_tiles(self.g, edge.p):
            with counted_loop(self.asm, C_TILE, count):
                self.tile(ranges, n, wskip_slot, edge.scheme)

    def resident_row(self, n: int, rows: int, p: int, kys=None):
        """`rows` rows whose kernel rows are all valid (or one row with kernel
        rows `kys`): the weights loaded once, then the tiles."""
        self.resident_tiles(n, rows, p, kys, *self.resident_weights(n))

    def resident_weights(self, n: int):
        """The group's bias and taps into the top S registers, R_WGRP moved to
        the next group's (every load writes back): (bias, {(ky, kx): taps})."""
        g, asm, nm = self.g, self.asm, n * self.m
        nw = g.KH * g.KW * nm
        bias = [S[FP_REGS - nw - nm + j] for j in range(nm)]
        ws = [S[FP_REGS - nw + i] for i in range(nw)]
        combined = not self.f16 and nm + nw <= MAX_VLDM
        asm.vldm(R_WGRP, bias[0], nm + nw if combined else nm, wb=True)   # bias and taps: one VLDM
        if self.f16:
            for t in range(g.KH * g.KW):
                load_weights(asm, R_WGRP, ws[t * nm:], nm, True)
        elif not combined:
            for i in range(0, nw, MAX_VLDM):
                asm.vldm(R_WGRP, ws[i], min(MAX_VLDM, nw - i), wb=True)
        w = {(ky, kx): ws[(ky * g.KW + kx) * nm:(ky * g.KW + kx + 1) * nm]
             for ky in range(g.KH) for kx in range(g.KW)}
        return bias, w

    def resident_tiles(self, n: int, rows: int, p: int, kys, bias, w, src=R_TILE, offset: int = 0,
                       then=None) -> None:
        """The tiles of `rows` rows whose window's first row and column is at
        src + offset (R_TILE is set from it, then `then()` emits what else the
        row needs before its first load) and whose first output is at R_O, the
        weights in registers.  The row's last tile leaves R_TILE and R_O
        where they are (the caller sets them for the next row)."""
        g, asm, m = self.g, self.asm, self.m
        tiles = row_tiles(g, p)
        carries = row_carries(g, p, n, m, rows, kys)
        at = tile_origin(g, tiles[0][3], n)      # R_TILE's offset from the current tile's window start
        add_const(asm, R_TILE, src, offset + at, scratch=SCRATCH)
        if then is not None:
            then()
        for k, ((ox0, count, q, ranges), (cin, cout, pre)) in enumerate(zip(tiles, carries)):
            if count > 1:           # a loop's tiles start at their origin
                origin = tile_origin(g, ranges, n)
                add_const(asm, R_TILE, R_TILE, origin - at, scratch=SCRATCH)
                at = origin
            if pre:
                self.preload_carry(p, n, rows, kys, at)
            with counted_loop(asm, C_TILE, count):
                at = self.resident_tile(ranges, n, bias, w, rows, kys, (cin, cout, p), at,
                                        leave=count > 1 or k + 1 < len(tiles))

    def carry_map(self, p: int, n: int, rows: int, kys) -> dict:
        """(input row, column) -> the S registers a row's tiles hand on (after
        the sums, inputs and temporaries of its widest tile): each shared
        column's registers under its column in the tile handing it on and in
        the next tile (carry_pairs)."""
        g = self.g
        k = rows * p * n * self.m + INPUT_SETS * n + 2
        regs = {}
        for ir in window_rows(g, rows, kys):
            for out, inp in carry_pairs(g, p):
                regs[ir, out] = regs[ir, inp] = [S[k + i] for i in range(n)]
                k += n
        return regs

    def preload_carry(self, p: int, n: int, rows: int, kys, at: int) -> None:
        """The shared columns of a loop's first tile, loaded before the loop
        (R_TILE `at` bytes past its window start)."""
        g, asm, c4 = self.g, self.asm, 4 * self.g.cin
        regs = self.carry_map(p, n, rows, kys)
        for ir in sorted({ir for ir, _ in regs}):
            for _, inp in carry_pairs(g, p):
                add_const(asm, R, R_TILE, ir * g.W * c4 + inp * c4 - at, scratch=SCRATCH)
                for i, reg in enumerate(regs[ir, inp]):
                    asm.vldr(reg, R, 4 * i)

    def resident_tile(self, ranges, n: int, bias, w, rows: int = 1, kys=None, carry=(False, False, 0),
                      at: int = 0, leave: bool = True) -> int:
        """The tile's window streamed column by column, input row after input row
        (each input row feeding every output row of the pass that reads it): each
        column's load issued while the products of the column two before run
        (INPUT_SETS sets of input registers), so no product waits for a load.
        `carry` (carry_in, carry_out, p of the row's tiles, see row_carries):
        the columns shared with the tile before come from its registers (not
        loaded), those shared with the next one are loaded into registers it
        finds them in (carry_map).  R_TILE points `at` bytes past the tile's
        window start and is its row pointer (moved to the window's origin, see
        column_loads); it ends at the next tile's, as far past it as here: the
        origin, which is returned (unless not `leave`: the row's last tile,
        R_TILE and the strided stores' R_O are left where they are)."""
        g, asm, ctx, m = self.g, self.asm, self.ctx, self.m
        p, nm, c4 = len(ranges), n * m, 4 * g.cin
        acc = [[[S[(r * p + q) * nm + j] for j in range(nm)] for q in range(p)] for r in range(rows)]
        base = rows * p * nm
        xsets = [[S[base + k * n + i] for i in range(n)] for k in range(INPUT_SETS)]
        temps = (S[base + INPUT_SETS * n], S[base + INPUT_SETS * n + 1])
        cols, jobs = resident_jobs(g, ranges, rows, kys)
        origin, steps = column_loads([col * c4 for col in cols], n)
        state = {"ptr": R_TILE, "turn": 0}     # the tile pointer is the row pointer too
        carry_in, carry_out, row_p = carry
        pairs = carry_pairs(g, row_p) if carry_in or carry_out else []
        mapped = self.carry_map(row_p, n, rows, kys) if pairs else {}
        handed = {inp for _, inp in pairs} if carry_in else set()       # not loaded here
        passed = {out for out, _ in pairs} if carry_out else set()      # loaded for the next tile
        shared = {key: regs for key, regs in mapped.items() if key[1] in handed | passed}

        def inputs(j):             # the registers job j's column goes to
            ir, i, _ = jobs[j]
            return shared.get((ir, cols[i]), xsets[j % INPUT_SETS])

        def address(j):            # the pointer work before job j's load (row step, new base)
            ir, i, _ = jobs[j]
            if j and i == 0:
                add_const(asm, R_TILE, R_TILE, (ir - jobs[j - 1][0]) * g.W * c4, scratch=SCRATCH)
                state["ptr"] = R_TILE
            new_base = steps[i][0]
            if i == 0 and new_base is None:
                state["ptr"] = R_TILE
            if new_base is not None:
                state["ptr"] = (R, R2)[state["turn"]]
                state["turn"] ^= 1
                add_const(asm, state["ptr"], R_TILE, new_base - origin, scratch=SCRATCH)

        def load(j):
            xs, rel = inputs(j), steps[jobs[j][1]][1]
            if cols[jobs[j][1]] in handed:
                return                 # the tile before loaded it
            if n <= 2:
                for k in range(n):
                    asm.vldr(xs[k], state["ptr"], rel + 4 * k)
            else:
                asm.vldm(state["ptr"], xs[0], n)

        add_const(asm, R_TILE, R_TILE, origin - at, scratch=SCRATCH)   # at the window's origin
        started = set()
        items = []
        tail = 0                          # where the products of the third-last column begin
        for j, (ir, i, products) in enumerate(jobs):
            xs = inputs(j)
            if j == len(jobs) - INPUT_SETS:
                tail = sum(1 for it in items if not callable(it))
            macs = []
            for r, q, ky, kx in products:
                for c in range(n):
                    for jj in range(m):
                        a = acc[r][q][c * m + jj]
                        src = a if a in started else bias[c * m + jj]
                        started.add(a)
                        macs.append((a, xs[c], w[ky, kx][c * m + jj], src))
            ahead = j + INPUT_SETS - 1       # the column loaded while this one's products run:
            if ahead < len(jobs):            # its address after the first, the load after the second
                ops = [lambda k=ahead: address(k), lambda k=ahead: load(k)]
                macs[1:1] = ops[:1]
                macs[2 + (len(macs) > 2):2 + (len(macs) > 2)] = ops[1:]
            items += macs
        where = [k for k, it in enumerate(items) if not callable(it)]
        move = final_product_move([items[k][0] for k in where], tail)
        if move is not None:              # no further load overwrites its input (none are ahead)
            items.insert(where[-1] - 1, items.pop(where[move]))
        for j in range(min(INPUT_SETS - 1, len(jobs))):
            address(j)
            load(j)
        emit_products(asm, items, temps)
        held = {reg for regs in mapped.values() for reg in regs}      # the next tile's, or this row's
        sfree = [S[i] for i in range(rows * p * nm, FP_REGS - g.KH * g.KW * nm - nm) if S[i] not in held]
        if nm == 1 and not self.op.residual and strided_store_ok(self.op.activation):
            store_strided(asm, [[a[0] for a in acc[r]] for r in range(rows)], R_O, 4 * g.cout,
                          self.op.activation, TEMPS, row_bytes=4 * g.OW * g.cout, advance=leave)
            rows_left = 0
        else:
            rows_left = rows
        for r in range(rows_left):
            ptr = R_O
            if r:                       # the next output row, through a free pointer
                ptr = R2
                add_const(asm, R2, R_O, 4 * g.OW * g.cout - 4 * p * g.cout, scratch=SCRATCH)
            for q in range(p):
                if self.op.residual:
                    combine_residual(asm, acc[r][q], ptr, self.residual_delta, self.op.residual,
                                     sfree, R,
                                     delta_from=residual_delta_loader(ctx) if self.streamed else None)
                store_activated(asm, acc[r][q], ptr, self.op.activation, temps=TEMPS, sfree=sfree)
                if g.cout != nm:
                    add_const(asm, ptr, ptr, 4 * (g.cout - nm), scratch=SCRATCH)
        if leave:               # to the next tile's window, at the same origin (the row steps undone)
            add_const(asm, R_TILE, R_TILE, p * g.sw * c4 - jobs[-1][0] * g.W * c4, scratch=SCRATCH)
        return origin

    def tile(self, ranges, n: int, wskip_slot: int, scheme: str):
        """p = len(ranges) output pixels; pixel q uses taps kx in ranges[q]."""
        g, asm, ctx, m = self.g, self.asm, self.ctx, self.m
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
        window = scheme == "window"
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
        sfree = [S[i] for i in range(p * nm, 32)]
        for q in range(p):
            if self.op.residual:
                combine_residual(asm, acc[q], R_O, self.residual_delta, self.op.residual,
                                 sfree, R,
                                 delta_from=residual_delta_loader(ctx) if self.streamed else None)
            store_activated(asm, acc[q], R_O, self.op.activation, temps=TEMPS, sfree=sfree)
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


STR_REACH = 4095              # STR (immediate, T3)
VSTR_REACH = 1020


def strided_store_ok(act) -> bool:
    """One value per pixel, the pixels a row's stride apart, stored at offsets
    from one pointer: linear (VSTR) or plain ReLU / ReLU with immediates (STR)."""
    return act.is_linear or (core_capable(act) and not core_consts(act))


def _strided_bases(p: int, stride: int, reach: int, rows: int = 1, row_bytes: int = 0):
    """Per value (row after row): (pointer step before it or 0, offset from the
    pointer); and where the pointer ends, from where it started."""
    out, base = [], 0
    for off in (r * row_bytes + q * stride for r in range(rows) for q in range(p)):
        if off - base > reach:
            out.append((off - base, 0))
            base = off
        else:
            out.append((0, off - base))
    return out, base


def store_strided(asm, regs, ptr, stride: int, act, temps, row_bytes: int = 0,
                  advance: bool = True) -> None:
    """regs[r][q] (activated) to [ptr + r * row_bytes + q * stride], the rows
    at offsets from the one pointer while in reach; ptr advances past a row's
    values (if `advance`, else it stays at the last base).  Pairs of
    consecutive S registers move to core registers in one VMOV."""
    p = len(regs[0])
    bases, last = _strided_bases(p, stride, VSTR_REACH if act.is_linear else STR_REACH, len(regs),
                                 row_bytes)
    values = [r for row in regs for r in row]
    if act.is_linear:
        for r, (step, off) in zip(values, bases):
            if step:
                add_const(asm, ptr, ptr, step, scratch=SCRATCH)
            asm.vstr(r, ptr, off)
    else:
        for row in range(len(regs)):
            for q in range(0, p, 2):
                pair = list(temps[:min(2, p - q)])
                move_to_core(asm, pair, regs[row][q:q + len(pair)])
                core_relu(asm, pair, act, {})
                for k, t in enumerate(pair):
                    step, off = bases[row * p + q + k]
                    if step:
                        add_const(asm, ptr, ptr, step, scratch=SCRATCH)
                    asm.str(t, ptr, off)
    if advance:
        add_const(asm, ptr, ptr, p * stride - last, scratch=SCRATCH)


def strided_store_cycles(act, p: int, stride: int, rows: int = 1, row_bytes: int = 0,
                         advance: bool = True) -> int:
    bases, last = _strided_bases(p, stride, VSTR_REACH if act.is_linear else STR_REACH, rows,
                                 row_bytes)
    steps = sum(_add_cycles(step) for step, _ in bases if step)
    steps += _add_cycles(p * stride - last) if advance else 0
    if act.is_linear:
        return rows * p * VSTR + steps
    return rows * (ceil(p / 2) * 2 + p * ALU + p + 1) + steps   # VMOV pairs, BIC, STR (pipelined)


@kernel(DepthwiseConv2D)
def emit_depthwise(op: DepthwiseConv2D, ctx: KernelContext, ins: list[int], out_off: int) -> DwPlan:
    # pairs of rows read one input row further than the output row they write: over
    # the input only where the planner left room for them (row_pairs); channel groups
    # outermost only where the output is apart from the input
    apart = op.output not in ctx.overlapping
    plan = choose_plan(op, ctx.float16, optimize=ctx.optimize, pairs=op.row_pairs or apart, outer=apart)
    _Emitter(op, ctx, plan, ins, out_off).emit()
    return plan


def emit_depthwise_rows(op: DepthwiseConv2D, ctx: KernelContext, ins: list[int], out_off: int,
                        placement) -> DwPlan:
    """The depthwise convolution as a subroutine of a streamed region (see rowloop.py)."""
    plan = choose_plan(op, ctx.float16, optimize=ctx.optimize)
    _Emitter(op, ctx, plan, ins, out_off).emit_streamed(placement)
    return plan
