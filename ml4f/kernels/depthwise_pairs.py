"""Which depthwise convolutions make their full rows two per pass over their input.

A pair of rows shares each input row's loads and the weights held in registers
(the resident scheme, depthwise.py), but writes its two output rows only after
reading the pair's whole window: an output written over its input behind the
read front must then lie one output row further down (DepthwiseConv2D.row_pairs
makes its row_access say so).  Each op that runs faster in pairs gets them while
the arena stays within the allowance of arena_allowance.py; an op whose output
does not overlap its input makes pairs anyway.
"""
from __future__ import annotations

import dataclasses

from ..graph.ops import DepthwiseConv2D, Graph
from .depthwise import choose_plan, op_cycles


def pair_saving(op: DepthwiseConv2D, float16: bool, optimize: str) -> float:
    """Estimated cycles saved by rows in pairs (0 where pairs are not faster)."""
    paired = choose_plan(op, float16, optimize=optimize, pairs=True)
    if not getattr(paired, "pair_p", 0):
        return 0.0
    single = choose_plan(op, float16, optimize=optimize, pairs=False)
    return max(0.0, op_cycles(op, single, float16) - op_cycles(op, paired, float16))


def choose_row_pairs(graph: Graph, *, float16: bool, optimize: str, limit: float) -> Graph:
    """The graph with row_pairs set on the depthwise ops (outside streamed regions)
    that gain from them, most cycles saved first, while the planned arena stays
    within `limit` bytes."""
    from ..plan import plan_arena
    found = sorted(((saving, i) for i, op in enumerate(graph.ops)
                    if isinstance(op, DepthwiseConv2D) and not op.row_pairs
                    and (saving := pair_saving(op, float16, optimize)) > 0),
                   key=lambda t: (-t[0], t[1]))
    if not found:
        return graph

    def with_pairs(ops, indices):
        ops = list(ops)
        for i in indices:
            ops[i] = dataclasses.replace(ops[i], row_pairs=True)
        return ops

    def fits(ops) -> bool:
        return plan_arena(dataclasses.replace(graph, ops=ops)).arena_bytes <= limit
    every = with_pairs(graph.ops, [i for _, i in found])
    if fits(every):
        return dataclasses.replace(graph, ops=every)
    ops = list(graph.ops)
    for _, i in found:
        trial = with_pairs(ops, [i])
        if fits(trial):
            ops = trial
    return dataclasses.replace(graph, ops=ops)
