"""How much arena the faster kernel variants may take beyond the plain kernels'.

Some variants run faster at a cost in RAM: Winograd convolutions need scratch
for their transformed tiles (and, in streamed regions, rings holding whole tile
rows), depthwise row pairs write their output one row further behind the read
front.  They are chosen (winograd_plan.py, depthwise_pairs.py) while the arena
stays within a factor of the arena with none of them, by --optimize; with
--arena-goal small within ARENA_SLACK_SMALL; never beyond --max-arena.
"""
from __future__ import annotations

ARENA_SLACK = {"speed": 1.25, "balanced": 1.10}   # "size": no growth at all
ARENA_SLACK_SMALL = 1.03


def arena_limit(plain_arena: int, optimize: str, arena_goal: str = "balanced",
                max_arena: int | None = None) -> float:
    """The largest arena the faster variants may lead to, in bytes."""
    slack = ARENA_SLACK_SMALL if arena_goal == "small" else ARENA_SLACK.get(optimize, 1.0)
    limit = slack * plain_arena
    return limit if max_arena is None else min(limit, max_arena)
