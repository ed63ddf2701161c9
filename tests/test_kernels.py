"""Every kernel's real machine code, run in the emulator, against the NumPy
reference over many random configurations (no TensorFlow needed here; the
reference itself is proven against TensorFlow in test_reference_vs_tf.py)."""
from __future__ import annotations

import numpy as np
import pytest

from ml4f import reference
from ml4f.backend import compile_graph
from ml4f.emulator import Machine
from ml4f.graph.ops import RELU, LINEAR, Activation, Conv2D, Dense, Elementwise, Pool2D, Softmax
from ml4f.graph.shapes import conv_out_and_pads
from ml4f.validate import as_seen_by_code, error, single_op_graph

pytestmark = pytest.mark.unit

RTOL = 1e-5


def run_op(op, float16=False, inputs=2, seed=0, optimize="balanced"):
    g = single_op_graph(op)
    _, gen, obj = compile_graph(g, float16=float16, optimize=optimize)
    m = Machine(obj, check_alignment=False)
    ref_g = as_seen_by_code(g, float16)
    rng = np.random.default_rng(seed)
    worst = 0.0
    for _ in range(inputs):
        x = rng.standard_normal(g.input_shape).astype(np.float32)
        out = m.run(x).output
        exp = reference.run_graph(ref_g, x)
        worst = max(worst, error(out, exp))
    return worst, gen


def emulated_cycles(op, rng, float16=False):
    """The one-op graph of `op` compiled and run once on a random input: (the
    cycles of its layer, its plan)."""
    from ml4f.emulator.profile import profile
    g = single_op_graph(op)
    low = compile_graph(g, float16=float16)
    layer, hs = low.generated.layers[0], low.generated.header_size
    x = rng.standard_normal(g.input_shape).astype(np.float32)
    return profile(low.object, x, {"0": (hs + layer.start, hs + layer.end)}).cycles["0"], layer.plan


def conv_op(rng, h, w, cin, cout, k, stride, padding, dilation=(1, 1), act=LINEAR, bias=True, rank=2):
    kh, kw = k
    oh, pt, pb = conv_out_and_pads(h, kh, stride[0], dilation[0], padding)
    ow, pl, pr = conv_out_and_pads(w, kw, stride[1], dilation[1], padding)
    kernel = rng.uniform(-1, 1, (kh, kw, cin, cout)).astype(np.float32)
    b = rng.uniform(-1, 1, cout).astype(np.float32) if bias else None
    in_shape = (h, w, cin) if rank == 2 else (w, cin)
    out_shape = (oh, ow, cout) if rank == 2 else (ow, cout)
    return Conv2D("conv", "Conv2D", ["x"], "y", [in_shape], out_shape, kernel=kernel, bias=b,
                  strides=stride, dilation=dilation, pads=(pt, pl, pb, pr), activation=act)


def random_conv(seed):
    rng = np.random.default_rng(seed)
    k = (int(rng.integers(1, 6)), int(rng.integers(1, 6)))
    stride = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    padding = str(rng.choice(["valid", "same"]))
    dil = (1, 1)
    if rng.random() < 0.25:
        stride = (1, 1)
        dil = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    h = int(rng.integers(k[0] * dil[0], k[0] * dil[0] + 10))
    w = int(rng.integers(k[1] * dil[1], k[1] * dil[1] + 10))
    cin = int(rng.choice([1, 2, 3, 4, 5, 8, 13, 16]))
    cout = int(rng.choice([1, 2, 3, 5, 7, 8, 12, 16, 17]))
    act = RELU if rng.random() < 0.5 else LINEAR
    return conv_op(rng, h, w, cin, cout, k, stride, padding, dil, act, bias=rng.random() < 0.8)


@pytest.mark.parametrize("seed", range(40))
def test_conv2d_random(seed):
    op = random_conv(seed)
    err, _ = run_op(op, seed=seed)
    assert err <= RTOL, (op.in_shape, op.kernel.shape, op.strides, op.pads, err)


@pytest.mark.parametrize("seed", range(12))
def test_conv2d_random_f16(seed):
    op = random_conv(1000 + seed)
    err, _ = run_op(op, float16=True, seed=seed)
    assert err <= RTOL, (op.in_shape, op.kernel.shape, op.strides, op.pads, err)


@pytest.mark.parametrize("optimize", ["size", "balanced", "speed"])
def test_conv2d_optimize_modes(optimize):
    rng = np.random.default_rng(5)
    op = conv_op(rng, 12, 11, 8, 16, (3, 3), (1, 1), "same", act=RELU)
    err, _ = run_op(op, optimize=optimize)
    assert err <= RTOL


def test_conv2d_many_channels():
    rng = np.random.default_rng(3)
    op = conv_op(rng, 4, 5, 300, 260, (2, 2), (1, 1), "valid")
    err, _ = run_op(op, inputs=1)
    assert err <= RTOL


def test_conv1d_as_conv2d():
    rng = np.random.default_rng(4)
    op = conv_op(rng, 1, 40, 3, 8, (1, 5), (1, 2), "same", rank=1)
    err, _ = run_op(op)
    assert err <= RTOL


@pytest.mark.parametrize("seed", range(20))
def test_dense_random(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.choice([1, 2, 3, 7, 16, 33, 64, 100, 257]))
    units = int(rng.choice([1, 2, 3, 5, 8, 10, 13, 32, 300]))
    rows = int(rng.choice([1, 1, 1, 3]))
    in_shape = (n,) if rows == 1 else (rows, n)
    out_shape = (units,) if rows == 1 else (rows, units)
    op = Dense("dense", "Dense", ["x"], "y", [in_shape], out_shape,
               kernel=rng.uniform(-1, 1, (n, units)).astype(np.float32),
               bias=rng.uniform(-1, 1, units).astype(np.float32) if rng.random() < 0.8 else None,
               activation=RELU if rng.random() < 0.5 else LINEAR)
    for f16 in (False, True):
        err, _ = run_op(op, float16=f16, seed=seed)
        assert err <= RTOL, (n, units, rows, f16, err)


@pytest.mark.parametrize("widen", [1, 2, 3, 4])
def test_dense_f16_weights_widened_as_used(monkeypatch, widen):
    """Every float16 weight widened just before its product, `widen` rows of
    packed words per load, odd and even units, chunks with a partial group."""
    import ml4f.kernels.dense as dense
    rng = np.random.default_rng(widen)
    m = 4 if widen == 1 else widen + 1              # the last group of a chunk is partial
    for n, units in [(37, 29), (40, 16), (9, 5)]:
        u = max(u for u in range(1, min(units, 16) + 1) if dense.fp_regs(u, m, True, widen) <= 32)
        plan = dense.DensePlan(u, m, True, 2, widen)
        monkeypatch.setattr(dense, "choose_plan", lambda *a, plan=plan: plan)
        op = Dense("dense", "Dense", ["x"], "y", [(n,)], (units,),
                   kernel=rng.uniform(-1, 1, (n, units)).astype(np.float32),
                   bias=rng.uniform(-1, 1, units).astype(np.float32), activation=RELU)
        err, gen = run_op(op, float16=True, seed=widen)
        assert gen.layers[0].plan.widen == widen
        assert err <= RTOL, (n, units, plan, err)


@pytest.mark.parametrize("rows", [2, 3, 4])
def test_dense_f32_weight_rows_per_load(monkeypatch, rows):
    """float32 weights `rows` rows per VLDM: chunks with a partial group of rows,
    a tail chunk, a last block of fewer units."""
    import ml4f.kernels.dense as dense
    rng = np.random.default_rng(rows)
    m = rows + 1
    for n, units in [(37, 11), (40, 8), (9, 3)]:
        u = max(u for u in range(1, min(units, 16) + 1)
                if dense.fp_regs(u, m, True, 0, rows) <= 32 and u < units)
        plan = dense.DensePlan(u, m, True, 2, 0, rows)
        monkeypatch.setattr(dense, "choose_plan", lambda *a, plan=plan: plan)
        op = Dense("dense", "Dense", ["x"], "y", [(n,)], (units,),
                   kernel=rng.uniform(-1, 1, (n, units)).astype(np.float32),
                   bias=rng.uniform(-1, 1, units).astype(np.float32), activation=RELU)
        err, gen = run_op(op, seed=rows)
        assert gen.layers[0].plan.rows == rows
        assert err <= RTOL, (n, units, plan, err)


def test_dense_few_units_load_rows_together():
    """The cost model loads several float32 rows per VLDM where a block has few
    units (8 outputs: a VLDM per row would cost a cycle in eight)."""
    from ml4f.kernels.dense import choose_plan
    assert choose_plan(128, 8, False, "balanced", "relu").rows > 1
    assert choose_plan(128, 128, False, "balanced", "relu").rows == 1


def test_dense_f16_large_layers_widen_as_used():
    """The cost model picks weights widened as used for wide float16 layers:
    16 units per block, which the in-place widening has no registers for."""
    from ml4f.kernels.dense import choose_plan
    plan = choose_plan(256, 128, True, "balanced", "relu")
    assert plan.widen and plan.u == 16, plan
    assert not choose_plan(256, 128, False, "balanced", "relu").widen


@pytest.mark.parametrize("seed", range(20))
def test_maxpool_random(seed):
    rng = np.random.default_rng(seed)
    pool = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    stride = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    padding = str(rng.choice(["valid", "same"]))
    h, w = int(rng.integers(pool[0], 12)), int(rng.integers(pool[1], 12))
    c = int(rng.choice([1, 3, 8, 11, 20]))
    oh, pt, pb = conv_out_and_pads(h, pool[0], stride[0], 1, padding)
    ow, pl, pr = conv_out_and_pads(w, pool[1], stride[1], 1, padding)
    op = Pool2D("pool", "MaxPooling2D", ["x"], "y", [(h, w, c)], (oh, ow, c), mode="max",
                pool=pool, strides=stride, pads=(pt, pl, pb, pr))
    err, _ = run_op(op, seed=seed)
    assert err == 0.0, (pool, stride, padding, h, w, c, err)


@pytest.mark.parametrize("shape", [(1,), (10,), (3, 7), (2, 2, 5), (100,)])
def test_softmax(shape):
    op = Softmax("sm", "Softmax", ["x"], "y", [shape], shape)
    err, _ = run_op(op, inputs=4)
    assert err <= RTOL


def test_softmax_extreme_inputs():
    op = Softmax("sm", "Softmax", ["x"], "y", [(6,)], (6,))
    g = single_op_graph(op)
    _, _, obj = compile_graph(g)
    m = Machine(obj)
    for x in ([0, 0, 0, 0, 0, 0], [100, -100, 50, 0, 1e-3, -1e-3], [-80, -90, -100, -200, 80, 79],
              [3.4e38, 0, -3.4e38, 1, 2, 3]):
        x = np.asarray(x, np.float32)
        assert error(m.run(x).output, reference.run_graph(g, x)) <= RTOL, x


@pytest.mark.parametrize("n", [1, 3, 4, 13, 64])
def test_relu_standalone(n):
    op = Elementwise("relu", "Activation", ["x"], "y", [(n,)], (n,), activation=RELU)
    g = single_op_graph(op)
    _, _, obj = compile_graph(g)
    x = np.array([-np.inf, -1.5, -0.0, 0.0, 2.5, np.inf, -1e-40, 1e-40] * 8, np.float32)[:n]
    out = Machine(obj).run(x).output
    assert np.array_equal(out, np.maximum(x, 0)), (x, out)


def depthwise_op(rng, h, w, c, m, k, stride, padding, dilation=(1, 1), act=LINEAR, bias=True):
    from ml4f.graph.ops import DepthwiseConv2D
    oh, pt, pb = conv_out_and_pads(h, k[0], stride[0], dilation[0], padding)
    ow, pl, pr = conv_out_and_pads(w, k[1], stride[1], dilation[1], padding)
    kernel = rng.uniform(-1, 1, (k[0], k[1], c, m)).astype(np.float32)
    b = rng.uniform(-1, 1, c * m).astype(np.float32) if bias else None
    return DepthwiseConv2D("dw", "DepthwiseConv2D", ["x"], "y", [(h, w, c)], (oh, ow, c * m),
                           kernel=kernel, bias=b, strides=stride, dilation=dilation,
                           pads=(pt, pl, pb, pr), activation=act)


def random_depthwise(seed):
    rng = np.random.default_rng(seed)
    k = (int(rng.integers(1, 6)), int(rng.integers(1, 6)))
    stride = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    dil = (1, 1)
    if rng.random() < 0.25:
        stride, dil = (1, 1), (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    h = int(rng.integers(k[0] * dil[0], k[0] * dil[0] + 10))
    w = int(rng.integers(k[1] * dil[1], k[1] * dil[1] + 10))
    c = int(rng.choice([1, 2, 3, 4, 7, 8, 16, 33]))
    m = int(rng.choice([1, 1, 1, 2, 3]))
    return depthwise_op(rng, h, w, c, m, k, stride, str(rng.choice(["valid", "same"])), dil,
                        RELU if rng.random() < 0.5 else LINEAR, bias=rng.random() < 0.7)


@pytest.mark.parametrize("seed", range(30))
def test_depthwise_random(seed):
    op = random_depthwise(seed)
    err, _ = run_op(op, seed=seed)
    assert err <= RTOL, (op.in_shape, op.kernel.shape, op.strides, op.dilation, op.pads, err)


@pytest.mark.parametrize("seed", range(10))
def test_depthwise_random_f16(seed):
    op = random_depthwise(300 + seed)
    err, _ = run_op(op, float16=True, seed=seed)
    assert err <= RTOL, (op.in_shape, op.kernel.shape, op.strides, op.pads, err)


def test_depthwise_many_channels():
    rng = np.random.default_rng(9)
    op = depthwise_op(rng, 5, 6, 300, 1, (3, 3), (1, 1), "same")
    err, _ = run_op(op, inputs=1)
    assert err <= RTOL


@pytest.mark.parametrize("seed", range(8))
def test_maxpool_of_relu_output(seed):
    """Max pooling of a ReLU'd tensor compares integer images of the floats."""
    from ml4f.graph.ops import Graph
    rng = np.random.default_rng(seed)
    c = int(rng.choice([1, 3, 4, 5, 8, 13]))
    conv = conv_op(rng, 9, 10, 2, c, (3, 3), (1, 1), "same", act=RELU)
    conv = conv.__class__(**{**conv.__dict__, "inputs": ["x"], "output": "h"})
    pool_size = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    stride = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    padding = str(rng.choice(["valid", "same"]))
    oh, pt, pb = conv_out_and_pads(9, pool_size[0], stride[0], 1, padding)
    ow, pl, pr = conv_out_and_pads(10, pool_size[1], stride[1], 1, padding)
    pool = Pool2D("pool", "MaxPooling2D", ["h"], "y", [(9, 10, c)], (oh, ow, c), mode="max",
                  pool=pool_size, strides=stride, pads=(pt, pl, pb, pr))
    g = Graph(input="x", output="y", input_shape=(9, 10, 2), output_shape=(oh, ow, c),
              ops=[conv, pool], shapes={"x": (9, 10, 2), "h": (9, 10, c), "y": (oh, ow, c)})
    _, gen, obj = compile_graph(g)
    assert any("cmp" in insn.text() for _, insn in gen.program.insns)
    m = Machine(obj)
    for _ in range(2):
        x = rng.standard_normal(g.input_shape).astype(np.float32)
        assert error(m.run(x).output, reference.run_graph(g, x)) <= RTOL


def force_resident(monkeypatch, pair_rows=False, clipped=None, outer=False):
    """Depthwise layers take the resident-weight scheme wherever it fits, one
    row at a time; with `pair_rows`, their outputs never overlap their inputs
    and the full rows are made in pairs (the widest tile that fits); `clipped`:
    the rows with clipped kernel rows "resident" too or in the "window" scheme
    (None: as the cost model says); `outer`: the outputs never overlap their
    inputs, every row is resident and the channel groups run outermost."""
    import dataclasses
    from ml4f.errors import CodegenError
    from ml4f.graph.ops import DepthwiseConv2D
    from ml4f.kernels import depthwise as dw
    choose = dw.choose_plan
    if pair_rows or outer:
        monkeypatch.setattr(DepthwiseConv2D, "overlap_offsets", lambda self: None)

    def resident_first(op, f16, schemes=dw.SCHEMES, optimize="balanced", pairs=False, **kw):
        outer_ok = kw.get("outer", False)         # the kernel's offer: the output apart from its input
        try:
            plan = choose(op, f16, schemes=("resident",), optimize="speed", pairs=pairs and pair_rows)
        except CodegenError:
            return choose(op, f16, optimize=optimize, pairs=pairs)
        g = dw._geometry(op)
        if pair_rows and pairs and any(k == "pair" for k, _ in dw.resident_entries(g, True)):
            fitting = [p for p in range(1, g.OW + 1)
                       if dw.plan_fits(g, dataclasses.replace(plan, pair_p=p), op.kernel.shape[3])]
            plan = dataclasses.replace(plan, pair_p=max(fitting))
        if outer:
            assert outer_ok, "channels outer offered only where the output is apart from the input"
            plan = dataclasses.replace(plan, edge_p=0, edge_scheme="", outer=True)
        elif clipped == "resident":
            plan = dataclasses.replace(plan, edge_p=0, edge_scheme="")
        elif clipped == "window" and any(k1 - k0 < g.KH for k0, k1 in g.row_ranges()):
            fitting = [p for p in range(1, g.OW + 1)
                       if dw.plan_fits(g, dw.DwPlan(p, plan.n, "window"), op.kernel.shape[3])]
            plan = dataclasses.replace(plan, edge_p=max(fitting), edge_scheme="window")
        return plan
    monkeypatch.setattr(dw, "choose_plan", resident_first)


FUSED_ACTIVATIONS = [LINEAR, RELU, Activation("relu", max_value=6.0), Activation("relu", alpha=0.1),
                     Activation("relu", threshold=0.5), Activation("relu", threshold=0.3),
                     Activation("hard_sigmoid", variant="keras3"), Activation("hard_sigmoid", variant="keras2"),
                     Activation("hard_tanh"), Activation("hard_silu")]
RESIDENT_CASES = [  # h, w, c, m, stride, padding
    (7, 9, 1, 1, 1, "same"), (9, 7, 2, 1, 1, "valid"), (11, 13, 3, 2, 1, "same"),
    (10, 23, 5, 1, 2, "same"), (13, 11, 7, 2, 2, "valid"), (5, 31, 70, 1, 1, "same"),
    (12, 12, 64, 1, 2, "same"), (6, 40, 9, 1, 1, "valid"), (8, 25, 33, 1, 2, "valid"),
    (15, 5, 16, 2, 1, "same"), (9, 19, 70, 1, 2, "same"), (4, 4, 4, 1, 1, "same"),
]


@pytest.mark.parametrize("case", range(len(RESIDENT_CASES)))
@pytest.mark.parametrize("f16", [False, True])
@pytest.mark.parametrize("pair_rows,clipped,outer", [(False, "resident", False), (False, "window", False),
                                                     (True, None, False), (False, None, True),
                                                     (True, None, True)])
def test_depthwise_resident_scheme(monkeypatch, case, f16, pair_rows, clipped, outer):
    """The resident-weight scheme (its clipped rows resident or in the window
    scheme), one row or pairs of rows at a time, row loop or channel groups
    outermost, against the reference: odd sizes, stride 1 and 2, same and
    valid, depth multiplier 1 and 2, 1 to 70 channels, every fused activation,
    f32 and float16 weights."""
    from ml4f.kernels import depthwise as dw
    force_resident(monkeypatch, pair_rows, clipped, outer)
    h, w, c, m, s, padding = RESIDENT_CASES[case]
    for k, act in enumerate(FUSED_ACTIVATIONS):
        if (k + case) % 3 and k > 1:              # every activation, not every case with each
            continue
        rng = np.random.default_rng(100 * case + k)
        op = depthwise_op(rng, h, w, c, m, (3, 3), (s, s), padding, act=act, bias=(k + case) % 4 != 3)
        err, gen = run_op(op, float16=f16, seed=case)
        assert gen.layers[0].plan.scheme == "resident", gen.layers[0].plan
        paired = any(k == "pair" for k, _ in dw.resident_entries(dw._geometry(op), True))
        assert (gen.layers[0].plan.pair_p > 0) == (pair_rows and paired), gen.layers[0].plan
        assert gen.layers[0].plan.outer == outer, gen.layers[0].plan
        assert err <= RTOL, (RESIDENT_CASES[case], act, f16, err)


@pytest.mark.parametrize("clipped", ["resident", "window"])
def test_depthwise_resident_other_kernels(monkeypatch, clipped):
    """Kernel sizes other than 3x3, dilation, a 1-D layer."""
    force_resident(monkeypatch, clipped=clipped)
    rng = np.random.default_rng(11)
    for k, stride, dil, shape in [((5, 5), (1, 1), (1, 1), (9, 12, 3)), ((1, 5), (1, 2), (1, 1), (1, 30, 6)),
                                  ((3, 3), (1, 1), (2, 2), (11, 14, 5)), ((2, 3), (2, 1), (1, 1), (8, 9, 4))]:
        op = depthwise_op(rng, *shape, 1, k, stride, "same", dilation=dil, act=RELU)
        err, gen = run_op(op)
        assert gen.layers[0].plan.scheme == "resident", (k, gen.layers[0].plan)
        assert err <= RTOL, (k, stride, dil, shape, err)


@pytest.mark.parametrize("h,w,c,m,stride,f16,act", [
    (48, 48, 16, 1, 1, False, RELU), (24, 24, 32, 1, 2, False, RELU), (12, 12, 64, 1, 1, True, RELU),
    (25, 5, 64, 1, 1, False, LINEAR), (13, 17, 8, 2, 1, False, Activation("relu", max_value=6.0)),
    (12, 12, 64, 1, 2, False, LINEAR)])
def test_depthwise_cost_model_is_close_to_the_emulator(monkeypatch, h, w, c, m, stride, f16, act):
    """The chosen plan's estimate (and the resident scheme's, forced, one row
    or pairs of rows at a time, or channel groups outermost) within 5 % of
    the emulated cycles."""
    from ml4f.kernels import depthwise as dw
    for forced in (None, "rows", "window", "pairs", "outer"):
        monkeypatch.undo()
        if forced:
            force_resident(monkeypatch, forced in ("pairs", "outer"),
                           "window" if forced == "window" else "resident", outer=forced == "outer")
        rng = np.random.default_rng(h * w + c)
        op = depthwise_op(rng, h, w, c, m, (3, 3), (stride, stride), "same", act=act)
        cycles, plan = emulated_cycles(op, rng, f16)
        estimate = dw.layer_cycles(dw._geometry(op), plan, m, f16, op.activation, op.residual)
        assert abs(estimate - cycles) <= 0.05 * cycles, (plan, estimate, cycles)


@pytest.mark.parametrize("stride_bytes,count,n", [(256, 13, 1), (128, 25, 1), (64, 7, 2), (512, 9, 1),
                                                  (4, 3, 1), (12, 5, 3)])
def test_depthwise_column_loads_reach_both_sides(stride_bytes, count, n):
    """Each column is loaded within VLDR's reach of its base (+-1020 bytes); a
    base covers up to 2 KB of window, so a new one comes only every 2 KB
    (VLDM, n > 2: one base per column)."""
    from ml4f.kernels.depthwise import column_loads
    from ml4f.kernels.loads import VLDR_REACH
    offsets = [stride_bytes * i for i in range(count)]
    origin, steps = column_loads(offsets, n)
    base, moves = origin, 0
    for off, (new_base, rel) in zip(offsets, steps):
        if new_base is not None:
            base, moves = new_base, moves + 1
        assert off == base + rel
        if n > 2:
            assert rel == 0
        else:
            assert -VLDR_REACH <= rel and rel + 4 * (n - 1) <= VLDR_REACH
    span = offsets[-1] - offsets[0]
    if n <= 2:
        assert moves <= (span // (2 * VLDR_REACH) if span > VLDR_REACH else 0)
        assert 0 <= origin <= 4095                      # one ADDW from the tile pointer
    else:
        assert moves == count - 1


def test_conv_tiles_start_from_the_first_pixels_bias():
    """A pointwise convolution with several pixels per tile: no bias copies
    (VMOV between S registers) in the tile, the outputs as the reference's."""
    from ml4f.kernels.conv_geometry import Geometry
    from ml4f.kernels.conv_plan import bias_shared, tile_groups
    rng = np.random.default_rng(8)
    op = conv_op(rng, 6, 9, 16, 16, (1, 1), (1, 1), "valid", act=RELU)    # 16 inputs: not resident
    err, gen = run_op(op, inputs=3)
    assert err <= RTOL
    plan, g = gen.layers[0].plan, Geometry.of(op)
    assert plan.a > 1 and all(bias_shared(g, plan, ranges, False) for _, ranges in tile_groups(g, plan))
    listing = gen.program.listing()
    assert "vmov.f32 s" not in listing, listing


@pytest.mark.parametrize("h,w,c,m,stride,padding,f16,pair_rows", [
    (8, 40, 3, 1, 1, "same", False, False), (9, 41, 2, 1, 2, "valid", False, False),
    (10, 50, 4, 1, 1, "same", True, False), (11, 47, 5, 1, 2, "same", False, True),
    (9, 44, 2, 1, 2, "valid", True, False), (12, 30, 3, 1, 1, "same", False, True)])
def test_depthwise_resident_tiles_hand_on_shared_columns(monkeypatch, h, w, c, m, stride, padding,
                                                         f16, pair_rows):
    """Rows of several resident tiles: the columns a tile shares with the next
    one are handed on in registers (row_carries), the outputs as the reference's."""
    from ml4f.kernels import depthwise as dw
    force_resident(monkeypatch, pair_rows, "resident")
    rng = np.random.default_rng(h * w + c)
    op = depthwise_op(rng, h, w, c, m, (3, 3), (stride, stride), padding, act=RELU)
    err, gen = run_op(op, float16=f16, seed=c)
    plan, g = gen.layers[0].plan, dw._geometry(op)
    widths = [(plan.p, 1)] + ([(plan.pair_p, 2)] if plan.pair_p else [])
    assert any(cin for p, rows in widths for cin, _, _ in dw.row_carries(g, p, plan.n, m, rows)), plan
    assert err <= RTOL, (plan, err)


def test_depthwise_carry_pairs_narrow_tiles():
    """Tiles narrower than the kernel's reach share a column both ways: no
    columns are handed on then; wider ones hand on KW - stride columns."""
    from ml4f.kernels import depthwise as dw
    rng = np.random.default_rng(2)
    g1 = dw._geometry(depthwise_op(rng, 6, 9, 2, 1, (3, 3), (1, 1), "same"))
    g2 = dw._geometry(depthwise_op(rng, 6, 9, 2, 1, (3, 3), (2, 2), "same"))
    assert dw.carry_pairs(g1, 1) == [] and dw.carry_pairs(g1, 4) == [(4, 0), (5, 1)]
    assert dw.carry_pairs(g2, 1) == [(2, 0)]


# ------------------------------------------------ 1x1 convolutions: channel passes
PASS_ACTS = [LINEAR, RELU, Activation("relu", max_value=6.0), Activation("relu", threshold=0.3),
             Activation("relu", alpha=0.1)]


def random_pointwise(seed):
    """A 1x1 convolution with few input channels, told to run channel passes."""
    import dataclasses
    rng = np.random.default_rng(seed)
    h, w = int(rng.integers(1, 40)), int(rng.integers(1, 40))
    cin = int(rng.choice([1, 2, 3, 5, 8, 8, 11, 14]))
    cout = int(rng.choice([1, 2, 3, 5, 8, 16, 17, 70]))
    act = PASS_ACTS[seed % len(PASS_ACTS)]
    op = conv_op(rng, h, w, cin, cout, (1, 1), (1, 1), "valid", act=act, bias=rng.random() < 0.8,
                 rank=1 if seed % 7 == 0 else 2)
    return dataclasses.replace(op, channel_passes=True)


@pytest.mark.parametrize("seed", range(30))
@pytest.mark.parametrize("f16", [False, True])
def test_pointwise_channel_passes(seed, f16):
    from ml4f.kernels.pointwise import PassPlan
    op = random_pointwise(seed)
    err, gen = run_op(op, float16=f16, seed=seed)
    assert isinstance(gen.layers[0].plan, PassPlan)
    assert err <= RTOL, (op.in_shape, op.out_shape, op.activation, gen.layers[0].plan)


@pytest.mark.parametrize("h,w,cin,cout,f16,act", [
    (48, 48, 8, 16, False, RELU), (48, 48, 8, 16, True, RELU), (9, 9, 5, 6, True, PASS_ACTS[2]),
    (30, 7, 4, 6, False, RELU), (20, 20, 13, 9, False, LINEAR), (6, 6, 8, 16, False, PASS_ACTS[3])])
def test_pointwise_cost_model_is_close_to_the_emulator(h, w, cin, cout, f16, act):
    """The channel passes' estimate within 5 % of the emulated cycles, and on
    MobileNet's first pointwise layer (48x48, 8 -> 16) below 3 cycles per MAC."""
    import dataclasses
    from ml4f.kernels import pointwise
    rng = np.random.default_rng(h * w + cin)
    op = dataclasses.replace(conv_op(rng, h, w, cin, cout, (1, 1), (1, 1), "valid", act=act),
                             channel_passes=True)
    cycles, plan = emulated_cycles(op, rng, f16)
    estimate = pointwise.layer_cycles(op, plan, f16)
    assert abs(estimate - cycles) <= 0.05 * cycles, (plan, estimate, cycles)
    if (h, w, cin, cout) == (48, 48, 8, 16):
        assert cycles / op.macs() < 3.0


def force_resident_conv(monkeypatch, seed=0):
    """conv.py's plans forced to the resident scheme wherever it applies (the
    widest block that fits, an unrolling by seed); returns the plans taken."""
    from ml4f.kernels import conv as conv_kernel
    from ml4f.kernels import pixel_stream as ps
    from ml4f.kernels.conv_geometry import Geometry
    from ml4f.kernels.conv_plan import ConvPlan, resident_applies
    choose, taken = conv_kernel.choose_plan, []

    def resident(op, f16, optimize):
        g = Geometry.of(op)
        if not resident_applies(g) or op.residual:
            return choose(op, f16, optimize)
        b = max(b for b in range(1, min(g.cout, ps.MAX_BLOCK) + 1) if ps.fits(g.cin, b))
        plan = ConvPlan(1, b, g.cin, "resident", False, ps.UNROLLS[seed % len(ps.UNROLLS)])
        taken.append(plan)
        return plan
    monkeypatch.setattr(conv_kernel, "choose_plan", resident)
    return taken


@pytest.mark.parametrize("seed", range(24))
@pytest.mark.parametrize("f16", [False, True])
def test_conv_resident_scheme(monkeypatch, seed, f16):
    """The conv kernel's resident scheme (1x1, the block's weights in registers
    while a row's pixels stream past), strides 1 and 2, every store form."""
    rng = np.random.default_rng(seed)
    taken = force_resident_conv(monkeypatch, seed)
    h, w = int(rng.integers(1, 20)), int(rng.integers(1, 40))
    cin = int(rng.choice([1, 2, 3, 5, 8, 11, 14]))
    cout = int(rng.choice([1, 2, 3, 5, 8, 16, 17, 70]))
    stride = int(rng.integers(1, 3))
    op = conv_op(rng, h, w, cin, cout, (1, 1), (stride, stride), "valid",
                 act=PASS_ACTS[seed % len(PASS_ACTS)], bias=rng.random() < 0.8,
                 rank=1 if seed % 7 == 0 else 2)
    err, gen = run_op(op, float16=f16, seed=seed)
    assert taken and gen.layers[0].plan.scheme == "resident"
    assert err <= RTOL, (op.in_shape, op.out_shape, op.activation, gen.layers[0].plan)


@pytest.mark.parametrize("h,w,cin,cout,stride,f16,act", [
    (48, 48, 8, 16, 1, False, RELU), (48, 48, 8, 16, 1, True, RELU), (11, 13, 4, 9, 2, False, RELU),
    (9, 9, 5, 6, 1, True, PASS_ACTS[2]), (30, 7, 3, 6, 1, False, LINEAR)])
def test_conv_resident_cost_model_is_close_to_the_emulator(monkeypatch, h, w, cin, cout, stride,
                                                           f16, act):
    from ml4f.kernels.conv_geometry import Geometry
    from ml4f.kernels.conv_plan import layer_cycles
    force_resident_conv(monkeypatch, 3)
    rng = np.random.default_rng(h * w + cin)
    op = conv_op(rng, h, w, cin, cout, (1, 1), (stride, stride), "valid", act=act)
    cycles, plan = emulated_cycles(op, rng, f16)
    estimate = layer_cycles(Geometry.of(op), plan, f16, act)
    assert abs(estimate - cycles) <= 0.05 * cycles, (plan, estimate, cycles)


def test_conv_resident_scheme_chosen_for_few_input_channels():
    """The cost model takes the resident scheme for MobileNet's 8 -> 16 layer
    (one row at a time, as in a streamed region), and not for 16 -> 32."""
    rng = np.random.default_rng(1)
    assert run_op(conv_op(rng, 48, 48, 8, 16, (1, 1), (1, 1), "valid", act=RELU),
                  inputs=1)[1].layers[0].plan.scheme == "resident"
    assert run_op(conv_op(rng, 24, 24, 16, 32, (1, 1), (1, 1), "valid", act=RELU),
                  inputs=1)[1].layers[0].plan.scheme != "resident"
