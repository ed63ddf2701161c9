"""Outputs written over their input behind the read front (plan.py's overlap
pairs): the offsets for hand-computed windows, the plans of random chains of
windowed ops replayed row by row with tags (every row an op reads still holds
what its producer wrote), and the compiled chains run in the emulator against
the reference, top to bottom and bottom to top."""
from __future__ import annotations

import numpy as np
import pytest

from ml4f import reference
from ml4f.backend import compile_graph
from ml4f.emulator import Machine
from ml4f.graph.ops import Conv2D, DepthwiseConv2D, Graph, Pool2D, elems
from ml4f.graph.ops.base import RowAccess
from ml4f.graph.shapes import conv_out_and_pads
from ml4f.plan import RESERVED, overlap_offsets
from ml4f.validate import error

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
    m = Machine(obj)
    rng = np.random.default_rng(seed)
    for _ in range(2):
        x = rng.standard_normal(g.input_shape).astype(np.float32)
        assert error(m.run(x).output, reference.run_graph(g, x)) <= 1e-5


def test_random_chains_use_both_directions():
    overlapping = reversed_ = 0
    for seed in range(40):
        plan = compile_graph(random_chain(seed)).arena
        overlapping += len(plan.overlapping)
        reversed_ += len(plan.reversed)
    assert overlapping >= 20 and reversed_ >= 5
