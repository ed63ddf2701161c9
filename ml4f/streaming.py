"""Row schedules of streamed regions (graph.ops.stream.Stream).

The region's ops run row by row, each row as late as possible: to make row y
of the output, the rows of every inner tensor its window needs are made
first, recursively (an op making several rows per pass, Winograd's tile rows,
makes them together, after all their windows).  An inner tensor then only ever
holds the rows between the oldest one a reader still needs and the newest one
made: a ring of R rows (row r in slot r mod R).  So that a reader's window of
E consecutive rows is always contiguous, the first E - 1 slots are repeated
after the ring (the producer copies such a row there too), unless every
windowed reader addresses each window row by itself
(Op.reads_window_rows_apart); R is a multiple of the rows its producer makes
together, so that they lie in consecutive slots.  The region's output may
overlap the input it consumes (inputs[0]) when each output row lies below
every input row still to be read at the step that writes it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .graph.ops import elems
from .graph.ops.stream import OUTPUT, local_input
from .graph.shapes import hwc


@dataclass(frozen=True)
class Ring:
    rows: int               # R: rows in rotation
    mirror: int             # E - 1: slots repeated after the ring
    row_bytes: int
    offset: int             # in the region's scratch

    @property
    def bytes(self) -> int:
        return (self.rows + self.mirror) * self.row_bytes

    def slot(self, row: int) -> int:
        return row % self.rows

    def mirrored(self, row: int) -> bool:
        return self.slot(row) < self.mirror


@dataclass
class RowSchedule:
    steps: list = field(default_factory=list)       # (op index, first row, rows)
    rings: dict = field(default_factory=dict)       # inner tensor -> Ring
    forward: int = 0          # highest offset of the output below inputs[0] (overlap)
    scratch_bytes: int = 0

    def row_offset(self, tensor: str, row: int, row_bytes: int) -> int:
        """Byte offset of a row in its tensor's storage (ring slot or whole tensor)."""
        ring = self.rings.get(tensor)
        return (ring.slot(row) if ring else row) * row_bytes


def rows_of(shape) -> tuple[int, int]:
    """(rows, bytes per row) of a tensor seen as (H, W, C)."""
    h, w, c = hwc(tuple(shape))
    return h, 4 * w * c


def _reads(op) -> list[tuple[str, list]]:
    """(tensor, per output row (lo, hi) rows read) for each input an op reads."""
    access = op.stream_access()
    out = [(op.inputs[0], list(access.rows))]
    if getattr(op, "residual", ""):
        h, _ = rows_of(op.out_shape)
        out.append((op.inputs[1], [(y, y) for y in range(h)]))
    return out


def schedule_rows(stream) -> RowSchedule:
    ops = stream.ops
    producer = {op.output: k for k, op in enumerate(ops)}
    made = {op.output: 0 for op in ops}
    steps: list[list[int]] = []
    reads_of = [_reads(op) for op in ops]
    together = [op.rows_made_together() for op in ops]
    out_rows_of = [rows_of(op.out_shape)[0] for op in ops]
    log: list[tuple[int, int]] = []                 # (op index, row) in the order made

    def need(tensor: str, row: int) -> None:
        k = producer.get(tensor)
        if k is None:
            return                                  # a whole tensor: every row exists
        while made[tensor] <= row:
            y0 = made[tensor]
            group = range(y0, min(y0 + together[k], out_rows_of[k]))
            for y in group:                     # a group's windows first, then its rows
                for t, rows in reads_of[k]:
                    lo, hi = rows[y]
                    if hi >= lo:
                        need(t, hi)
            for y in group:
                if steps and steps[-1][0] == k and steps[-1][1] + steps[-1][2] == y:
                    steps[-1][2] += 1
                else:
                    steps.append([k, y, 1])
                log.append((k, y))
            made[tensor] = group[-1] + 1

    out_rows, _ = rows_of(stream.out_shape)
    for y in range(0, out_rows, stream.strip):
        need(OUTPUT, min(y + stream.strip, out_rows) - 1)

    # rows each inner tensor holds at once (counted right after each row is
    # made: the rows its readers still need from their next row on), and the
    # longest window read of it
    inner = {op.output for op in ops} - {OUTPUT}
    suffix_low = {}                        # (reader, tensor) -> lowest row read from row r on
    span = {t: 1 for t in inner}
    contiguous = {t: 1 for t in inner}     # the longest window read as one block of rows
    for c, reads in enumerate(reads_of):
        apart = ops[c].reads_window_rows_apart()
        for t, rows in reads:
            if t not in inner:
                continue
            lows, low = [None] * (len(rows) + 1), None
            for r in range(len(rows) - 1, -1, -1):
                lo, hi = rows[r]
                if hi >= lo:
                    low = lo if low is None else min(low, lo)
                    span[t] = max(span[t], hi - lo + 1)
                    if not apart:
                        contiguous[t] = max(contiguous[t], hi - lo + 1)
                lows[r] = low
            if (c, t) in suffix_low:            # the window's tensor is the merge operand too
                lows = [b if a is None else a if b is None else min(a, b)
                        for a, b in zip(suffix_low[c, t], lows)]
            suffix_low[c, t] = lows
    live = {t: 1 for t in inner}
    next_row = {op.output: 0 for op in ops}
    for k, y in log:
        t = ops[k].output
        next_row[t] = y + 1
        if t in inner:
            needed = [lows[next_row[ops[c].output]] for (c, u), lows in suffix_low.items() if u == t]
            oldest = min((n for n in needed if n is not None), default=y + 1)
            live[t] = max(live[t], y + 1 - oldest)

    sched = RowSchedule(steps=[tuple(s) for s in steps])
    offset = 0
    for op in ops:
        t = op.output
        if t in inner:
            _, row_bytes = rows_of(op.out_shape)
            m = op.rows_made_together()         # a group's rows in consecutive slots
            ring = Ring(-(-max(live[t], span[t]) // m) * m, contiguous[t] - 1, row_bytes, offset)
            sched.rings[t] = ring
            offset += ring.bytes
    sched.scratch_bytes = offset
    sched.forward = _forward_overlap(stream, ops, reads_of, log)
    return sched


def _forward_overlap(stream, ops, reads_of, log) -> int:
    """The highest offset of the output below inputs[0] at which each output row
    is written below every row of inputs[0] read at that step or later."""
    x = local_input(0)
    rx = rows_of(stream.in_shapes[0])[1]
    _, ry = rows_of(stream.out_shape)
    first_read = []                                  # per logged step: lowest x row read from then on
    low = None
    for k, y in reversed(log):
        for t, rows in reads_of[k]:
            if t == x and rows[y][1] >= rows[y][0]:
                low = rows[y][0] if low is None else min(low, rows[y][0])
        first_read.append(low)
    first_read.reverse()
    forward = 4 * elems(stream.in_shapes[0])
    for (k, y), low in zip(log, first_read):
        if ops[k].output == OUTPUT and low is not None:
            forward = min(forward, low * rx - (y + 1) * ry)
    return forward


# --------------------------------------------------------------- regions
STREAMABLE = ("conv2d", "winograd", "depthwise", "pool2d", "activation", "pad")   # kernels that run row ranges


def streamable(op) -> bool:
    """Whether `op`'s kernel can run any range of its rows inside a region: the
    convolutions, standalone activations and zero padding always (rowloop.py), pooling where
    no window row is clipped (every output row reads all pool rows: one code
    path per row)."""
    if op.kind not in STREAMABLE:
        return False
    if op.kind == "pool2d":
        return all(hi - lo + 1 == op.pool[0] for lo, hi in op.row_access().rows)
    return True


def region_at(graph, first: int, last: int):
    """The Stream op that would run graph.ops[first..last] (inclusive), or None
    where they do not form a region: streamable kinds only, one output (the
    last op's) read outside, every other output read only inside."""
    from .graph.ops.stream import Stream
    ops = graph.ops[first:last + 1]
    if len(ops) < 2 or not all(map(streamable, ops)):
        return None
    made = {op.output for op in ops}
    inside = set(map(id, ops))
    for op in ops[:-1]:
        if op.output == graph.output or any(id(c) not in inside for c in graph.consumers(op.output)):
            return None
    if ops[0].inputs[0] in made:
        return None
    external: list[str] = []
    for op in ops:
        for t in op.inputs:
            if t not in made and t not in external:
                external.append(t)
    if external[0] != ops[0].inputs[0]:
        external.remove(ops[0].inputs[0])
        external.insert(0, ops[0].inputs[0])
    local = {t: local_input(k) for k, t in enumerate(external)}
    local[ops[-1].output] = OUTPUT
    import dataclasses
    inner = [dataclasses.replace(op, inputs=[local.get(t, t) for t in op.inputs],
                                 output=local.get(op.output, op.output)) for op in ops]
    name = f"{ops[0].name} .. {ops[-1].name}"
    return Stream(name, "(streamed)", external, ops[-1].output,
                  [graph.shapes.get(t, graph.input_shape if t == graph.input else None)
                   for t in external], tuple(ops[-1].out_shape), ops=inner)


def with_region(graph, first: int, last: int, stream):
    """The graph with graph.ops[first..last] replaced by `stream`."""
    import dataclasses
    ops = graph.ops[:first] + [stream] + graph.ops[last + 1:]
    return dataclasses.replace(graph, ops=ops)


# --------------------------------------------------------------- choosing
MAX_REGION_OPS = 8             # ops per region tried
ARENA_SLACK = 1.10             # "balanced": the least streaming within this factor of the least arena
GOALS = ("small", "balanced", "fast")


@dataclass(frozen=True)
class Peak:
    bytes: int
    op: str                            # the op running at the peak
    tensors: tuple                     # the buffers alive there


@dataclass
class MemoryPlan:
    """The regions chosen and what each step of the choice reached."""

    graph: object                      # the graph with the chosen regions as Stream ops
    bound: int                         # its arena lower bound
    op_by_op: int                      # the bound with no region streamed (overlaps counted)
    whole_tensors: int                 # the bound of whole tensors op by op, no overlap at all
    smallest: int                      # the least bound streaming reached
    peak: Peak                         # where `graph` needs the most

    @property
    def peak_op(self) -> str:
        return self.peak.op


def peak(graph) -> Peak:
    """Where the planner's bound is reached: the bytes, the op, the live buffers."""
    from .plan import RESERVED, buffers
    b = buffers(graph)
    saved = {}
    for pair in b.pairs.values():
        saved[pair.step] = saved.get(pair.step, 0) + pair.saving
    best = Peak(-1, "", ())
    for step in range(len(graph.ops)):
        alive = [u for u in b.order if b.life[u][0] <= step <= b.life[u][1]]
        live = sum(b.size[u] for u in alive) + RESERVED - saved.get(step, 0)
        if live > best.bytes:
            best = Peak(live, graph.ops[step].name, tuple(alive))
    return best


def _greedy_steps(graph) -> list[tuple[int, object]]:
    """(bound, graph) after streaming 0, 1, 2, ... regions, each time the region
    that lowers the bound most."""
    from .plan import buffers
    states = [(buffers(graph).lower_bound, graph)]
    while True:
        bound, current = states[-1]
        best = None
        for i in range(len(current.ops)):
            for j in range(i + 1, min(len(current.ops), i + MAX_REGION_OPS)):
                if not streamable(current.ops[j]):
                    break
                stream = region_at(current, i, j)
                if stream is None:
                    continue
                candidate = with_region(current, i, j, stream)
                b = buffers(candidate).lower_bound
                if b < bound and (best is None or b < best[0]):
                    best = (b, candidate)
        if best is None:
            return states
        states.append(best)


def choose_regions(graph, goal: str = "balanced", max_arena: int | None = None) -> MemoryPlan:
    """Which regions to stream: none for "fast"; the fewest (greedy order) that
    reach the least bound for "small", or come within ARENA_SLACK of it for
    "balanced"; with a budget, the fewest that bring the bound under it.  Raises
    BudgetError naming the peak op when even the least bound exceeds the budget."""
    from .errors import BudgetError
    from .plan import buffers
    if goal == "fast" and max_arena is None:
        states = [(buffers(graph).lower_bound, graph)]
    else:
        states = _greedy_steps(graph)
    op_by_op, smallest = states[0][0], states[-1][0]
    if max_arena is not None:
        fitting = [(b, g) for b, g in states if b <= max_arena]
        if not fitting:
            at = peak(states[-1][1])
            raise BudgetError(
                f"the arena needs at least {smallest:,} B (peak at op '{at.op}'), more than the "
                f"budget of {max_arena:,} B", key="max_arena", value=max_arena)
        pool = fitting
    else:
        pool = states
    if goal == "fast":
        bound, chosen = pool[0]
    elif goal == "small":
        bound, chosen = min(pool, key=lambda s: s[0])
    else:
        target = ARENA_SLACK * min(b for b, _ in pool)
        bound, chosen = next((b, g) for b, g in pool if b <= target)
    return MemoryPlan(chosen, bound, op_by_op, buffers(graph).op_by_op_bound, smallest,
                      peak(chosen))
