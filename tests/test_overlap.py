"""Outputs written over their input behind the read front (plan.py's overlap
pairs): the offsets for hand-computed windows, the plans of random chains of
windowed ops replayed row by row with tags (every row an op reads still holds
what its producer wrote), and the compiled chains run in the emulator against
the reference, top to bottom and bottom to top."""
from __future__ import annotations

import numpy as np
import pytest

from ml4f.backend import compile_graph
from ml4f.emulator import Machine
from ml4f.graph.ops import Conv2D, DepthwiseConv2D, Graph, Pool2D, elems
from ml4f.graph.ops.base import RowAccess
from ml4f.graph.shapes import conv_out_and_pads
from ml4f.plan import RESERVED, overlap_offsets
from test_plan import worst_reference_error

pytestmark = pytest.mark.unit


# ------------------------------------------------------------------ offsets
@pytest.mark.parametrize("rows, forward, reverse", [
    (((0, 1), (0, 2), (1, 3), (2, 3)), -2, 2),      # 3x3 "same", stride 1: two rows of delay
    (((0, 0), (1, 1), (2, 2)), -1, 1),               # 1x1
    (((0, 2), (2, 4), (4, 5)), -1, 4),               # stride 2, "same": row 2 after input row 5
])
def test_overlap_offsets_by_hand(rows, forward, reverse):
    h = rows[-1][1] + 1
    access = RowAccess(16, 16, rows, reversible=True)
    assert overlap_offsets(access, 16 * h, 16 * len(rows)) == (16 * forward, 16 * reverse)


def test_overlap_offsets_of_a_shrinking_output():
    """Stride 2 halves the rows and the row bytes: the output fits behind the input."""
    rows = tuple((2 * y, min(2 * y + 2, 7)) for y in range(4))
    forward, reverse = overlap_offsets(RowAccess(32, 16, rows, False), 8 * 32, 4 * 16)
    assert forward == -16 and reverse is None


# ------------------------------------------------------------ random chains
def _window(rng, h, w, c):
    kind = str(rng.choice(["conv", "dw", "pool"]))
    k = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    stride = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    dil = (1, 1) if kind == "pool" or rng.random() < 0.7 else (int(rng.integers(1, 3)), 1)
    padding = str(rng.choice(["same", "valid"]))
    eff = [(k[i] - 1) * dil[i] + 1 for i in range(2)]
    if padding == "valid" and (eff[0] > h or eff[1] > w):
        padding = "same"
    oh, pt, pb = conv_out_and_pads(h, k[0], stride[0], dil[0], padding)
    ow, pl, pr = conv_out_and_pads(w, k[1], stride[1], dil[1], padding)
    pads = (pt, pl, pb, pr)
    if kind == "conv":
        cout = int(rng.integers(1, 9))
        kernel = rng.uniform(-1, 1, (*k, c, cout)).astype(np.float32)
        return Conv2D, dict(kernel=kernel, bias=rng.uniform(-1, 1, cout).astype(np.float32),
                            strides=stride, dilation=dil, pads=pads), (oh, ow, cout)
    if kind == "dw":
        kernel = rng.uniform(-1, 1, (*k, c, 1)).astype(np.float32)
        return DepthwiseConv2D, dict(kernel=kernel, bias=None, strides=stride, dilation=dil,
                                     pads=pads), (oh, ow, c)
    if padding == "same" and (pt >= k[0] or pl >= k[1]):
        pads = (0, 0, 0, 0)
        oh, ow = (h - k[0]) // stride[0] + 1, (w - k[1]) // stride[1] + 1
    return Pool2D, dict(mode=str(rng.choice(["max", "avg"])), pool=k, strides=stride,
                        pads=pads), (oh, ow, c)


def random_chain(seed) -> Graph:
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(3, 13)), int(rng.integers(3, 13)), int(rng.integers(1, 7)))
    g = Graph("x", "", shape, (), shapes={"x": shape})
    t = "x"
    for i in range(int(rng.integers(2, 6))):
        cls, fields, out = _window(rng, *g.shapes[t])
        if min(out) < 1:
            break
        name = f"t{i}"
        g.ops.append(cls(name, cls.__name__, [t], name, [g.shapes[t]], out, **fields))
        g.shapes[name] = out
        t = name
    g.output, g.output_shape = t, g.shapes[t]
    return g


def replay_rows(graph: Graph, plan) -> None:
    """The plan with tags instead of values, row by row for windowed ops (in
    the order their kernel runs them): every input row an output row reads
    must still hold its producer's tags."""
    mem = np.full(plan.arena_bytes // 4, -1, np.int64)
    tags = {}

    def rows_of(t):
        h = graph.shapes[t][0] if len(graph.shapes[t]) == 3 else 1
        n = elems(graph.shapes[t])
        return h, n // h

    def write(t, row, values):
        h, per = rows_of(t)
        o = plan.offsets[t] // 4 + row * per
        assert RESERVED // 4 <= o and o + len(values) <= plan.arena_bytes // 4
        mem[o:o + len(values)] = values

    def check(t, row):
        h, per = rows_of(t)
        o = plan.offsets[t] // 4 + row * per
        assert np.array_equal(mem[o:o + per], tags[t][row * per:(row + 1) * per]), \
            f"row {row} of {t} overwritten before it was read"

    tags["x"] = np.arange(elems(graph.input_shape)) + (1 << 32)
    write("x", 0, tags["x"])
    for i, op in enumerate(graph.ops):
        tags[op.output] = np.arange(elems(op.out_shape)) + ((i + 2) << 32)
        h, per = rows_of(op.output)
        order = range(h - 1, -1, -1) if op.output in plan.reversed else range(h)
        access = op.row_access()
        for y in order:
            lo, hi = access.rows[y]
            for r in range(lo, hi + 1):
                check(op.inputs[0], r)
            write(op.output, y, tags[op.output][y * per:(y + 1) * per])


@pytest.mark.parametrize("seed", range(40))
def test_random_chains_overlap_safely_and_run_like_the_reference(seed):
    g = random_chain(seed)
    arena, _, obj = compile_graph(g)
    replay_rows(g, arena)
    assert arena.arena_bytes <= arena.op_by_op_bound
    assert worst_reference_error(Machine(obj), g, np.random.default_rng(seed)) <= 1e-5


def test_random_chains_use_both_directions():
    overlapping = reversed_ = 0
    for seed in range(40):
        plan = compile_graph(random_chain(seed)).arena
        overlapping += len(plan.overlapping)
        reversed_ += len(plan.reversed)
    assert overlapping >= 20 and reversed_ >= 5


# ------------------------------------------------------ depthwise row pairs
def pair_chain(seed) -> Graph:
    """A chain of 3x3 depthwise convolutions (strides 1 and 2, "same" and
    "valid") making their full rows in pairs, each over its dying input."""
    import dataclasses
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(5, 17)), int(rng.integers(3, 13)), int(rng.choice([4, 8, 16, 33, 64])))
    g = Graph("x", "", shape, (), shapes={"x": shape})
    t = "x"
    for i in range(int(rng.integers(2, 4))):
        h, w, c = g.shapes[t]
        stride = 2 if rng.random() < 0.3 else 1
        padding = "valid" if rng.random() < 0.3 and min(h, w) >= 5 else "same"
        oh, pt, pb = conv_out_and_pads(h, 3, stride, 1, padding)
        ow, pl, pr = conv_out_and_pads(w, 3, stride, 1, padding)
        if oh < 2:
            break
        kernel = rng.uniform(-1, 1, (3, 3, c, 1)).astype(np.float32)
        name = f"t{i}"
        op = DepthwiseConv2D(name, "DepthwiseConv2D", [t], name, [(h, w, c)], (oh, ow, c),
                             kernel=kernel, bias=rng.uniform(-1, 1, c).astype(np.float32),
                             strides=(stride, stride), pads=(pt, pl, pb, pr))
        g.ops.append(dataclasses.replace(op, row_pairs=True))
        g.shapes[name] = (oh, ow, c)
        t = name
    g.output, g.output_shape = t, g.shapes[t]
    return g


@pytest.mark.parametrize("seed", range(16))
def test_depthwise_row_pairs_over_their_input(seed):
    """Depthwise convolutions told to make rows in pairs lie one output row
    further behind the read front (their row_access) and run like the
    reference with their output over their input."""
    g = pair_chain(seed)
    arena, gen, obj = compile_graph(g)
    replay_rows(g, arena)
    assert worst_reference_error(Machine(obj), g, np.random.default_rng(seed)) <= 1e-5


def tightest_plan(g: Graph, reverse: bool):
    """The arena plan of a one-op graph with its output at the highest offset
    below its input that the op's row_access allows, or with `reverse` the
    lowest above it (as tight as the planner may place it)."""
    import dataclasses
    from ml4f.plan import plan_arena
    plan = plan_arena(g)
    op = g.ops[0]
    forward, backward = op.overlap_offsets()
    shift = backward if reverse else forward
    x_off = RESERVED + max(0, -shift)
    y_off = x_off + shift
    sx, sy = plan.sizes[g.input], plan.sizes[op.output]
    offsets = {**plan.offsets, g.input: x_off, op.output: y_off}
    return dataclasses.replace(plan, offsets=offsets, arena_bytes=max(x_off + sx, y_off + sy),
                               overlapping=frozenset([op.output]),
                               reversed=frozenset([op.output] if reverse else []))


@pytest.mark.parametrize("reverse", [False, True])
def test_depthwise_row_pairs_run_over_their_input(monkeypatch, reverse):
    """Each op of the chains above alone, its output as tight over its input as
    its row_access allows (below it, or above it with the rows bottom to top):
    the pairs of rows still read every input row before it is overwritten (the
    emulator against the reference)."""
    import dataclasses
    from ml4f import backend
    paired = 0
    monkeypatch.setattr(backend, "plan_arena", lambda g: tightest_plan(g, reverse))
    for seed in range(16):
        for op in pair_chain(seed).ops:
            op = dataclasses.replace(op, inputs=["x"])
            g = Graph("x", op.output, op.in_shapes[0], op.out_shape,
                      ops=[op], shapes={"x": op.in_shapes[0], op.output: op.out_shape})
            arena, gen, obj = compile_graph(g)
            replay_rows(g, arena)
            paired += bool(getattr(gen.layers[0].plan, "pair_p", 0))
            err = worst_reference_error(Machine(obj), g, np.random.default_rng(seed), inputs=1)
            assert err <= 1e-5, (seed, op.out_shape)
    assert paired >= 20, paired


def test_row_pairs_chosen_within_the_arena_allowance():
    """choose_kernels gives the depthwise ops of a DS-CNN-like chain (each output
    over its input) their row pairs where the arena may grow by a row: within
    the allowance of --optimize balanced, not with "size" nor past --max-arena."""
    from ml4f.backend import choose_kernels
    from ml4f.plan import plan_arena
    rng = np.random.default_rng(5)
    g = Graph("x", "t2", (25, 5, 64), (25, 5, 64), shapes={"x": (25, 5, 64)})
    for i, t in enumerate(["x", "t0", "t1"]):
        g.ops.append(DepthwiseConv2D(f"t{i}", "DepthwiseConv2D", [t], f"t{i}", [(25, 5, 64)], (25, 5, 64),
                                     kernel=rng.uniform(-1, 1, (3, 3, 64, 1)).astype(np.float32),
                                     pads=(1, 1, 1, 1)))
        g.shapes[f"t{i}"] = (25, 5, 64)
    plain = plan_arena(g).arena_bytes
    balanced = choose_kernels(g, optimize="balanced")
    assert all(op.row_pairs for op in balanced.ops)
    assert plain < plan_arena(balanced).arena_bytes <= 1.10 * plain
    arena, gen, obj = compile_graph(balanced)
    assert all(layer.plan.pair_p and layer.op.output in arena.overlapping for layer in gen.layers[1:])
    assert worst_reference_error(Machine(obj), g, rng, inputs=1) <= 1e-5
    for kw in (dict(optimize="size"), dict(optimize="speed", max_arena=plain)):
        chosen = choose_kernels(g, **kw)
        assert not any(op.row_pairs for op in chosen.ops), kw
        assert plan_arena(chosen).arena_bytes == plain


# ------------------------------------------------ 1x1 convolutions: channel passes
def pointwise_op(seed) -> Conv2D:
    import dataclasses
    rng = np.random.default_rng(seed)
    h, w = int(rng.integers(2, 30)), int(rng.integers(1, 40))
    cin, cout = int(rng.choice([2, 4, 8])), int(rng.choice([3, 8, 16]))
    op = Conv2D("y", "Conv2D", ["x"], "y", [(h, w, cin)], (h, w, cout),
                kernel=rng.uniform(-1, 1, (1, 1, cin, cout)).astype(np.float32),
                bias=rng.uniform(-1, 1, cout).astype(np.float32))
    return dataclasses.replace(op, channel_passes=True)


@pytest.mark.parametrize("seed", range(12))
def test_pointwise_channel_passes_run_over_their_input(monkeypatch, seed):
    """A 1x1 convolution running channel passes over groups of rows, its output
    as tight over its input as its row_access allows: every pass of a group
    still reads the group's inputs (the emulator against the reference), and
    its rows are never made bottom to top."""
    from ml4f import backend
    from ml4f.kernels.pointwise import PassPlan
    op = pointwise_op(seed)
    assert op.overlap_offsets()[1] is None
    g = Graph("x", "y", op.in_shapes[0], op.out_shape, ops=[op],
              shapes={"x": op.in_shapes[0], "y": op.out_shape})
    monkeypatch.setattr(backend, "plan_arena", lambda g: tightest_plan(g, False))
    arena, gen, obj = compile_graph(g)
    replay_rows(g, arena)
    assert isinstance(gen.layers[0].plan, PassPlan)
    assert worst_reference_error(Machine(obj), g, np.random.default_rng(seed), inputs=1) <= 1e-5


def test_channel_passes_chosen_within_the_arena_allowance():
    """choose_kernels gives a 48x48 8 -> 16 1x1 convolution (MobileNet's first
    pointwise layer) its channel passes when the arena may grow by a group of
    rows, not with "size"."""
    from ml4f.backend import choose_kernels
    from ml4f.plan import plan_arena
    rng = np.random.default_rng(3)
    op = Conv2D("y", "Conv2D", ["x"], "y", [(48, 48, 8)], (48, 48, 16),
                kernel=rng.uniform(-1, 1, (1, 1, 8, 16)).astype(np.float32),
                bias=rng.uniform(-1, 1, 16).astype(np.float32))
    g = Graph("x", "y", (48, 48, 8), (48, 48, 16), ops=[op], shapes={"x": (48, 48, 8), "y": (48, 48, 16)})
    plain = plan_arena(g).arena_bytes
    chosen = choose_kernels(g, optimize="balanced")
    assert chosen.ops[0].channel_passes
    assert plain <= plan_arena(chosen).arena_bytes <= 1.10 * plain
    assert not choose_kernels(g, optimize="size").ops[0].channel_passes
