"""The arena planner: chains reach the lower bound, DAG plans never let a
tensor be overwritten while it is still to be read (checked by simulating
every write of the run), typical residual / inception / U-Net blocks reach the
bound, views and in-place outputs land where they must; and random DAGs of
merge and data-movement ops compile to code that matches the reference."""
from __future__ import annotations

import time

import numpy as np
import pytest

from ml4f import reference
from ml4f.backend import compile_graph
from ml4f.emulator import Machine
from ml4f.graph.ops import LINEAR, RELU, Conv2D, Elementwise, Graph, Op, elems
from ml4f.graph.ops.merge import Concat, Merge
from ml4f.graph.ops.shape import Crop, Pad, Transpose, View
from ml4f.plan import RESERVED, buffers, plan_arena
from ml4f.validate import error

pytestmark = pytest.mark.unit


def worst_reference_error(machine, graph, rng, inputs: int = 2) -> float:
    """The largest error of the machine's outputs against the reference run of
    `graph`, over `inputs` random inputs."""
    xs = [rng.standard_normal(graph.input_shape).astype(np.float32) for _ in range(inputs)]
    return max(error(machine.run(x).output, reference.run_graph(graph, x)) for x in xs)


class GraphBuilder:
    """Op-level graphs for the planner (kinds that matter: in-place, views, inputs)."""

    def __init__(self, shape):
        self.shapes = {"x": tuple(shape)}
        self.ops: list[Op] = []
        self.last = "x"

    def add(self, cls, inputs, shape, **kw) -> str:
        name = f"t{len(self.ops)}"
        self.ops.append(cls(name, cls.__name__, list(inputs), name,
                            [self.shapes[t] for t in inputs], tuple(shape), **kw))
        self.shapes[name] = tuple(shape)
        self.last = name
        return name

    def conv(self, t, shape):
        return self.add(Op, [t], shape)

    def graph(self, output=None) -> Graph:
        out = output or self.last
        return Graph("x", out, self.shapes["x"], self.shapes[out], list(self.ops), dict(self.shapes))


def simulate(graph: Graph, plan) -> None:
    """Run the plan with tags instead of values: every op checks that each
    element of its inputs still holds what its producer wrote, then writes its
    own tags.  Catches any overlap of a tensor that is still to be read."""
    mem = np.full(plan.arena_bytes // 4, -1, np.int64)
    tag = {}

    def where(t, n):
        """Word indices of t's elements (a channel slice: pixels apart)."""
        o = plan.offsets[t] // 4
        if t not in plan.pixels_apart:
            return o + np.arange(n)
        pixel = plan.pixels_apart[t][0] // 4
        c = graph.shapes[t][-1]
        return o + (np.arange(n) // c) * pixel + np.arange(n) % c

    def write(t, values):
        idx = where(t, len(values))
        assert plan.offsets[t] % 4 == 0 and plan.offsets[t] >= RESERVED, t
        assert idx.max() < plan.arena_bytes // 4, t
        mem[idx] = values

    def check(t):
        assert np.array_equal(mem[where(t, len(tag[t]))], tag[t]), f"{t} overwritten before it was read"

    tag["x"] = np.arange(elems(graph.input_shape)) + (1 << 32)
    write("x", tag["x"])
    for i, op in enumerate(graph.ops):
        for t in op.inputs:
            check(t)
        n = elems(op.out_shape)
        if isinstance(op, View):
            tag[op.output] = tag[op.inputs[0]][op.offset:op.offset + n]
            assert plan.offsets[op.output] == plan.offsets[op.inputs[0]] + 4 * op.offset
            continue
        tag[op.output] = np.arange(n) + ((i + 2) << 32)
        write(op.output, tag[op.output])
    check(graph.output)


# ------------------------------------------------------------------- chains
@pytest.mark.parametrize("seed", range(30))
def test_chains_reach_the_bound(seed):
    rng = np.random.default_rng(seed)
    b = GraphBuilder((int(rng.integers(1, 300)),))
    for _ in range(int(rng.integers(1, 15))):
        if rng.random() < 0.3:
            b.add(Elementwise, [b.last], b.shapes[b.last], activation=RELU)      # in place
        else:
            b.conv(b.last, (int(rng.integers(1, 500)),))
    g = b.graph()
    plan = plan_arena(g)
    simulate(g, plan)
    assert plan.arena_bytes == plan.lower_bound, (plan.method, plan.arena_bytes, plan.lower_bound)


# --------------------------------------------------------------------- DAGs
def random_dag(seed, n_ops=None):
    rng = np.random.default_rng(seed)
    shapes = [(4, 4, 8), (8, 8, 4), (2, 2, 16), (4, 4, 4), (16,)]
    b = GraphBuilder(shapes[int(rng.integers(len(shapes)))])
    for _ in range(n_ops or int(rng.integers(3, 25))):
        names = list(b.shapes)
        recent = names[-4:]
        t = str(rng.choice(recent if rng.random() < 0.7 else names))
        r = rng.random()
        same = [u for u in names if b.shapes[u] == b.shapes[t] and u != t]
        if r < 0.3 and same:
            others = list(rng.choice(same, size=min(len(same), int(rng.integers(1, 3))), replace=False))
            b.add(Merge, [t] + [str(u) for u in others], b.shapes[t], mode="add")
        elif r < 0.4:
            b.add(Elementwise, [t], b.shapes[t], activation=RELU)
        elif r < 0.5 and elems(b.shapes[t]) > 4:
            n = elems(b.shapes[t])
            b.add(View, [t], (n // 2,), offset=int(rng.integers(0, n - n // 2 + 1)))
        elif r < 0.6:
            b.add(Concat, [t, t], (2 * elems(b.shapes[t]),), axis=0)
        else:
            b.conv(t, shapes[int(rng.integers(len(shapes)))])
    return b.graph()


@pytest.mark.parametrize("seed", range(60))
def test_dag_plans_never_overwrite_live_tensors(seed):
    g = random_dag(seed)
    plan = plan_arena(g)
    simulate(g, plan)
    assert plan.arena_bytes >= plan.lower_bound


def test_planning_is_quick_on_large_dags():
    g = random_dag(7, n_ops=80)
    t0 = time.perf_counter()
    plan = plan_arena(g)
    assert time.perf_counter() - t0 < 5.0
    simulate(g, plan)


# ------------------------------------------------------- typical blocks: bound
def resnet_graph(blocks=3, projection_every=2):
    b = GraphBuilder((16, 16, 3))
    x = b.conv("x", (16, 16, 8))
    h, c = 16, 8
    for i in range(blocks):
        if i and i % projection_every == 0:
            h, c = h // 2, c * 2
            y = b.conv(x, (h, h, c))
            y = b.conv(y, (h, h, c))
            s = b.conv(x, (h, h, c))                                   # projection shortcut
            x = b.add(Merge, [s, y], (h, h, c), mode="add", activation=RELU)
        else:
            y = b.conv(x, (h, h, c))
            y = b.conv(y, (h, h, c))
            x = b.add(Merge, [y, x], (h, h, c), mode="add", activation=RELU)
    b.conv(x, (10,))
    return b.graph()


def inception_graph():
    b = GraphBuilder((10, 10, 4))
    x = b.conv("x", (10, 10, 8))
    for _ in range(2):
        p1 = b.conv(x, (10, 10, 4))
        p2 = b.conv(b.conv(x, (10, 10, 6)), (10, 10, 6))
        p3 = b.conv(b.conv(x, (10, 10, 8)), (10, 10, 3))
        x = b.add(Concat, [p1, p2, p3], (10, 10, 13), axis=2)
        x = b.conv(x, (10, 10, 8))
    b.conv(x, (5,))
    return b.graph()


def unet_graph():
    b = GraphBuilder((16, 16, 2))
    e1 = b.conv(b.conv("x", (16, 16, 8)), (16, 16, 8))
    e2 = b.conv(b.conv(e1, (8, 8, 16)), (8, 8, 16))
    m = b.conv(b.conv(e2, (4, 4, 32)), (4, 4, 32))
    u2 = b.conv(m, (8, 8, 16))
    d2 = b.conv(b.add(Concat, [u2, e2], (8, 8, 32), axis=2), (8, 8, 16))
    u1 = b.conv(d2, (16, 16, 8))
    d1 = b.conv(b.add(Concat, [u1, e1], (16, 16, 16), axis=2), (16, 16, 8))
    b.conv(d1, (16, 16, 1))
    return b.graph()


@pytest.mark.parametrize("make", [resnet_graph, lambda: resnet_graph(5, 1), inception_graph, unet_graph],
                         ids=["resnet", "resnet-projections", "inception", "unet"])
def test_typical_blocks_reach_the_bound(make):
    g = make()
    plan = plan_arena(g)
    simulate(g, plan)
    assert plan.arena_bytes == plan.lower_bound, (plan.method, plan.arena_bytes, plan.lower_bound)


# ----------------------------------------------------------- aliases, views
def test_merge_takes_the_buffer_of_the_input_that_dies():
    b = GraphBuilder((64,))
    a = b.conv("x", (64,))
    c = b.conv(a, (64,))
    s = b.add(Merge, [a, c], (64,), mode="add")      # a lives on (read below), c dies here
    b.add(Merge, [s, a], (64,), mode="mul")
    g = b.graph()
    plan = plan_arena(g)
    simulate(g, plan)
    assert plan.buffer_of[s] == c and plan.offsets[s] == plan.offsets[c]
    assert plan.arena_bytes == plan.lower_bound


def test_no_in_place_over_the_model_input_or_a_view():
    b = GraphBuilder((32,))
    v = b.add(View, ["x"], (16,), offset=8)
    e = b.add(Elementwise, [v], (16,), activation=RELU)
    g = b.graph()
    plan = plan_arena(g)
    simulate(g, plan)
    assert plan.buffer_of[e] == e
    assert plan.offsets[v] == plan.offsets["x"] + 32
    assert plan.lifetimes["x"] == (-1, 1)                 # the view keeps its input alive


# ---------------------------------------------- random DAGs through the emulator
def random_executable_dag(seed):
    rng = np.random.default_rng(seed)
    b = GraphBuilder((3, 4, 5))
    for _ in range(int(rng.integers(4, 12))):
        names = list(b.shapes)
        t = str(rng.choice(names[-3:] if rng.random() < 0.7 else names))
        shape = b.shapes[t]
        r = rng.random()
        same = [u for u in names if b.shapes[u] == shape and u != t]
        if r < 0.3 and same:
            k = int(rng.integers(1, min(3, len(same)) + 1))
            others = [str(u) for u in rng.choice(same, size=k, replace=False)]
            mode = str(rng.choice(["add", "sub", "mul", "avg", "max", "min"])) if k == 1 else \
                str(rng.choice(["add", "mul", "avg", "max", "min"]))
            b.add(Merge, [t] + others, shape, mode=mode, activation=RELU if rng.random() < 0.4 else LINEAR)
        elif r < 0.4:
            b.add(Elementwise, [t], shape, activation=RELU)
        elif r < 0.5 and len(shape) == 3 and shape[0] > 1:
            b.add(View, [t], (shape[0] - 1,) + shape[1:], offset=shape[1] * shape[2])
        elif r < 0.65 and len(shape) == 3:
            axis = int(rng.integers(0, 3))
            out = list(shape)
            out[axis] *= 2
            # the same tensor twice, or two (which their producers may write into the output)
            other = str(rng.choice(same)) if same and rng.random() < 0.6 else t
            b.add(Concat, [t, other], tuple(out), axis=axis)
        elif r < 0.8 and len(shape) == 3:
            perm = tuple(int(p) for p in rng.permutation(3))
            b.add(Transpose, [t], tuple(shape[p] for p in perm), perm=perm)
        elif len(shape) == 3 and shape[0] > 2 and shape[1] > 2:
            b.add(Crop, [t], (shape[0] - 2, shape[1] - 1, shape[2]), crops=(1, 1, 1, 0))
        elif len(shape) == 3:
            b.add(Pad, [t], (shape[0] + 1, shape[1] + 2, shape[2]), pads=(1, 0, 0, 2))
    return b.graph()


@pytest.mark.parametrize("seed", range(12))
def test_random_dags_run_like_the_reference(seed):
    g = random_executable_dag(seed)
    arena, _, obj = compile_graph(g)
    simulate(g, arena)
    assert worst_reference_error(Machine(obj), g, np.random.default_rng(seed)) <= 1e-5


def test_buffers_of_a_chain_with_views():
    b = GraphBuilder((6, 4))
    v = b.add(View, ["x"], (4, 4), offset=4)
    c = b.conv(v, (8,))
    g = b.graph()
    bufs = buffers(g)
    assert bufs.root[v] == "x" and bufs.inner[v] == 16
    assert bufs.life["x"] == (-1, 1) and bufs.life[c] == (1, 2)
    assert bufs.lower_bound == RESERVED + 4 * (24 + 8)


# ------------------------------------------ concatenations their producers fill
def _branches(shape, axis):
    """x -> three element-wise branches (distinct tensors) -> Concat along `axis` -> ReLU."""
    b = GraphBuilder(shape)
    parts = [b.add(Elementwise, ["x"], shape, activation=RELU) for _ in range(3)]
    out = list(shape)
    out[axis] *= 3
    cat = b.add(Concat, parts, tuple(out), axis=axis)
    b.add(Elementwise, [cat], tuple(out), activation=RELU)
    return b.graph(), parts, cat


@pytest.mark.parametrize("shape, axis", [((24,), 0), ((3, 4, 5), 0), ((1, 4, 5), 1)])
def test_concatenation_operands_are_computed_in_the_output(shape, axis):
    g, parts, cat = _branches(shape, axis)
    plan, gen, obj = compile_graph(g)
    simulate(g, plan)
    step = 4 * elems(shape)
    assert [plan.offsets[t] for t in parts] == [plan.offsets[cat] + k * step for k in range(3)]
    assert all(plan.buffer_of[t] == cat for t in parts)
    _concat_moves_nothing(g, plan, gen, obj, tol=0.0)


def _concat_moves_nothing(g, plan, gen, obj, tol) -> None:
    """The copy is gone: the bound falls by the operands' bytes, no code moves
    them, and the object (every read checked) computes what the reference does."""
    assert plan.lower_bound < buffers(g, {}).lower_bound
    layer = next(L for L in gen.layers if L.op.kind == "concat")
    assert layer.end == layer.start and "no code" in layer.plan
    assert worst_reference_error(Machine(obj, check_reads=True), g, np.random.default_rng(0)) <= tol


def _conv_branches(shape, widths, seed=0):
    """x -> a 3x3 "same" Conv2D per width -> Concat along the channels -> ReLU."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder(shape)
    h, w, cin = shape
    parts = [b.add(Conv2D, ["x"], (h, w, n), kernel=rng.standard_normal((3, 3, cin, n)).astype(np.float32),
                   bias=rng.standard_normal(n).astype(np.float32), pads=(1, 1, 1, 1))
             for n in widths]
    out = (h, w, sum(widths))
    cat = b.add(Concat, parts, out, axis=2)
    b.add(Elementwise, [cat], out, activation=RELU)
    return b.graph(), parts, cat


@pytest.mark.parametrize("shape, widths", [((5, 7, 3), (4, 5, 3)), ((6, 6, 2), (16, 1)),
                                           ((1, 9, 4), (7, 6))])
def test_channel_concatenation_operands_are_convolved_into_their_slices(shape, widths):
    """Convolutions write their pixels a whole output pixel apart, straight into
    their channels of the concatenation, which then moves nothing."""
    g, parts, cat = _conv_branches(shape, widths)
    plan, gen, obj = compile_graph(g)
    simulate(g, plan)
    starts = np.cumsum((0,) + widths[:-1])
    assert [plan.offsets[t] for t in parts] == [plan.offsets[cat] + 4 * int(c) for c in starts]
    assert all(plan.pixels_apart[t] == (4 * sum(widths), 4 * sum(widths) * shape[1]) for t in parts)
    _concat_moves_nothing(g, plan, gen, obj, tol=1e-6)


def test_concatenation_along_an_inner_axis_still_copies():
    g, parts, cat = _branches((2, 4, 5), 2)          # channels of a 2x4 image: interleaved
    plan = plan_arena(g)
    simulate(g, plan)
    assert all(plan.buffer_of[t] == t for t in parts)


def test_an_operand_read_elsewhere_is_not_put_in_the_output():
    b = GraphBuilder((8,))
    p = b.add(Elementwise, ["x"], (8,), activation=RELU)
    q = b.add(Elementwise, ["x"], (8,), activation=RELU)
    cat = b.add(Concat, [p, q], (16,), axis=0)
    b.add(Merge, [cat, b.add(Concat, [q, p], (16,), axis=0)], (16,), mode="add")
    g = b.graph()
    plan = plan_arena(g)
    simulate(g, plan)
    assert plan.buffer_of[p] == p and plan.buffer_of[q] == q
