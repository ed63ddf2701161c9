"""Which depthwise convolutions make their full rows two per pass over their
input, and which keep their output apart from their input so that their
channel groups can run outermost.

A pair of rows shares each input row's loads and the weights held in registers
(the resident scheme, depthwise.py), but writes its two output rows only after
reading the pair's whole window: an output written over its input behind the
read front must then lie one output row further down (DepthwiseConv2D.row_pairs
makes its row_access say so).  With channel groups outermost a group's weights
are loaded once for all its rows instead of once per row (small maps, many
channels), but every row of a channel is written before the next channel's are
read: the output must not overlap the input at all (DepthwiseConv2D.
channels_outer: no row_access).  Each op gets the variant that saves the most
cycles while the arena stays within the allowance (arena_allowance.choose_within:
most cycles saved first; an op that does not fit its best variant may still
fit the other one).
"""
from __future__ import annotations

from ..graph.ops import DepthwiseConv2D, Graph
from .depthwise import choose_plan, op_cycles

VARIANTS = ("row_pairs", "channels_outer")      # on a tie the first (less arena)


def variant_savings(op: DepthwiseConv2D, float16: bool, optimize: str) -> dict[str, float]:
    """Estimated cycles each variant saves over the plain kernel (over its
    input, one row at a time); only the variants that save some."""
    plain = op_cycles(op, choose_plan(op, float16, optimize=optimize), float16)
    paired = choose_plan(op, float16, optimize=optimize, pairs=True)
    apart = choose_plan(op, float16, optimize=optimize, pairs=True, outer=True)
    out = {}
    for name, plan, used in (("row_pairs", paired, getattr(paired, "pair_p", 0) > 0),
                             ("channels_outer", apart, getattr(apart, "outer", False))):
        saving = plain - op_cycles(op, plan, float16)
        if used and saving > 0:
            out[name] = saving
    return out


def candidates(graph: Graph, *, float16: bool, optimize: str) -> list:
    """(cycles saved, op index, variants best first) of the depthwise ops
    (outside streamed regions) that gain from row pairs or channels outermost
    (arena_allowance.choose_within)."""
    found = []
    for i, op in enumerate(graph.ops):
        if isinstance(op, DepthwiseConv2D) and not (op.row_pairs or op.channels_outer):
            savings = variant_savings(op, float16, optimize)
            if savings:
                order = sorted(savings, key=lambda v: (-savings[v], VARIANTS.index(v)))
                found.append((savings[order[0]], i, tuple(order)))
    return found
