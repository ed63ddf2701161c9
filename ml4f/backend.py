"""Graph -> ML4F object: the arena plan, the machine code and the container."""
from __future__ import annotations

from typing import NamedTuple

from . import context
from .codegen import Generated, generate
from .container import build_object
from .graph.ops import Graph
from .plan import ArenaPlan, plan_arena
from .kernels import depthwise_pairs, pointwise
from .kernels.arena_allowance import arena_limit, choose_within
from .kernels.winograd_plan import choose_winograd
from .streaming import choose_regions


class Lowered(NamedTuple):
    arena: ArenaPlan
    generated: Generated
    object: bytes


def compile_graph(graph: Graph, *, float16: bool = False, optimize: str = "balanced") -> Lowered:
    """The graph as it is (streamed regions already chosen, see plan_memory)."""
    with context.step("planning the arena"):
        arena = plan_arena(graph)
    gen = generate(graph, arena, float16=float16, optimize=optimize)
    obj = build_object(input_shape=graph.input_shape, output_shape=graph.output_shape,
                       code=gen.code, weights=gen.weights, arena_bytes=arena.arena_bytes,
                       input_offset=arena.offsets[graph.input],
                       output_offset=arena.offsets[graph.output])
    return Lowered(arena, gen, obj)


def plan_memory(graph: Graph, goal: str = "balanced", max_arena: int | None = None):
    """The graph with the regions to stream chosen (ml4f/streaming.py), and the choice."""
    with context.step("choosing the regions to stream"):
        memory = choose_regions(graph, goal, max_arena)
    return memory.graph, memory


def choose_kernels(graph: Graph, *, float16: bool = False, optimize: str = "balanced",
                   winograd: str = "auto", max_arena: int | None = None,
                   arena_goal: str = "balanced") -> Graph:
    """The graph with the kernel variants that trade arena for speed chosen, after
    the streamed regions, before the arena plan: the convolutions that run as
    Winograd convolutions (ml4f/kernels/winograd_plan.py), then the depthwise
    convolutions making rows in pairs or keeping their output apart from their
    input (channel groups outermost, ml4f/kernels/depthwise_pairs.py) and the
    1x1 convolutions running channel passes over an output apart from their
    input (ml4f/kernels/pointwise.py), all within one allowance over the plain
    kernels' arena (arena_allowance.py)."""
    limit = arena_limit(plan_arena(graph).arena_bytes, optimize, arena_goal, max_arena)
    graph = choose_winograd(graph, float16=float16, optimize=optimize, mode=winograd,
                            max_arena=max_arena, limit=limit)
    if winograd == "always":      # its layers may be over the allowance: the pairs add nothing then
        limit = max(limit, plan_arena(graph).arena_bytes)
    found = [c for family in (depthwise_pairs, pointwise)
             for c in family.candidates(graph, float16=float16, optimize=optimize)]
    return choose_within(graph, found, limit)
