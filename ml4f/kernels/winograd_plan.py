"""Winograd convolution, the conv family's variant for 3-wide kernels at stride
1: its tiles along each axis, the plan (register tile of the element-wise
stage, scratch layout), the cycle and code-size model, and the choice per
layer against the direct kernel (conv_plan.py) under the goal of `--optimize`.

F(m, 3) per axis: a tile of m outputs reads alpha = m + 2 inputs; F(2x2, 3x3)
for 2-D convolutions (16 positions per tile, 2.25x fewer multiplies), F(2, 3)
(4 positions, 1.5x) or F(4, 3) (6 positions, 2x) along x for 1-D ones.  Instruction costs are the named
facts of kernels/cost.py; the estimates of this kernel's own are named here.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import lru_cache

from ..graph.ops import Conv2D, Graph
from ..graph.ops.conv import WINOGRAD, WinogradConv2D, winograd_transform
from .conv_geometry import Geometry
from .cost import ALU, BYTES_PER_INSN, LDR, LOOP, MAC, VCVT, VMLA, store, vldm, vstm
from .store import value_cycles

# ------------------------------------------------------------------ plan limits
MAX_GEMM_SUMS = 24           # S registers of the element-wise stage's sums (tiles x channels)
MAX_BLOCK = 5                # output channels per block (the output transform holds 6 x block)
MAX_TILES = 6                # tiles per group
MAX_CIN = 300                # input channels (loads reach 3 * Cin floats from a row pointer)
VSTR_REACH = 1020            # VSTR/VLDR immediate offsets
BLOCK_UNROLL_CHANNELS = 8    # input channels per iteration of the reduction loop, at most

# ------------------------------------------------------------------ estimates
CALL = 6                     # BL + BX LR, refills included
DRIVER_PER_CALL = 8          # spill-slot reloads and pointer arithmetic around a call
SUB_SETUP = 10               # a subroutine's pointer set-up
#: the whole object may grow by this factor at most with Winograd layers ("balanced")
BALANCED_OBJECT_GROWTH = 1.25


@dataclass(frozen=True)
class Axis:
    """Tiles along one axis: input size, output size, leading padding, F(m, 3)."""

    size: int
    out: int
    pad: int
    m: int

    @property
    def alpha(self) -> int:
        return self.m + 2 if self.m > 1 else 1

    @property
    def tiles(self) -> int:
        return -(-self.out // self.m)

    def tile(self, k: int) -> tuple[int, tuple[bool, ...]]:
        """(outputs, input taps inside the input) of tile k."""
        o0 = k * self.m
        i0 = o0 - self.pad
        return (min(self.m, self.out - o0),
                tuple(0 <= i0 + x < self.size for x in range(self.alpha)))

    def interior(self) -> tuple[int, int]:
        """Tiles [lo, hi) with all their outputs and every input tap inside the input."""
        lo = -(-self.pad // self.m)
        hi = min((self.size - self.alpha + self.pad) // self.m, (self.out - self.m) // self.m) + 1
        return (lo, hi) if hi > lo else (0, 0)

    def runs(self, group: int = 1) -> list[tuple[int, int, tuple]]:
        """Consecutive groups of `group` tiles with identical patterns:
        (first tile, groups, (pattern per tile of the group)).  The groups wholly
        in the interior are counted, not looked at (long 1-D inputs)."""
        lo, hi = self.interior()
        inner = (self.m, (True,) * self.alpha)
        out: list[list] = []

        def add(k0, count, pat):
            if out and out[-1][2] == pat:
                out[-1][1] += count
            else:
                out.append([k0, count, pat])
        k0 = 0
        while k0 < self.tiles:
            if lo <= k0 and k0 + group <= hi:
                count = (hi - k0) // group
                add(k0, count, (inner,) * group)
                k0 += count * group
                continue
            add(k0, 1, tuple(self.tile(k) for k in range(k0, min(k0 + group, self.tiles))))
            k0 += group
        return [tuple(r) for r in out]


@dataclass(frozen=True)
class WinogradPlan:
    tile: tuple[int, int]     # outputs per tile (m_y, m_x)
    a: int                    # tiles per group (rows of the element-wise register tile)
    b: int                    # output channels per block
    cblock: int               # input channels per block of the scratch layout

    @property
    def positions(self) -> int:
        return _alpha(self.tile[0]) * _alpha(self.tile[1])


def _alpha(m: int) -> int:
    return m + 2 if m > 1 else 1


def axes(g: Geometry, tile) -> tuple[Axis, Axis]:
    return Axis(g.H, g.OH, g.pt, tile[0]), Axis(g.W, g.OW, g.pl, tile[1])


def tiles_for(g: Geometry) -> list[tuple[int, int]]:
    """The tiles of an eligible convolution: F(2x2, 3x3) or, 1-D, F(2, 3) and
    F(4, 3) along x (the cost model picks)."""
    if (g.sh, g.sw, g.dh, g.dw) != (1, 1, 1, 1) or g.KW != 3:
        return []
    if g.KH == 3:
        return [(2, 2)]
    if g.KH == 1 and g.H == 1:
        return [(1, 2), (1, 4)]
    return []


def tile_for(g: Geometry) -> tuple[int, int] | None:
    tiles = tiles_for(g)
    return tiles[0] if tiles else None


def eligible(op) -> bool:
    """Stride 1, dilation 1, a kernel 3 wide (and 3 high, or a 1-D
    convolution), at most MAX_CIN input channels, every output seeing an input."""
    if type(op) is not Conv2D or op.kernel.shape[2] > MAX_CIN:
        return False
    g = Geometry.of(op)
    if tile_for(g) is None:
        return False
    if any(k1 <= k0 for k0, k1 in g.row_ranges()) or any(
            k1 <= k0 for k0, k1 in map(g.kx_range, g.border_columns())):
        return False
    return op.activation.fusable


def cblock_for(cin: int, a: int, positions: int) -> int:
    """Input channels per block of the scratch layout [block][position][channel][tile]:
    the largest divisor of Cin keeping every position of a channel, for every tile of
    the group, within a VSTR's reach."""
    best = 1
    for cb in range(1, cin + 1):
        if cin % cb == 0 and (positions - 1) * cb * a * 4 + 4 * (a - 1) <= VSTR_REACH:
            best = cb
    return best


def group_columns(mx: int, masks) -> list[int]:
    """The window columns (from the group's first tile's column 0) that a group's
    input transform loads: tile k reads columns k*mx .. k*mx + alpha - 1, and the
    columns two neighbouring tiles share are loaded and transformed along y once."""
    cols = set()
    for k, mask in enumerate(masks):
        for x, inside in enumerate(mask):
            if inside:
                cols.add(k * mx + x)
    return sorted(cols)


def column_bases(cin: int, columns) -> tuple[dict[int, int], int]:
    """The column the row pointers point at when each column is loaded (they move
    on, every row pointer by one ADD, when a column lies beyond a VLDR's reach),
    and where they are left."""
    base, bases = 0, {}
    for x in columns:
        if (x - base) * 4 * cin > VSTR_REACH:
            base = x
        bases[x] = base
    return bases, base


def make_plan(g: Geometry, tile, a: int, b: int) -> WinogradPlan:
    p = _alpha(tile[0]) * _alpha(tile[1])
    return WinogradPlan(tile, a, b, cblock_for(g.cin, a, p))


def _consts(tile) -> int:
    """S registers holding transform coefficients other than 0 and +-1."""
    vals = set()
    for m in tile:
        for mat in (WINOGRAD[m][0], WINOGRAD[m][2]):
            vals |= {abs(float(c)) for c in mat.ravel()}
    return len(vals - {0.0, 1.0})


def candidate_plans(g: Geometry, tile):
    ax = axes(g, tile)[1]
    pixels = tile[0] * tile[1]
    for a in range(1, min(MAX_TILES, ax.tiles) + 1):
        for b in range(1, min(MAX_BLOCK, g.cout) + 1):
            if (a * b <= MAX_GEMM_SUMS and a * b + a + b + 2 <= 32
                    and (2 + pixels) * b + _consts(tile) <= 32):
                yield make_plan(g, tile, a, b)


# ------------------------------------------------------------------ cost model
def _combo_cycles(coefs) -> int:
    """Cycles of one linear combination as _combine emits it (winograd.py):
    nothing for an alias, VADD/VSUB for +-1 terms, VMUL or VMOV then VMLA/VMLS
    for the others."""
    unit = sum(1 for c in coefs if abs(c) == 1)
    other = len(coefs) - unit
    if not coefs or (len(coefs) == 1 and unit == 1):
        return 0
    if unit >= 2:
        return 1 + (unit - 2) + VMLA * other
    if unit == 1:
        return 1 + VMLA * other
    return 1 + VMLA * (other - 1)


def _transform_ops(bt, mask_rows, masks, mx: int, need=None) -> int:
    """Cycles of the separable input transform of one channel for a group of tiles
    with these taps valid: along y once per column, along x per tile (`need`:
    only the entries position_needs says)."""
    bty, btx = bt
    ny, nx = len(mask_rows), len(masks[0])
    cols = set(group_columns(mx, masks))
    total = 0
    t_nonzero = {}

    def needed(k, i, j):
        return need is None or need[i * nx + j] > k
    for x in cols:
        for i in range(ny):
            coefs = [bty[i][r] for r in range(ny) if bty[i][r] and mask_rows[r]]
            coefs = coefs if any(needed(0, i, j) for j in range(nx)) else []
            total += _combo_cycles(coefs)
            t_nonzero[i, x] = bool(coefs)
    for k in range(len(masks)):
        for i in range(ny):
            for j in range(nx):
                if needed(k, i, j):
                    total += _combo_cycles([btx[j][x] for x in range(nx)
                                            if btx[j][x] and t_nonzero.get((i, k * mx + x))])
    return total


def input_transform_cycles(g: Geometry, plan: WinogradPlan, mask_rows, masks, need=None) -> float:
    """One group's input transform (masks: each tile's columns inside the input) over
    every input channel (`need`: position_needs)."""
    bty, btx = WINOGRAD[plan.tile[0]][0], WINOGRAD[plan.tile[1]][0]
    mx, rows = plan.tile[1], sum(mask_rows)
    cols = group_columns(mx, masks)
    bases, _ = column_bases(g.cin, cols)
    moves = len(set(bases.values()) - {0})
    zeros = any(not all(m) for m in masks) or not all(mask_rows)
    stored = (plan.positions * len(masks) if need is None
              else sum(min(n, len(masks)) for n in need))
    per = (2 * rows * len(cols) + ALU * rows * moves
           + _transform_ops((bty, btx), mask_rows, masks, mx, need)
           + 2 * stored + rows + 1                                # VLDR, ops, VSTR, pointer steps
           + (2 if zeros else 0))                                 # a zero register
    nb = g.cin // plan.cblock
    return (CALL + SUB_SETUP + g.cin * (per + (LOOP if plan.cblock > 1 else 0))
            + nb * (ALU + LOOP) + DRIVER_PER_CALL)


def positions_read(plan: WinogradPlan, cy: int, cx: int) -> list[int]:
    """The positions (row-major over alpha_y x alpha_x) the output transform of a
    tile with cy x cx outputs reads: a coefficient of an output it stores is not zero."""
    aty, atx = WINOGRAD[plan.tile[0]][2], WINOGRAD[plan.tile[1]][2]
    nx = len(atx[0])
    return [xi for xi in range(len(aty[0]) * nx)
            if any(aty[oy][xi // nx] * atx[ox][xi % nx] for oy in range(cy) for ox in range(cx))]


def position_needs(plan: WinogradPlan, cy: int, cxs) -> tuple[int, ...] | None:
    """Per position (row-major over alpha_y x alpha_x) of a group of tiles with
    cy output rows and cxs[t] output columns: how many of its leading tiles the
    output transform reads it for (a coefficient of an output it stores is not
    zero): the tiles past the outputs' edge skip the products no stored output
    uses.  None: every tile needs every position."""
    reads = [set(positions_read(plan, cy, cx)) for cx in cxs]
    need = []
    for xi in range(plan.positions):
        users = [xi in r for r in reads]
        n = sum(users)
        need.append(n if all(users[:n]) else len(cxs))      # a leading run, else all
    return None if all(n == len(cxs) for n in need) else tuple(need)


def position_runs(plan: WinogradPlan, need):
    """The element-wise stage's loops for `need` (position_needs): per run of
    identical position rows (rows, [(tiles, positions) per run along the row])."""
    nx = _alpha(plan.tile[1])
    out = []
    for i in range(0, len(need), nx):
        row = need[i:i + nx]
        runs = []
        for n in row:
            if runs and runs[-1][0] == n:
                runs[-1][1] += 1
            else:
                runs.append([n, 1])
        runs = tuple(tuple(r) for r in runs)
        if out and out[-1][1] == runs:
            out[-1][0] += 1
        else:
            out.append([1, runs])
    return [tuple(r) for r in out]


def gemm_pairs(plan: WinogradPlan, n: int, bb: int, f16: bool) -> bool:
    """Whether two channels' weights of an n-tile register tile come in one VLDM
    (float32, an even channel block, registers for both)."""
    return not f16 and plan.cblock % 2 == 0 and n * bb + n + 2 * bb + 2 <= 32


def gemm_cycles(g: Geometry, plan: WinogradPlan, a: int, bb: int, f16: bool, need=None) -> float:
    """The element-wise stage of one group and block: every position over every
    channel (`need`: only the tiles position_needs says, per position)."""
    nb = g.cin // plan.cblock
    u = unroll_blocks(g.cin, plan.cblock)
    loops = (nb - 1) // u

    def per_position(n):
        pairs = gemm_pairs(plan, n, bb, f16)
        w = (vldm((bb + 1) // 2) + bb * VCVT if f16 else vldm(2 * bb) / 2 if pairs else vldm(bb))
        per_channel = vldm(n) + w + MAC * n * bb + (ALU if n < plan.a else 0)
        first = per_channel - n * bb * issue_vadd()
        return (first + (g.cin - 1) * per_channel + nb * ALU + loops * LOOP
                + ALU + vstm(n * bb) + LOOP + (ALU if n < a else 0))
    if need is None:
        return CALL + SUB_SETUP + plan.positions * per_position(a) + DRIVER_PER_CALL
    total = 0
    for rows, runs in position_runs(plan, need):
        per_row = sum(3 * ALU if n == 0 else k * per_position(n) for n, k in runs)
        total += rows * (per_row + (LOOP if rows > 1 else 0))
    return CALL + SUB_SETUP + total + DRIVER_PER_CALL


def issue_vadd() -> int:
    return MAC // 2


def unroll_blocks(cin: int, cblock: int) -> int:
    """Channel blocks per iteration of the reduction loop (the blocks left over
    are emitted after the loop)."""
    nb = cin // cblock
    return max(1, min(nb - 1, BLOCK_UNROLL_CHANNELS // cblock))


def output_transform_cycles(plan: WinogradPlan, counts, bb: int, per_value: float | None,
                            residual: bool) -> float:
    """One tile's output transform for one block: the sums, bias, activation, stores
    (`per_value`: cycles per value of the activated store, None: linear)."""
    aty, atx = WINOGRAD[plan.tile[0]][2], WINOGRAD[plan.tile[1]][2]
    cy, cx = counts
    terms = 0
    for oy in range(cy):
        for ox in range(cx):
            cs = [aty[oy][i] * atx[ox][j] for i in range(len(aty[0])) for j in range(len(atx[0]))
                  if aty[oy][i] and atx[ox][j]]
            terms += sum(1 if abs(c) == 1 else VMLA for c in cs)
            terms += 0 if abs(cs[0]) == 1 else 1                  # VMOV of the bias
    pixels = cy * cx
    st = store(bb) if per_value is None else store(0) + per_value * bb
    res = pixels * (ALU + vldm(bb) + bb) if residual else 0
    read = len(positions_read(plan, cy, cx))
    return (CALL + DRIVER_PER_CALL + vldm(bb) + read * (vldm(bb) + ALU)
            + terms * bb + pixels * (ALU + st) + res)


def layer_cycles(g: Geometry, plan: WinogradPlan, f16: bool, act, residual: bool) -> float:
    """`act`: the fused Activation."""
    per_value = None if act.is_linear else value_cycles(act)
    ay, ax = axes(g, plan.tile)
    blocks = [(plan.b, g.cout // plan.b)] + ([(g.cout % plan.b, 1)] if g.cout % plan.b else [])
    total = 0.0
    for _, strips, (spat,) in ay.runs():
        cy, mask_rows = spat
        for _, groups, gpat in ax.runs(plan.a):
            a = len(gpat)
            need = position_needs(plan, cy, [cx for cx, _ in gpat])
            per = input_transform_cycles(g, plan, mask_rows, tuple(m for _, m in gpat), need)
            for bb, nb in blocks:
                per += nb * (gemm_cycles(g, plan, a, bb, f16, need) + LOOP + 2 * LDR
                             + sum(output_transform_cycles(plan, (cy, cx), bb, per_value, residual)
                                   for cx, _ in gpat))
            total += strips * groups * (per + LOOP + 4 * LDR)
        total += strips * (LOOP + 4 * LDR)
    return total


def code_estimate(g: Geometry, plan: WinogradPlan, f16: bool) -> int:
    """Approximate code bytes: the driver, one input transform per group pattern, one
    element-wise stage per (group size, block size), one output transform per
    (output pattern, block size)."""
    ay, ax = axes(g, plan.tile)
    in_pats, out_pats, gemms, driver = set(), set(), set(), 0
    sizes = {plan.b, g.cout % plan.b} - {0}
    for _, _, (spat,) in ay.runs():
        for _, _, gpat in ax.runs(plan.a):
            need = position_needs(plan, spat[0], [cx for cx, _ in gpat])
            gemms |= {(len(gpat), bb, need) for bb in sizes}
            in_pats.add((spat[1], tuple(mask for _, mask in gpat)))
            for cx, _ in gpat:
                out_pats |= {((spat[0], cx), bb) for bb in sizes}
            driver += 24 + len(sizes) * (12 + 6 * len(gpat))
    insns = driver + sum(56 + plan.positions * 4 * len(masks) for _, masks in in_pats)
    for a, bb, need in gemms:
        w = 1 + (bb if f16 else 0)
        bodies = [a] if need is None else [n for _, runs in position_runs(plan, need)
                                           for n, _ in runs if n]
        insns += sum(plan.positions * (n * bb * (1 + 2 * 0) + 12
                                       + unroll_blocks(g.cin, plan.cblock) * plan.cblock
                                       * (1 + w + 2 * n * bb)) + 10 for n in bodies)
    for (counts, bb) in out_pats:
        insns += plan.positions * (2 + 2 * counts[0] * counts[1]) + 6 * counts[0] * counts[1] + 8
    return BYTES_PER_INSN * insns


def weight_bytes(g: Geometry, plan: WinogradPlan, f16: bool) -> int:
    """The transformed weights and the biases, as laid out (float16 units padded per channel)."""
    blocks = [(plan.b, g.cout // plan.b)] + ([(g.cout % plan.b, 1)] if g.cout % plan.b else [])
    unit = (lambda bb: 4 * -(-bb // 2)) if f16 else (lambda bb: 4 * bb)
    return sum(n * (4 * bb + plan.positions * g.cin * unit(bb)) for bb, n in blocks)


@lru_cache(maxsize=256)
def _ranked(g: Geometry, act, f16: bool, residual: bool) -> tuple:
    """(cycles, plan) of every candidate plan, fastest first."""
    ranked = [(layer_cycles(g, plan, f16, act, residual), plan.a, plan.b, plan)
              for tile in tiles_for(g) for plan in candidate_plans(g, tile)]
    ranked.sort(key=lambda t: t[:3])
    return tuple((c, plan) for c, _, _, plan in ranked)


def ranked_plans(op: Conv2D, f16: bool) -> list[tuple[float, WinogradPlan]]:
    """The plans of an eligible convolution, fastest first, each the fastest of
    its scratch size (fewer tiles per group: less scratch)."""
    out, seen = [], set()
    for c, plan in _ranked(Geometry.of(op), op.activation, f16, bool(op.residual)):
        if (plan.tile, plan.a) not in seen:
            seen.add((plan.tile, plan.a))
            out.append((c, plan))
    return out


def choose_plan(op: Conv2D, f16: bool) -> tuple[WinogradPlan, float]:
    """The fastest Winograd plan of an eligible convolution, and its cycle estimate."""
    c, plan = ranked_plans(op, f16)[0]
    return plan, c


def winograd_op(op: Conv2D, plan: WinogradPlan) -> WinogradConv2D:
    fields = {f.name: getattr(op, f.name) for f in dataclasses.fields(op)}
    u = winograd_transform(op.kernel, plan.tile).astype("float32")
    return WinogradConv2D(**fields, transformed=u, tile=plan.tile, tiles=plan.a, block=plan.b,
                          cblock=plan.cblock)


def plan_of(op: WinogradConv2D) -> WinogradPlan:
    return WinogradPlan(op.tile, op.tiles, op.block, op.cblock)


# ------------------------------------------------------------------ the choice
@dataclass(frozen=True)
class Choice:
    op: WinogradConv2D
    saved: float              # estimated cycles saved against the direct kernel
    extra_bytes: int          # weights and code beyond the direct kernel's


@dataclass(frozen=True)
class Candidate:
    index: int                # in graph.ops
    plans: tuple              # Choice per plan, fastest first (then less scratch)
    inner: int | None = None  # in the streamed region graph.ops[index], its op

    def replaced(self, ops: list, choice: Choice) -> list:
        """The graph's ops with this convolution replaced by choice.op."""
        if self.inner is None:
            new = choice.op
        else:
            region = ops[self.index]
            inner = list(region.ops)
            inner[self.inner] = choice.op
            new = dataclasses.replace(region, ops=inner)
        return ops[:self.index] + [new] + ops[self.index + 1:]

    @property
    def best(self) -> Choice:
        return self.plans[0]


def candidates(graph: Graph, float16: bool, optimize: str, always: bool = False) -> list[Candidate]:
    """Every top-level convolution the Winograd kernel runs faster than the
    direct one (by the two cost models), with what each of its plans saves and
    costs (`always`: every eligible one)."""
    from .conv_plan import SHORTLIST
    from .conv_plan import _choose as direct_choose
    from .conv_plan import code_estimate as direct_code
    from .conv_plan import layer_cycles as direct_cycles
    out = []
    convs = [(i, None, op) for i, op in enumerate(graph.ops)]
    convs += [(i, j, inner) for i, op in enumerate(graph.ops) if op.kind == "stream"
              for j, inner in enumerate(op.ops)]
    for i, j, op in convs:
        if not eligible(op):
            continue
        g = Geometry.of(op)
        direct = direct_choose(g, op.activation, op.kernel.size, float16, optimize, SHORTLIST,
                               not op.residual)
        dcycles = direct_cycles(g, direct, float16, op.activation)
        wbytes = (2 if float16 else 4) * op.kernel.size + 4 * g.cout
        plans = []
        for cycles, plan in ranked_plans(op, float16):
            if not always and cycles >= dcycles:
                continue
            extra = (weight_bytes(g, plan, float16) - wbytes
                     + code_estimate(g, plan, float16) - direct_code(g, direct, float16))
            plans.append(Choice(winograd_op(op, plan), dcycles - cycles, max(0, extra)))
        if plans:
            out.append(Candidate(i, tuple(plans), j))
    return out


def object_estimate(graph: Graph, float16: bool) -> int:
    """The object's bytes as far as the graph tells: its weights (the code comes on top)."""
    total = 0
    for op in graph.ops:
        for arr in op.weight_arrays():
            total += arr.size * (2 if float16 else 4)
    return total


#: --winograd: "auto" (the rule below), "off" (direct kernels only), "always" (every
#: eligible convolution, whatever the cost model, the object or the arena say: for
#: tests and measurements; `max_arena` still holds)
WINOGRAD_MODES = ("auto", "off", "always")


def choose_winograd(graph: Graph, *, float16: bool, optimize: str, limit: float,
                    mode: str = "auto", max_arena: int | None = None) -> Graph:
    """The graph with the convolutions that run faster as Winograd replaced by
    WinogradConv2D ops: "speed" takes every faster one, "balanced" the ones
    saving the most cycles per extra byte while the object's weights grow by at
    most BALANCED_OBJECT_GROWTH, "size" none.  Each takes the fastest of its
    plans that fits what is left of that budget and whose scratch keeps the
    arena within `limit` (arena_allowance.arena_limit of the direct kernels'
    arena), or stays direct; "always" takes every one that fits `max_arena`.
    The convolutions of the graph and of its streamed regions are considered (a
    region's rings then hold the Winograd windows and whole tile rows,
    streaming.py); those of frame-by-frame ops stay direct."""
    from ..plan import plan_arena
    always = mode == "always"
    if mode == "off" or (optimize == "size" and not always):
        return graph
    found = candidates(graph, float16, optimize, always)
    if not found:
        return graph
    if optimize == "balanced" and not always:
        found.sort(key=lambda c: (-c.best.saved / max(1, c.best.extra_bytes), c.index, c.inner or 0))
        budget = (BALANCED_OBJECT_GROWTH - 1) * object_estimate(graph, float16)
    else:
        found.sort(key=lambda c: (-c.best.saved, c.index, c.inner or 0))
        budget = None
    if always:
        limit = float("inf") if max_arena is None else max_arena
    ops = list(graph.ops)
    spent = 0
    taken: dict[int, Choice] = {}

    def fits(trial) -> bool:
        return plan_arena(dataclasses.replace(graph, ops=trial)).arena_bytes <= limit
    # first every layer with its plan of least scratch (so that the arena admits as many
    # layers as it can), then each, in the same order, with its fastest plan that fits
    for k, c in enumerate(found):
        for choice in sorted(c.plans, key=lambda p: p.op.scratch_bytes()):
            if budget is not None and spent + choice.extra_bytes > budget:
                continue
            trial = c.replaced(ops, choice)
            if fits(trial):
                ops, spent, taken[k] = trial, spent + choice.extra_bytes, choice
                break
    for k, c in enumerate(found):
        if k not in taken:
            continue
        for choice in c.plans:
            if choice is taken[k]:
                break
            extra = spent - taken[k].extra_bytes + choice.extra_bytes
            if budget is not None and extra > budget:
                continue
            trial = c.replaced(ops, choice)
            if fits(trial):
                ops, spent, taken[k] = trial, extra, choice
                break
    return dataclasses.replace(graph, ops=ops)
