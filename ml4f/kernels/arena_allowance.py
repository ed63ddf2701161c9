"""How much arena the faster kernel variants may take beyond the plain kernels'.

Some variants run faster at a cost in RAM: Winograd convolutions need scratch
for their transformed tiles (and, in streamed regions, rings holding whole tile
rows), depthwise row pairs write their output one row further behind the read
front, depthwise channel groups outermost and 1x1 channel passes keep their
output apart from their input.  They are chosen (winograd_plan.py, then
choose_within over depthwise_pairs.py's and pointwise.py's candidates) while
the arena stays within a factor of the arena with none of them, by --optimize;
with --arena-goal small within ARENA_SLACK_SMALL; never beyond --max-arena.
"""
from __future__ import annotations

import dataclasses

ARENA_SLACK = {"speed": 1.25, "balanced": 1.10}   # "size": no growth at all
ARENA_SLACK_SMALL = 1.03


def arena_limit(plain_arena: int, optimize: str, arena_goal: str = "balanced",
                max_arena: int | None = None) -> float:
    """The largest arena the faster variants may lead to, in bytes."""
    slack = ARENA_SLACK_SMALL if arena_goal == "small" else ARENA_SLACK.get(optimize, 1.0)
    limit = slack * plain_arena
    return limit if max_arena is None else min(limit, max_arena)


def choose_within(graph, found: list, limit: float):
    """The graph with op variants set, most cycles saved first, while the planned
    arena stays within `limit` bytes.  `found`: (cycles saved by the best
    variant, op index, the variants (flag names) best first); an op whose best
    variant does not fit may still take another."""
    from ..plan import plan_arena
    if not found:
        return graph
    found = sorted(found, key=lambda t: (-t[0], t[1]))

    def with_variant(ops, choices):
        ops = list(ops)
        for i, variant in choices:
            ops[i] = dataclasses.replace(ops[i], **{variant: True})
        return ops

    def fits(ops) -> bool:
        return plan_arena(dataclasses.replace(graph, ops=ops)).arena_bytes <= limit
    every = with_variant(graph.ops, [(i, order[0]) for _, i, order in found])
    if fits(every):
        return dataclasses.replace(graph, ops=every)
    ops = list(graph.ops)
    for _, i, order in found:
        for variant in order:
            trial = with_variant(ops, [(i, variant)])
            if fits(trial):
                ops = trial
                break
    return dataclasses.replace(graph, ops=ops)
