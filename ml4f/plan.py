"""Arena planning: a byte offset for every tensor, aiming at the lower bound.

Tensors share buffers in two ways: an in-place op writes its output over an
input that dies at that op (the output is that input's buffer), and a view
(a View op: cropping of whole rows, the operands of a multi-input op
validated alone) is a byte range inside its input's buffer.  The operands of
a concatenation along its outermost axis may likewise be byte ranges of its
output, written there by their producers, and the operands of one along the
channels their channel slices, written with the output's pixel stride by
producers whose kernels can (Op.writes_pixels_apart): the concatenation then
moves nothing (concat_slices; taken where it does not raise the bound).  A buffer
lives from the step that creates it to the last step that reads any tensor in it.

A windowed op (convolution, depthwise, pooling: Op.row_access) whose input
dies there may write its output over that input behind the read front: the
two buffers form an overlap pair, allowed to share addresses when the output
lies at least `forward` bytes below the input (output rows written top to
bottom, each below every input row still to be read) or, for kernels that can
run their rows bottom to top, at least `reverse` bytes above it.  The plan
says which way each such op runs (ArenaPlan.reversed).

The lower bound is the largest total size of the buffers alive at any one step
plus the words the format keeps at the start of the arena.  Placement tries
strategies in turn until one reaches the bound, else keeps the smallest arena
(docs/arena-planning.md): two-ended (every output at the end of the arena
opposite to its input: chains reach the bound), first-fit / best-fit in a few
orders, and a bounded search (for graphs whose tensors live across several
steps: residual blocks, concatenations).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from math import prod

from .errors import CodegenError
from .graph.ops import Graph, Op, elems
from .graph.ops.base import overlap_offsets  # noqa: F401  (re-exported)
from .graph.ops.merge import Concat
from .graph.ops.shape import View

RESERVED = 8          # arena[0..3]: weights address, arena[4..7]: 0.0 (as in the original format)
SCRATCH = ":scratch"  # suffix of the buffer an op needs for itself while it runs
ALIGN = 4


def _align(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


@dataclass
class ArenaPlan:
    arena_bytes: int
    lower_bound: int
    offsets: dict[str, int] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    lifetimes: dict[str, tuple[int, int]] = field(default_factory=dict)
    method: str = ""
    buffer_of: dict[str, str] = field(default_factory=dict)    # tensor -> the tensor owning its buffer
    reversed: frozenset = frozenset()   # outputs of windowed ops that run their rows bottom to top
    overlapping: frozenset = frozenset()  # outputs written over their input behind the read front
    op_by_op_bound: int = 0             # the bound without overlap pairs (whole tensors op by op)
    pairs: list = field(default_factory=list)   # overlap pairs (input, output, step, bytes saved)
    # concat operands written into their channel slice: tensor -> (pixel, row) bytes apart
    pixels_apart: dict = field(default_factory=dict)

    def scratch_offsets(self) -> dict[str, int]:
        """op output -> arena offset of the scratch its op needs while it runs."""
        return {t[:-len(SCRATCH)]: off for t, off in self.offsets.items() if t.endswith(SCRATCH)}

    def as_dict(self) -> dict:
        return {"arena_bytes": self.arena_bytes, "lower_bound": self.lower_bound,
                "op_by_op_bound": self.op_by_op_bound,
                "reserved_bytes": RESERVED, "method": self.method,
                "overlapping": sorted(self.overlapping), "reversed": sorted(self.reversed),
                "pairs": [{"input": x, "output": y, "step": step, "saved_bytes": saved}
                          for x, y, step, saved in self.pairs],
                "channel_slices": sorted(self.pixels_apart),
                "tensors": [{"tensor": t, "offset": self.offsets[t], "bytes": self.sizes[t],
                             "first_step": self.lifetimes[t][0], "last_step": self.lifetimes[t][1],
                             **({"buffer": self.buffer_of[t]}
                                if self.buffer_of.get(t, t) != t else {})}
                            for t in self.offsets]}


@dataclass
class Buffers:
    """Which buffer every tensor lives in, and where in it."""

    root: dict[str, str]                 # tensor -> buffer (named after the tensor that owns it)
    inner: dict[str, int]                # tensor -> byte offset inside its buffer
    tsize: dict[str, int]                # tensor -> bytes
    size: dict[str, int]                 # buffer -> bytes
    life: dict[str, tuple[int, int]]     # buffer -> (first step, last step)
    order: list[str]                     # buffers in creation order
    source: dict[str, str]               # buffer -> the buffer of its producer's first input
    lower_bound: int                     # RESERVED + most bytes alive at one step
    pairs: dict[str, "Pair"] = field(default_factory=dict)   # output buffer -> its overlap pair
    op_by_op_bound: int = 0              # the bound with no overlap pair
    slices: dict = field(default_factory=dict)   # the concat_slices taken

    @cached_property
    def x_pairs(self) -> dict[str, list["Pair"]]:
        """Input buffer -> the overlap pairs it is the input of."""
        out: dict[str, list[Pair]] = {}
        for pair in self.pairs.values():
            out.setdefault(pair.x, []).append(pair)
        return out


@dataclass(frozen=True)
class Pair:
    """Output buffer `y` may overlap input buffer `x` (alive together at `step` only)
    when off(y) - off(x) <= forward, or >= reverse (None: the kernel runs top to
    bottom only)."""

    x: str
    y: str
    step: int
    forward: int
    reverse: int | None
    saving: int                          # bytes saved at `step` at the best allowed offset

    def allows(self, off_x: int, off_y: int) -> bool:
        d = off_y - off_x
        return d <= self.forward or (self.reverse is not None and d >= self.reverse)

    def runs_reversed(self, off_x: int, off_y: int) -> bool:
        return self.reverse is not None and not off_y - off_x <= self.forward \
            and off_y - off_x >= self.reverse


def concat_slices(graph: Graph) -> dict[str, dict[str, int]]:
    """Concatenations whose operands their producers can write straight into
    the output: concat output -> {operand: byte offset in the output}.  Either
    the operands lie one after the other in the output (nothing before the
    axis but ones), or the axis is the channels and every producer can write
    its pixels a whole output pixel apart; each operand is a distinct tensor
    computed by an op of the graph (not a view, not another such
    concatenation) and read by the concatenation only."""
    producer = {op.output: op for op in graph.ops}
    uses: dict[str, int] = {}
    for op in graph.ops:
        for t in op.inputs:
            uses[t] = uses.get(t, 0) + 1
    out = {}
    for op in graph.ops:
        if not isinstance(op, Concat):
            continue
        outermost = prod(op.out_shape[:op.axis]) == 1
        if not outermost and not (op.axis == len(op.out_shape) - 1 and all(
                t in producer and producer[t].writes_pixels_apart() for t in op.inputs)):
            continue
        if len(set(op.inputs)) != len(op.inputs) or any(
                t not in producer or isinstance(producer[t], (View, Concat)) or uses[t] != 1
                or t == graph.output for t in op.inputs):
            continue
        offsets, off = {}, 0
        for t, shape in zip(op.inputs, op.in_shapes):
            offsets[t] = off
            off += 4 * (elems(shape) if outermost else shape[-1])
        out[op.output] = offsets
    return out


def pixels_apart(graph: Graph, slices: dict) -> dict[str, tuple[int, int]]:
    """The operands of the channel concatenations among `slices`: tensor ->
    (bytes from one output pixel to the next, from one output row to the next)."""
    concat = {op.output: op for op in graph.ops if isinstance(op, Concat)}
    out = {}
    for c, operands in slices.items():
        op = concat[c]
        if prod(op.out_shape[:op.axis]) == 1:
            continue
        pixel = 4 * op.out_shape[-1]
        for t in operands:
            out[t] = (pixel, pixel * op.out_shape[-2])
    return out


def buffers(graph: Graph, slices: dict | None = None) -> Buffers:
    """Buffers of every tensor: views inside their input, in-place outputs in
    the input they overwrite (one that dies at that op and fills its buffer),
    the operands of a concatenation in its output where that lowers the bound
    (or keeps it: no copies), `slices` (concat_slices) where given."""
    if slices is None:
        slices = {}
        best = buffers(graph, slices)
        for c, operands in concat_slices(graph).items():
            trial = buffers(graph, {**slices, c: operands})
            if trial.lower_bound <= best.lower_bound:
                slices, best = {**slices, c: operands}, trial
        return best
    slice_of = {t: (c, off) for c, operands in slices.items() for t, off in operands.items()}
    n = len(graph.ops)
    last_use = {t: i for i, op in enumerate(graph.ops) for t in op.inputs}
    last_use[graph.output] = n
    tsize = {t: _align(4 * elems(s)) for t, s in graph.shapes.items()}
    tsize.setdefault(graph.input, _align(4 * elems(graph.input_shape)))
    root, inner = {graph.input: graph.input}, {graph.input: 0}
    members = {graph.input: [graph.input]}
    first = {graph.input: -1}
    source = {}
    pairs: dict[str, Pair] = {}

    def dies_here(t: str, i: int) -> bool:
        return max(last_use.get(u, -1) for u in members[root[t]]) == i

    def region(t: str):
        return root[t], inner[t], tsize[t]

    for i, op in enumerate(graph.ops):
        out = op.output
        tsize[out] = _align(4 * elems(op.out_shape))
        if out in slices:                   # its operands were written into it
            continue
        if out in slice_of:
            c, off = slice_of[out]
            if c not in members:            # the first operand computed creates the output
                tsize[c] = _align(4 * elems(graph.shapes[c]))
                root[c], inner[c], members[c], first[c] = c, 0, [c], i
                if op.inputs:
                    source[c] = root[op.inputs[0]]
            root[out], inner[out] = c, off
            members[c].append(out)
        elif isinstance(op, View):
            root[out], inner[out] = root[op.inputs[0]], inner[op.inputs[0]] + 4 * op.offset
            members[root[out]].append(out)
            continue
        else:
            for k in op.inplace_inputs():
                t = op.inputs[k]
                b = root[t]
                if (b != root[graph.input] and inner[t] == 0 and tsize[t] == tsize[b]
                        and elems(op.in_shapes[k]) == elems(op.out_shape) and dies_here(t, i)
                        and all(j == k or root[u] != b
                                or (region(u) == region(t) and op.inplace_over_other_inputs)
                                for j, u in enumerate(op.inputs))):
                    root[out], inner[out] = b, 0
                    members[b].append(out)
                    break
            else:
                root[out], inner[out] = out, 0
                members[out] = [out]
                first[out] = i
                if op.inputs:
                    source[out] = root[op.inputs[0]]
                    pair = _overlap_pair(op, i, root, inner, tsize, dies_here)
                    if pair is not None:
                        pairs[out] = pair
        scratch = op.scratch_bytes()
        if scratch:
            name = out + SCRATCH
            tsize[name] = _align(scratch)
            root[name], inner[name] = name, 0
            members[name] = [name]
            first[name] = i
            last_use[name] = i
    life = {b: (first[b], max(last_use.get(u, first[b]) for u in ts)) for b, ts in members.items()}
    order = sorted(members, key=lambda b: first[b])
    size = {b: tsize[b] for b in members}

    def alive(step: int) -> int:
        return sum(size[b] for b in order if life[b][0] <= step <= life[b][1])
    steps = range(-1, n + 1)
    op_by_op = RESERVED + max(alive(step) for step in steps)
    saved = {}
    for pair in pairs.values():
        saved[pair.step] = saved.get(pair.step, 0) + pair.saving
    bound = RESERVED + max(alive(step) - saved.get(step, 0) for step in steps)
    return Buffers(root, inner, tsize, size, life, order, source, bound, pairs, op_by_op, slices)


def _overlap_pair(op: Op, step: int, root, inner, tsize, dies_here) -> Pair | None:
    """The overlap pair of a windowed op's output with its first input, where the
    input dies at the op, fills its buffer and no other operand shares it."""
    offsets = op.overlap_offsets()
    if offsets is None:
        return None
    x = op.inputs[0]
    bx = root[x]
    if (inner[x] != 0 or tsize[x] != tsize[bx] or not dies_here(x, step)
            or any(root[u] == bx for u in op.inputs[1:])):
        return None
    sx, sy = tsize[x], tsize[op.output]
    forward, reverse = offsets
    extents = [max(sx, forward + sy) - min(0, forward)]
    if reverse is not None:
        extents.append(max(sx, reverse + sy) - min(0, reverse))
    saving = sx + sy - min(extents)
    if saving <= 0:
        return None
    return Pair(bx, op.output, step, forward, reverse, saving)


def plan_arena(graph: Graph) -> ArenaPlan:
    bufs = buffers(graph)
    bound = bufs.lower_bound
    best = None
    for name, strategy in STRATEGIES:
        placed = strategy(bufs, bound if best is None else best[0])
        if placed is None:
            continue
        top = max(placed[b] + bufs.size[b] for b in placed)
        if best is None or top < best[0]:
            best = (top, name, placed)
        if top <= bound:
            break
    arena, method, placed = best
    offsets = {t: placed[bufs.root[t]] + bufs.inner[t] for t in bufs.root}
    sizes = {t: bufs.tsize[t] for t in bufs.root}
    lifetimes = {t: bufs.life[bufs.root[t]] for t in bufs.root}
    overlapping, reversed_ = set(), set()
    for y, pair in bufs.pairs.items():
        ox, oy = placed[pair.x], placed[y]
        if ox < oy + bufs.size[y] and oy < ox + bufs.size[pair.x]:
            overlapping.add(y)
            if pair.runs_reversed(ox, oy):
                reversed_.add(y)
    plan = ArenaPlan(arena_bytes=arena, lower_bound=bound, offsets=offsets, sizes=sizes,
                     lifetimes=lifetimes, method=method, buffer_of=dict(bufs.root),
                     reversed=frozenset(reversed_), overlapping=frozenset(overlapping),
                     op_by_op_bound=bufs.op_by_op_bound,
                     pairs=[(p.x, p.y, p.step, p.saving) for p in bufs.pairs.values()],
                     pixels_apart=pixels_apart(graph, bufs.slices))
    check(plan, bufs)
    return plan


# ---------------------------------------------------------------- strategies
def _overlap(a, b) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


def _pair(bufs: Buffers, a: str, b: str) -> Pair | None:
    """The overlap pair of buffers a and b, either way round, if they form one."""
    for y, x in ((a, b), (b, a)):
        pair = bufs.pairs.get(y)
        if pair is not None and pair.x == x:
            return pair
    return None


def _clear(b, off, u, off_u, bufs: Buffers) -> bool:
    """Buffer b at `off` may coexist with u at `off_u`."""
    if not _overlap(bufs.life[b], bufs.life[u]):
        return True
    if off + bufs.size[b] <= off_u or off_u + bufs.size[u] <= off:
        return True
    pair = _pair(bufs, b, u)
    if pair is None:
        return False
    return pair.allows(off, off_u) if pair.x == b else pair.allows(off_u, off)


def _fits(b, off, placed, bufs: Buffers) -> bool:
    return all(_clear(b, off, u, placed[u], bufs) for u in placed)


def _pair_positions(b, placed, bufs: Buffers) -> set[int]:
    """Positions of b that overlap its pair partner (if placed) as closely as allowed."""
    out = set()
    for pair in (p for p in (bufs.pairs.get(b), *bufs.x_pairs.get(b, ())) if p is not None):
        if pair.y == b and pair.x in placed:
            base, sign = placed[pair.x], 1
        elif pair.x == b and pair.y in placed:
            base, sign = placed[pair.y], -1
        else:
            continue
        out.add(base + sign * pair.forward)
        if pair.reverse is not None:
            out.add(base + sign * pair.reverse)
    return out


def _two_ended(bufs: Buffers, capacity: int):
    """Each new buffer at the end of [RESERVED, capacity) opposite to its
    producer's input, as close to that end as it fits; None if it does not."""
    placed = {bufs.order[0]: RESERVED}
    side = {bufs.order[0]: 0}
    for b in bufs.order[1:]:
        size = bufs.size[b]
        want = 1 - side.get(bufs.source.get(b), 1)
        pair_at = sorted(c for c in _pair_positions(b, placed, bufs)
                         if RESERVED <= c and c + size <= capacity and _fits(b, c, placed, bufs))
        if pair_at:                      # over the input behind its read front, at its end
            placed[b] = min(pair_at, key=lambda c: abs(c - placed[bufs.pairs[b].x]))
            side[b] = side.get(bufs.source.get(b), 0)
            continue
        for s in (want, 1 - want):
            if s == 0:
                cands = [RESERVED] + [placed[u] + bufs.size[u] for u in placed]
            else:
                cands = [capacity - size] + [placed[u] - size for u in placed]
            cands = sorted({c for c in cands if RESERVED <= c and c + size <= capacity},
                           reverse=(s == 1))
            ok = [c for c in cands if _fits(b, c, placed, bufs)]
            if ok:
                placed[b], side[b] = ok[0], s
                break
        else:
            return None
    return placed


def _two_ended_at_bound(bufs: Buffers, limit: int):
    return _two_ended(bufs, bufs.lower_bound)


def _two_ended_search(bufs: Buffers, limit: int):
    """Two-ended placement at the smallest capacity below `limit` (the best
    arena so far), in steps of 1/32 of the bound, where it succeeds."""
    step = max(ALIGN, _align(bufs.lower_bound // 32))
    for capacity in range(bufs.lower_bound + step, limit, step):
        placed = _two_ended(bufs, capacity)
        if placed is not None:
            return placed
    return None


def _greedy(order_key, best_fit: bool):
    """Place buffers one by one (in order_key order) at the lowest offset where
    they fit (first-fit) or at the candidate that keeps the arena smallest and
    then leaves the tightest gap below (best-fit)."""
    def place(bufs: Buffers, limit: int):
        placed = {}
        for b in sorted(bufs.order, key=lambda b: order_key(bufs, b)):
            cands = sorted({RESERVED} | {placed[u] + bufs.size[u] for u in placed}
                           | _pair_positions(b, placed, bufs))
            ok = [c for c in cands if c >= RESERVED and _fits(b, c, placed, bufs)]
            if best_fit:
                top = max([placed[u] + bufs.size[u] for u in placed], default=RESERVED)
                ok.sort(key=lambda c: (max(top, c + bufs.size[b]), _gap_below(b, c, placed, bufs), c))
            placed[b] = ok[0]
        return placed
    return place


def _gap_below(b, off, placed, bufs: Buffers) -> int:
    """Free bytes between `off` and the nearest live neighbour below it."""
    below = [placed[u] + bufs.size[u] for u in placed
             if _overlap(bufs.life[b], bufs.life[u]) and placed[u] + bufs.size[u] <= off]
    return off - max(below, default=RESERVED)


def _by_size(bufs, b):
    return (-bufs.size[b], bufs.life[b])


def _by_start(bufs, b):
    return (bufs.life[b][0], -bufs.size[b])


def _by_span(bufs, b):
    return (-(bufs.life[b][1] - bufs.life[b][0]), -bufs.size[b], bufs.life[b][0])


def _search(order_key, budget: int = 3000):
    """Depth-first search for a placement that reaches the bound: buffers in
    order_key order, each at the floor, on top of or just under a placed
    buffer it overlaps in time, or at the ceiling; gives up after `budget`
    placements tried.  Solves small DAGs (residual, inception, U-Net blocks)
    where the greedy orders leave gaps; the candidate positions are not
    exhaustive, so several orders are tried."""
    def search(bufs: Buffers, limit: int):
        capacity = bufs.lower_bound
        order = sorted(bufs.order, key=lambda b: order_key(bufs, b))
        placed: dict[str, int] = {}
        tries = 0

        def candidates(b):
            size, life = bufs.size[b], bufs.life[b]
            near = [u for u in placed if _overlap(life, bufs.life[u])]
            cands = {RESERVED, capacity - size} | {placed[u] + bufs.size[u] for u in near} \
                | {placed[u] - size for u in near} | _pair_positions(b, placed, bufs)
            return sorted(c for c in cands if RESERVED <= c and c + size <= capacity)

        def place(i: int) -> bool:
            nonlocal tries
            if i == len(order):
                return True
            b = order[i]
            for c in candidates(b):
                tries += 1
                if tries > budget:
                    return False
                if _fits(b, c, placed, bufs):
                    placed[b] = c
                    if place(i + 1):
                        return True
                    del placed[b]
            return False
        return dict(placed) if place(0) else None
    return search


# in this order; the first that reaches the bound ends the search
STRATEGIES = [
    ("two-ended", _two_ended_at_bound),
    ("first-fit by size", _greedy(_by_size, False)),
    ("first-fit by lifetime", _greedy(_by_span, False)),
    ("best-fit by start", _greedy(_by_start, True)),
    ("search by start", _search(_by_start)),
    ("search by lifetime", _search(_by_span)),
    ("search by size", _search(_by_size)),
    ("two-ended above the bound", _two_ended_search),
]


def check(plan: ArenaPlan, bufs: Buffers) -> None:
    """No two buffers alive at the same step overlap; every tensor lies inside
    its buffer and the buffers inside the arena."""
    roots = bufs.order
    off = {b: plan.offsets[b] for b in roots}

    def bad(what):
        return CodegenError(f"arena plan ({plan.method}): {what}")
    for i, a in enumerate(roots):
        if not (RESERVED <= off[a] and off[a] + bufs.size[a] <= plan.arena_bytes):
            raise bad(f"'{a}' lies outside the arena")
        for b in roots[i + 1:]:
            if not _clear(a, off[a], b, off[b], bufs):
                raise bad(f"'{a}' and '{b}' overlap while both are alive")
    for t, b in bufs.root.items():
        if not (off[b] <= plan.offsets[t] and plan.offsets[t] + plan.sizes[t] <= off[b] + bufs.size[b]):
            raise bad(f"'{t}' lies outside its buffer '{b}'")
