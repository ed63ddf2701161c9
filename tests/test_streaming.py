"""Streamed regions (rows made as late as possible, inner tensors as ring
buffers): the row schedule replayed with tags (every row a step reads is in
its ring slot), random regions of convolutions, depthwise convolutions,
poolings, standalone activations and zero padding (odd sizes, strides 1-2, same/valid, dilation, fused merges with an
outer or an inner operand, several strip heights) compiled and run in the emulator
with every arena read checked against what the run wrote, against the
reference."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from ml4f import reference
from ml4f.backend import compile_graph
from ml4f.emulator import Machine
from ml4f.graph.ops import (LINEAR, RELU, Activation, Conv2D, DepthwiseConv2D, Elementwise, Graph,
                            Pool2D)
from ml4f.graph.ops.shape import Pad
from ml4f.graph.ops.stream import OUTPUT, local_input
from ml4f.graph.shapes import conv_out_and_pads
from ml4f.streaming import choose_regions, region_at, rows_of, with_region
from ml4f.validate import error

pytestmark = pytest.mark.unit


def _conv(rng, name, tin, shape, depthwise: bool):
    h, w, c = shape
    keep = rng.random() < 0.5                 # the shape kept (residual blocks)
    k = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    stride = (1, 1) if keep else (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    dil = (int(rng.integers(1, 3)), 1) if rng.random() < 0.25 else (1, 1)
    padding = "same" if keep else str(rng.choice(["same", "valid"]))
    eff = [(k[i] - 1) * dil[i] + 1 for i in range(2)]
    if padding == "valid" and (eff[0] > h or eff[1] > w):
        padding = "same"
    oh, pt, pb = conv_out_and_pads(h, k[0], stride[0], dil[0], padding)
    ow, pl, pr = conv_out_and_pads(w, k[1], stride[1], dil[1], padding)
    pads = (pt, pl, pb, pr)
    if depthwise:
        kernel = rng.uniform(-1, 1, (*k, c, 1)).astype(np.float32) / np.sqrt(k[0] * k[1])
        return DepthwiseConv2D(name, "DepthwiseConv2D", [tin], name, [shape], (oh, ow, c),
                               kernel=kernel, bias=rng.uniform(-1, 1, c).astype(np.float32),
                               strides=stride, dilation=dil, pads=pads)
    cout = c if keep else int(rng.integers(1, 10))
    kernel = rng.uniform(-1, 1, (*k, c, cout)).astype(np.float32) / np.sqrt(k[0] * k[1] * c)
    return Conv2D(name, "Conv2D", [tin], name, [shape], (oh, ow, cout), kernel=kernel,
                  bias=rng.uniform(-1, 1, cout).astype(np.float32), strides=stride,
                  dilation=dil, pads=pads)


def _pool(rng, name, tin, shape):
    """Max or average pooling, its windows never clipped at the top or bottom
    (what streams); columns may be clipped ("same")."""
    h, w, c = shape
    k = (int(rng.integers(1, min(3, h) + 1)), int(rng.integers(1, min(3, w) + 1)))
    stride = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    oh, pt, pb = conv_out_and_pads(h, k[0], stride[0], 1, "valid")
    ow, pl, pr = conv_out_and_pads(w, k[1], stride[1], 1, str(rng.choice(["same", "valid"])))
    mode = str(rng.choice(["max", "avg"]))
    act = RELU if rng.random() < 0.3 else LINEAR
    return Pool2D(name, "MaxPooling2D" if mode == "max" else "AveragePooling2D", [tin], name,
                  [shape], (oh, ow, c), mode=mode, pool=k, strides=stride, pads=(pt, pl, pb, pr),
                  activation=act)


def _sees_input(op) -> bool:
    """Every output row and column has a window tap inside the input (the kernels
    refuse windows over padding only)."""
    from ml4f.graph.shapes import valid_taps
    h, w, _ = op.in_shape
    oh, ow, _ = op.out_shape
    rows = all(k1 > k0 for k0, k1 in (valid_taps(o, op.strides[0], op.pads[0], op.dilation[0],
                                                 op.kernel.shape[0], h) for o in range(oh)))
    cols = all(k1 > k0 for k0, k1 in (valid_taps(o, op.strides[1], op.pads[1], op.dilation[1],
                                                 op.kernel.shape[1], w) for o in range(ow)))
    return rows and cols


def random_region(seed):
    """A graph of 2-5 windowed ops, some with a fused merge whose operand is the
    graph input or an earlier op's output of the same shape; all one region."""
    rng = np.random.default_rng(seed)
    prng = np.random.default_rng(seed + 7919)               # the padding's own draws
    shape = (int(rng.integers(5, 17)), int(rng.integers(2, 10)), int(rng.integers(1, 6)))
    g = Graph("x", "", shape, (), shapes={"x": shape})
    t = "x"
    for i in range(int(rng.integers(2, 6))):
        if seed % 2 and i and rng.random() < 0.35:           # odd seeds: poolings too
            op = _pool(rng, f"t{i}", t, g.shapes[t])
            if min(op.out_shape) < 1:
                break
            g.ops.append(op)
            g.shapes[op.output] = op.out_shape
            t = op.output
            continue
        if seed % 3 == 1 and i and rng.random() < 0.35:      # and standalone activations
            kind = str(rng.choice(["silu", "tanh", "gelu", "relu"]))
            op = Elementwise(f"t{i}", "Activation", [t], f"t{i}", [g.shapes[t]], g.shapes[t],
                             activation=Activation(kind, variant="erf" if kind == "gelu" else ""))
            g.ops.append(op)
            g.shapes[op.output] = op.out_shape
            t = op.output
            continue
        if seed % 5 == 2 and prng.random() < 0.4:              # and zero padding
            h, w, c = g.shapes[t]
            pads = tuple(int(v) for v in prng.integers(0, 3, 4))
            out = (h + pads[0] + pads[2], w + pads[1] + pads[3], c)
            op = Pad(f"t{i}", "ZeroPadding2D", [t], f"t{i}", [g.shapes[t]], out, pads=pads)
            g.ops.append(op)
            g.shapes[op.output] = op.out_shape
            t = op.output
            continue
        op = _conv(rng, f"t{i}", t, g.shapes[t], depthwise=rng.random() < 0.35)
        if min(op.out_shape) < 1 or not _sees_input(op):
            break
        same = [u for u in g.shapes if g.shapes[u] == op.out_shape and u != t]
        if same and rng.random() < 0.5:
            mode = str(rng.choice(["add", "sub", "rsub", "mul", "avg", "max", "min"]))
            other = same[int(rng.integers(len(same)))]
            op = dataclasses.replace(op, inputs=[t, other], in_shapes=[g.shapes[t], op.out_shape],
                                     residual=mode)
        g.ops.append(op)
        g.shapes[op.output] = op.out_shape
        t = op.output
    if len(g.ops) < 2:
        return random_region(seed + 1000)
    g.output, g.output_shape = t, g.shapes[t]
    return g


def replay(stream) -> None:
    """The schedule with tags: a step may only read rows that are in their slot
    (a window's rows from its first row's slot on, contiguous, unless the reader
    addresses each window row by itself)."""
    sched = stream.schedule
    slots = {t: [None] * (r.rows + r.mirror) for t, r in sched.rings.items()}
    made = {}
    for k, first, rows in sched.steps:
        op = stream.ops[k]
        for y in range(first, first + rows):
            lo, hi = op.stream_access().rows[y]
            reads = [(op.inputs[0], r) for r in range(lo, hi + 1)]
            if getattr(op, "residual", ""):
                reads.append((op.inputs[1], y))
            for t, r in reads:
                if t in slots:
                    ring = sched.rings[t]
                    if t == op.inputs[0] and not op.reads_window_rows_apart():
                        at = ring.slot(lo) + r - lo
                    else:
                        at = ring.slot(r)
                    assert slots[t][at] == (t, r), f"{op.name} row {y} reads {t} row {r}"
            t = op.output
            if t in slots:
                ring = sched.rings[t]
                slots[t][ring.slot(y)] = (t, y)
                if ring.mirrored(y):
                    slots[t][ring.rows + ring.slot(y)] = (t, y)
            made[t] = y
    assert made[OUTPUT] == rows_of(stream.out_shape)[0] - 1


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("strip", [1, 2, 3])
def test_random_regions_stream_like_the_reference(seed, strip):
    g = random_region(seed)
    stream = dataclasses.replace(region_at(g, 0, len(g.ops) - 1), strip=strip)
    replay(stream)
    streamed = with_region(g, 0, len(g.ops) - 1, stream)
    arena, _, obj = compile_graph(streamed)
    m = Machine(obj, check_reads=True)
    rng = np.random.default_rng(seed)
    for _ in range(2):
        x = rng.standard_normal(g.input_shape).astype(np.float32)
        assert error(m.run(x).output, reference.run_graph(g, x)) <= 1e-5, (seed, strip)


def test_regions_use_every_input_kind():
    """The random regions cover outer and inner merge operands and repeated slots."""
    outer = inner = mirrored = pools = acts = pads = 0
    for seed in range(40):
        g = random_region(seed)
        stream = region_at(g, 0, len(g.ops) - 1)
        for op in stream.ops:
            if getattr(op, "residual", ""):
                outer += op.inputs[1].startswith("<in")
                inner += not op.inputs[1].startswith("<in")
        mirrored += any(r.mirror for r in stream.schedule.rings.values())
        pools += sum(op.kind == "pool2d" for op in stream.ops)
        acts += sum(op.kind == "activation" for op in stream.ops)
        pads += sum(op.kind == "pad" for op in stream.ops)
    assert outer >= 3 and inner >= 3 and mirrored >= 10 and pools >= 5 and acts >= 3 and pads >= 4


def test_choice_of_regions():
    """Streaming a high-resolution chain lowers the bound; "fast" streams
    nothing; a budget is met by streaming, or refused naming the peak op."""
    rng = np.random.default_rng(3)
    shape = (48, 48, 3)
    g = Graph("x", "", shape, (), shapes={"x": shape})
    t, shp = "x", shape
    for i, (cout, k, s) in enumerate([(8, 3, 2), (16, 1, 1), (16, 3, 1), (8, 3, 2)]):
        h, w, c = shp
        oh, pt, pb = conv_out_and_pads(h, k, s, 1, "same")
        ow, pl, pr = conv_out_and_pads(w, k, s, 1, "same")
        op = Conv2D(f"c{i}", "Conv2D", [t], f"c{i}", [shp], (oh, ow, cout),
                    kernel=rng.uniform(-1, 1, (k, k, c, cout)).astype(np.float32),
                    strides=(s, s), pads=(pt, pl, pb, pr))
        g.ops.append(op)
        g.shapes[op.output] = shp = op.out_shape
        t = op.output
    g.output, g.output_shape = t, shp
    fast = choose_regions(g, "fast")
    small = choose_regions(g, "small")
    assert fast.graph is g and small.bound < fast.bound
    assert any(op.kind == "stream" for op in small.graph.ops)
    budget = choose_regions(g, "fast", max_arena=small.bound)
    assert budget.bound <= small.bound
    from ml4f.errors import BudgetError
    with pytest.raises(BudgetError) as info:
        choose_regions(g, "balanced", max_arena=small.bound - 4)
    assert "peak at op" in str(info.value) and f"{small.bound:,} B" in str(info.value)
    assert local_input(0) == "<in0>"


RESIDENT_SEEDS = [s for s in range(40) if s % 4 != 3][:16]


def _resident_region(monkeypatch, seed) -> list[str]:
    """Depthwise layers inside streamed regions with the resident-weight scheme
    (rows asked one at a time, from any row; fused merges): as the reference.
    Returns the schemes the depthwise layers took."""
    from ml4f.errors import CodegenError
    from ml4f.kernels import depthwise as dw
    choose = dw.choose_plan
    chosen = []

    def resident_first(op, f16, schemes=dw.SCHEMES, optimize="balanced", pairs=False, outer=False):
        try:
            plan = choose(op, f16, schemes=("resident",), optimize="speed", pairs=pairs, outer=outer)
        except CodegenError:
            plan = choose(op, f16, optimize=optimize, pairs=pairs, outer=outer)
        chosen.append(plan.scheme)
        return plan
    monkeypatch.setattr(dw, "choose_plan", resident_first)
    rng = np.random.default_rng(seed)
    g = random_region(seed)
    for i, op in enumerate(g.ops):            # more depthwise layers: every shape-keeping conv
        if op.kind == "conv2d" and op.in_shapes[0][2] == op.out_shape[2] and i % 2 == 0:
            k = op.kernel.shape
            kernel = rng.uniform(-1, 1, (k[0], k[1], k[2], 1)).astype(np.float32) / np.sqrt(k[0] * k[1])
            g.ops[i] = DepthwiseConv2D(op.name, "DepthwiseConv2D", op.inputs, op.output, op.in_shapes,
                                       op.out_shape, kernel=kernel, bias=op.bias, strides=op.strides,
                                       dilation=op.dilation, pads=op.pads, activation=op.activation,
                                       residual=op.residual)
    for strip in (1, 2):
        stream = dataclasses.replace(region_at(g, 0, len(g.ops) - 1), strip=strip)
        streamed = with_region(g, 0, len(g.ops) - 1, stream)
        _, _, obj = compile_graph(streamed)
        m = Machine(obj, check_reads=True)
        x = rng.standard_normal(g.input_shape).astype(np.float32)
        assert error(m.run(x).output, reference.run_graph(g, x)) <= 1e-5, (seed, strip)
    return chosen


@pytest.mark.parametrize("seed", RESIDENT_SEEDS)
def test_regions_with_resident_depthwise(monkeypatch, seed):
    _resident_region(monkeypatch, seed)


def test_resident_depthwise_runs_in_regions(monkeypatch):
    """The regions above do take the resident scheme, fused merges among them."""
    kinds = []
    for seed in RESIDENT_SEEDS:
        kinds += _resident_region(monkeypatch, seed)
        monkeypatch.undo()
    assert kinds.count("resident") >= 8, kinds


@pytest.mark.parametrize("seed", range(6))
def test_resident_pointwise_runs_in_regions(monkeypatch, seed):
    """1x1 convolutions with few input channels inside streamed regions (between
    3x3 depthwise layers, as in MobileNet) with the conv kernel's resident
    scheme, one row per call from a ring: as the reference."""
    from test_kernels import force_resident_conv
    taken = force_resident_conv(monkeypatch, seed)
    rng = np.random.default_rng(seed)
    h, w, c = int(rng.integers(6, 20)), int(rng.integers(3, 30)), int(rng.choice([2, 4, 8]))
    g = Graph("x", "", (h, w, c), (), shapes={"x": (h, w, c)})
    t = "x"
    for i in range(4):
        h, w, c = g.shapes[t]
        if i % 2 == 0:
            kernel = rng.uniform(-1, 1, (3, 3, c, 1)).astype(np.float32) / 3
            op = DepthwiseConv2D(f"t{i}", "DepthwiseConv2D", [t], f"t{i}", [(h, w, c)], (h, w, c),
                                 kernel=kernel, bias=rng.uniform(-1, 1, c).astype(np.float32),
                                 pads=(1, 1, 1, 1), activation=RELU)
        else:
            cout = int(rng.choice([3, 8, 16]))
            kernel = rng.uniform(-1, 1, (1, 1, c, cout)).astype(np.float32) / np.sqrt(c)
            op = Conv2D(f"t{i}", "Conv2D", [t], f"t{i}", [(h, w, c)], (h, w, cout), kernel=kernel,
                        bias=rng.uniform(-1, 1, cout).astype(np.float32), activation=RELU)
        g.ops.append(op)
        g.shapes[op.output] = op.out_shape
        t = op.output
    g.output, g.output_shape = t, g.shapes[t]
    for strip in (1, 2):
        stream = dataclasses.replace(region_at(g, 0, len(g.ops) - 1), strip=strip)
        _, _, obj = compile_graph(with_region(g, 0, len(g.ops) - 1, stream))
        x = rng.standard_normal(g.input_shape).astype(np.float32)
        out = Machine(obj, check_reads=True).run(x).output
        assert error(out, reference.run_graph(g, x)) <= 1e-5, (seed, strip)
    assert taken
