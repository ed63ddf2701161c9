"""Arena planning: a byte offset for every tensor, aiming at the lower bound.

The lower bound is the largest total size of the tensors alive at any one step
(for a chain: the largest input + output of any op) plus the words the format
keeps at the start of the arena.  A chain reaches it by placing every op's
output at the opposite end of the arena from its input; other graphs fall back
to first-fit by decreasing size.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .graph.ops import Graph, elems

RESERVED = 8          # arena[0..3]: weights address, arena[4..7]: 0.0 (as in the original format)
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

    def as_dict(self) -> dict:
        return {"arena_bytes": self.arena_bytes, "lower_bound": self.lower_bound,
                "reserved_bytes": RESERVED, "method": self.method,
                "tensors": [{"tensor": t, "offset": self.offsets[t], "bytes": self.sizes[t],
                             "first_step": self.lifetimes[t][0], "last_step": self.lifetimes[t][1]}
                            for t in self.offsets]}


def _lifetimes(graph: Graph):
    """(first, last) step of every tensor, and in-place aliases."""
    life = {graph.input: [-1, -1]}
    alias: dict[str, str] = {}
    for i, op in enumerate(graph.ops):
        for t in op.inputs:
            life[_root(alias, t)][1] = i
        src = _root(alias, op.inputs[0]) if op.inputs else None
        if (op.inplace and src is not None and src != graph.input
                and sum(1 for o in graph.ops if op.inputs[0] in o.inputs) == 1
                and elems(op.in_shapes[0]) == elems(op.out_shape)):
            alias[op.output] = src
            life[src][1] = i
        else:
            life[op.output] = [i, i]
    life[_root(alias, graph.output)][1] = len(graph.ops)
    return {t: tuple(v) for t, v in life.items()}, alias


def _root(alias, t):
    while t in alias:
        t = alias[t]
    return t


def _overlap(a, b) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


def plan_arena(graph: Graph) -> ArenaPlan:
    life, alias = _lifetimes(graph)
    sizes = {t: _align(4 * elems(graph.shapes[t])) for t in life}
    steps = range(-1, len(graph.ops) + 1)
    bound = RESERVED + max(sum(sizes[t] for t in life if life[t][0] <= s <= life[t][1])
                           for s in steps)
    offsets = _two_ended(graph, life, sizes, alias, bound)
    method = "two-ended"
    if offsets is None:
        offsets = _first_fit(life, sizes)
        method = "first-fit"
    arena = max(offsets[t] + sizes[t] for t in offsets)
    for t, root in alias.items():
        offsets[t] = offsets[_root(alias, root)]
        sizes[t] = sizes[_root(alias, root)]
        life[t] = life[_root(alias, root)]
    plan = ArenaPlan(arena_bytes=arena, lower_bound=bound, offsets=offsets, sizes=sizes,
                     lifetimes=life, method=method)
    _check(plan, alias)
    return plan


def _fits(t, off, placed, life, sizes) -> bool:
    return all(not _overlap(life[t], life[u]) or off + sizes[t] <= placed[u]
               or placed[u] + sizes[u] <= off for u in placed)


def _two_ended(graph, life, sizes, alias, capacity):
    placed = {graph.input: RESERVED}
    side = {graph.input: 0}
    for op in graph.ops:
        t = op.output
        if t in alias:
            continue
        src = _root(alias, op.inputs[0])
        want = 1 - side.get(src, 1)
        order = [want, 1 - want]
        for s in order:
            cands = ([RESERVED] + [placed[u] + sizes[u] for u in placed]) if s == 0 else \
                    ([capacity - sizes[t]] + [placed[u] - sizes[t] for u in placed])
            cands = sorted({c for c in cands if RESERVED <= c and c + sizes[t] <= capacity},
                           reverse=(s == 1))
            ok = [c for c in cands if _fits(t, c, placed, life, sizes)]
            if ok:
                placed[t], side[t] = ok[0], s
                break
        else:
            return None
    return placed


def _first_fit(life, sizes):
    placed = {}
    for t in sorted(life, key=lambda t: (-sizes[t], life[t])):
        cands = sorted({RESERVED} | {placed[u] + sizes[u] for u in placed})
        for c in cands:
            if _fits(t, c, placed, life, sizes):
                placed[t] = c
                break
    return placed


def _check(plan: ArenaPlan, alias) -> None:
    ts = [t for t in plan.offsets if t not in alias]
    for i, a in enumerate(ts):
        for b in ts[i + 1:]:
            if _overlap(plan.lifetimes[a], plan.lifetimes[b]):
                oa, ob = plan.offsets[a], plan.offsets[b]
                assert oa + plan.sizes[a] <= ob or ob + plan.sizes[b] <= oa, (a, b)
