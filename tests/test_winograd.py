"""Winograd convolutions F(2x2, 3x3) and F(2, 3) (1-D): the kernel against the
float64 reference in the emulator over random geometries, plans, activations,
merges and both weight types; the reference against the direct convolution;
the cost model against the emulator's cycles; the choice (speed, balanced,
size, off/always, the arena); single layers against TensorFlow; whole models
in the three file formats with a Winograd layer chosen."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from benchmarks import models as bench_models
from keras_models import build_and_save, keras_module
from ml4f import reference
from ml4f.api import compile_file
from ml4f.backend import choose_kernels, compile_graph, plan_memory
from ml4f.emulator import Machine
from ml4f.emulator.profile import profile
from ml4f.graph.ops import Activation, Graph
from ml4f.graph.ops.conv import Conv2D, WinogradConv2D
from ml4f.kernels.conv_geometry import Geometry
from ml4f.kernels.winograd_plan import eligible, layer_cycles, make_plan, winograd_op
from ml4f.validate import as_seen_by_code, error, single_op_graph
from tf_oracle import compare, keras_predict

RTOL = 1e-5
ACTS = [Activation(), Activation("relu"), Activation("relu", max_value=6.0),
        Activation("relu", alpha=0.1), Activation("relu", threshold=0.5),
        Activation("hard_sigmoid", variant="keras3"), Activation("hard_tanh"),
        Activation("hard_silu")]


def conv_op(rng, h, w, cin, cout, same, one_d=False, act=Activation(), residual=""):
    kh = 1 if one_d else 3
    pads = ((0, 1, 0, 1) if one_d else (1, 1, 1, 1)) if same else (0, 0, 0, 0)
    oh = h + pads[0] + pads[2] - kh + 1
    ow = w + pads[1] + pads[3] - 2
    k = (rng.standard_normal((kh, 3, cin, cout)) / np.sqrt(kh * 3 * cin)).astype(np.float32)
    shapes = [(h, w, cin)] + ([(oh, ow, cout)] if residual else [])
    return Conv2D("c", "Conv2D", ["x"] + (["r"] if residual else []), "y", shapes, (oh, ow, cout),
                  kernel=k, bias=rng.standard_normal(cout).astype(np.float32), pads=pads,
                  activation=act, residual=residual)


def run_alone(op, f16, rng, runs=2):
    graph = single_op_graph(op)
    low = compile_graph(graph, float16=f16, optimize="speed")
    m = Machine(low.object)
    worst = 0.0
    for _ in range(runs):
        x = rng.standard_normal(graph.input_shape).astype(np.float32)
        got = m.run(x).output
        want = reference.run_graph(as_seen_by_code(graph, f16), x)
        worst = max(worst, error(got, want))
    return worst, low


@pytest.mark.unit
@pytest.mark.parametrize("seed", range(50))
def test_kernel_matches_reference(seed):
    rng = np.random.default_rng(seed)
    one_d = seed % 5 == 4
    h = 1 if one_d else int(rng.integers(2, 10))
    w = int(rng.integers(2, 12))
    same = bool(rng.integers(0, 2))
    if not same:
        h, w = (h if one_d else h + 2), w + 2
    cin = int(rng.choice([1, 2, 3, 5, 8, 13, 16, 24]))
    cout = int(rng.choice([1, 2, 3, 4, 5, 7, 9, 16]))
    act = ACTS[seed % len(ACTS)]
    residual = ["", "", "add", "sub", "max", "mul", "avg", "min"][seed % 8]
    op = conv_op(rng, h, w, cin, cout, same, one_d, act, residual)
    g = Geometry.of(op)
    tile = ((1, 2) if seed % 2 else (1, 4)) if one_d else (2, 2)
    a = int(rng.integers(1, 7))
    b = int(rng.integers(1, 6 if tile != (1, 4) else 5))
    if a * b > 24:
        a = 24 // b
    wop = winograd_op(op, make_plan(g, tile, a, b))
    f16 = seed % 3 == 2
    err, _ = run_alone(wop, f16, rng)
    assert err <= RTOL, (h, w, cin, cout, same, one_d, a, b, act, residual, f16, err)


@pytest.mark.unit
@pytest.mark.parametrize("cin,cout", [(300, 3), (97, 5), (1, 300)])
def test_many_channels(cin, cout):
    rng = np.random.default_rng(cin)
    op = conv_op(rng, 4, 5, cin, cout, True, act=Activation("relu"))
    wop = winograd_op(op, make_plan(Geometry.of(op), (2, 2), 2, 5))
    err, _ = run_alone(wop, False, rng, runs=1)
    assert err <= RTOL


@pytest.mark.unit
@pytest.mark.parametrize("one_d", [False, True])
def test_reference_is_the_direct_convolution(one_d):
    rng = np.random.default_rng(3)
    for same in (False, True):
        op = conv_op(rng, 1 if one_d else 7, 9, 6, 5, same, one_d, Activation("relu"))
        for tile in [(1, 2), (1, 4)] if one_d else [(2, 2)]:
            wop = winograd_op(op, make_plan(Geometry.of(op), tile, 3, 4))
            x = rng.standard_normal(op.in_shape).astype(np.float32)
            assert error(reference.run_op(wop, [x]), reference.run_op(op, [x])) <= 1e-6


@pytest.mark.unit
@pytest.mark.parametrize("h,w,cin,cout,same,f16,tile", [(16, 16, 16, 16, True, False, (2, 2)),
                                                         (9, 7, 5, 7, True, True, (2, 2)),
                                                         (1, 40, 32, 32, False, False, (1, 2)),
                                                         (1, 31, 32, 32, True, False, (1, 4)),
                                                         (1, 23, 9, 16, True, True, (1, 4)),
                                                         (12, 13, 24, 10, False, False, (2, 2)),
                                                         (7, 7, 32, 32, True, False, (2, 2))])
def test_cost_model_is_close_to_the_emulator(h, w, cin, cout, same, f16, tile):
    rng = np.random.default_rng(5)
    one_d = h == 1
    op = conv_op(rng, h, w, cin, cout, same, one_d, Activation("relu"))
    g = Geometry.of(op)
    plan = make_plan(g, tile, 4, 5 if tile != (1, 4) else 4)
    wop = winograd_op(op, plan)
    graph = single_op_graph(wop)
    low = compile_graph(graph, float16=f16, optimize="speed")
    gen = low.generated
    hs = gen.header_size
    x = rng.standard_normal(graph.input_shape).astype(np.float32)
    cycles = profile(low.object, x, {"0": (hs + gen.layers[0].start,
                                           hs + gen.layers[0].end)}).cycles["0"]
    estimate = layer_cycles(g, plan, f16, op.activation, False)
    assert abs(estimate - cycles) <= 0.05 * cycles, (estimate, cycles)


@pytest.mark.unit
def test_partial_tiles_skip_the_positions_no_output_reads():
    """F(2, 3)'s A^T = [[1, 1, 1, 0], [0, 1, -1, -1]]: a tile with one output
    row (column) reads position rows (columns) 0-2 only.  A group of 3 tiles
    whose last has one output column, in a tile row of one output row: rows
    0-2 of the positions for every tile but the last at column 3, row 3 for
    none; full tiles need everything (None)."""
    from ml4f.kernels.winograd_plan import WinogradPlan, position_needs, position_runs
    plan = WinogradPlan((2, 2), 3, 5, 1)
    assert position_needs(plan, 2, [2, 2, 2]) is None
    need = position_needs(plan, 1, [2, 2, 1])
    assert need == (3, 3, 3, 2) * 3 + (0, 0, 0, 0)
    assert position_runs(plan, need) == [(3, ((3, 3), (2, 1))), (1, ((0, 4),))]
    assert position_needs(plan, 2, [2, 1]) == (2, 2, 2, 1) * 4
    one_d = WinogradPlan((1, 4), 2, 4, 1)            # F(4, 3): A^T's last column only for output 3
    assert position_needs(one_d, 1, [4, 3]) == (2, 2, 2, 2, 2, 1)


def _graph(op) -> Graph:
    op = dataclasses.replace(op, inputs=["x"], output="y")
    return Graph("x", "y", op.in_shape, op.out_shape, [op], {"x": op.in_shape, "y": op.out_shape})


@pytest.mark.unit
def test_choice_by_goal():
    rng = np.random.default_rng(1)
    graph = _graph(conv_op(rng, 12, 12, 32, 32, True, act=Activation("relu")))
    kinds = lambda g: [op.kind for op in g.ops]        # noqa: E731
    assert eligible(graph.ops[0])
    assert kinds(choose_kernels(graph, optimize="size")) == ["conv2d"]
    assert kinds(choose_kernels(graph, optimize="speed", winograd="off")) == ["conv2d"]
    # alone, the transformed weights are more than 25% of the object
    assert kinds(choose_kernels(graph, optimize="balanced")) == ["conv2d"]
    assert kinds(choose_kernels(graph, optimize="size", winograd="always")) == ["winograd"]
    # the arena: a layer alone has only its input and output; the scratch must fit in
    # 25% in speed, 3% with --arena-goal small (here none fits: the layer stays direct)
    speed = choose_kernels(graph, optimize="speed")
    base = compile_graph(graph).arena.arena_bytes
    grown = compile_graph(speed).arena.arena_bytes
    assert kinds(speed) == ["winograd"] and 1.03 * base < grown <= 1.25 * base
    small_arena = choose_kernels(graph, optimize="speed", arena_goal="small")
    assert kinds(small_arena) == ["conv2d"]
    # few channels: the transforms do not pay, the direct kernel stays
    small = _graph(conv_op(rng, 12, 12, 2, 2, True))
    assert kinds(choose_kernels(small, optimize="speed", winograd="auto")) == ["conv2d"]
    # strided, dilated, 5x5: not eligible
    for change in ({"strides": (2, 2)}, {"dilation": (2, 2)}):
        assert not eligible(dataclasses.replace(graph.ops[0], **change))


# ------------------------------------------------------------------ TensorFlow
@pytest.fixture(scope="module")
def K():
    return keras_module("k3")


def _layer_model(K, rng, one_d, h, w, cin, cout, same, bn, act):
    L = K.layers
    shape = (w, cin) if one_d else (h, w, cin)
    conv = (L.Conv1D if one_d else L.Conv2D)(cout, 3, padding="same" if same else "valid",
                                              use_bias=bool(rng.integers(0, 2)))
    layers = [K.Input(shape), conv]
    if bn:
        layers.append(L.BatchNormalization())
    layers += act
    model = K.Sequential(layers)
    ws = []
    for v in model.get_weights():
        if v.ndim == 1 and bn and len(ws) >= 1 + conv.use_bias:
            ws.append(rng.uniform(0.5, 1.5, v.shape).astype(np.float32))     # BN
        else:
            ws.append((rng.uniform(-1, 1, v.shape) / np.sqrt(max(1, v.size // v.shape[-1])))
                      .astype(np.float32))
    model.set_weights(ws)
    return model


def _acts(K, i):
    L = K.layers
    return [[], [L.ReLU()], [L.ReLU(max_value=6.0)], [L.LeakyReLU(negative_slope=0.2)],
            [L.Activation("hard_sigmoid")], [L.Activation("hard_silu")],
            [L.ReLU(threshold=0.3)], [L.Activation("relu6")]][i % 8]


@pytest.mark.parametrize("seed", range(24))
def test_layer_against_tensorflow(K, tmp_path, seed):
    rng = np.random.default_rng(100 + seed)
    one_d = seed % 4 == 3
    h = int(rng.integers(3, 12))
    w = int(rng.integers(3, 14))
    cin = int(rng.choice([1, 3, 8, 16, 33, 64] + ([300] if seed == 5 else [])))
    cout = int(rng.choice([1, 4, 7, 16, 32, 300 if seed == 7 else 20]))
    if seed in (5, 7):
        h, w = 4, 5
    same = bool(seed % 2)
    bn = seed % 3 == 0
    f16 = seed % 6 == 5
    model = _layer_model(K, rng, one_d, h, w, cin, cout, same, bn, _acts(K, seed))
    err, compiled, got = compare(model, tmp_path / "m.h5", seed=seed, keras=K, float16=f16,
                                 n_inputs=3, optimize="speed", winograd="always")
    kinds = [L["op"] for L in compiled.report["layers"]]
    assert "winograd" in kinds, kinds
    if not f16:
        assert err <= RTOL, (one_d, h, w, cin, cout, same, bn, err)
    else:
        # the rounded transformed weights are not those of any float16 kernel: the
        # float16 object matches the reference on exactly its weights (validation,
        # 1e-5) and TensorFlow on the float16-rounded kernel to float16 accuracy
        assert compiled.report["validation"]["max_error"] <= RTOL
        assert err <= 5e-3, err


# ------------------------------------------------------------------ whole models
def lenet(K):
    L = K.layers
    return K.Sequential([
        K.Input((28, 28, 1)),
        L.Conv2D(8, 3, activation="relu"), L.MaxPooling2D(2),
        L.Conv2D(16, 3, activation="relu"), L.MaxPooling2D(2),
        L.Flatten(), L.Dense(10, activation="softmax")], name="lenet")


def streamed_winograd(report) -> list[str]:
    """The Winograd convolutions inside the streamed regions of a compile report."""
    return [op["name"] for r in report["arena"].get("streamed") or [] for op in r["inner"]
            if op.get("algorithm") == "winograd"]


@pytest.mark.parametrize("build,kw", [(bench_models.cifar_cnn, {}), (lenet, {"arena_goal": "fast"}),
                                      (lenet, {}), (bench_models.resnet8, {})],
                         ids=["cifar", "lenet-op-by-op", "lenet", "resnet8"])
def test_whole_models_all_formats(tmp_path, build, kw):
    saved = build_and_save(build, tmp_path, build.__name__)
    rng = np.random.default_rng(12)
    for fmt, s in saved.items():
        weights = []
        for v in s.model.get_weights():
            scale = np.sqrt(3.0 / max(1, v.size // v.shape[-1]))
            weights.append((rng.uniform(0.5, 1.5, v.shape) if v.ndim == 1 else
                            rng.uniform(-1, 1, v.shape) * scale).astype(np.float32))
        s.model.set_weights(weights)
        s.model.save(str(s.path))
        shape = tuple(int(d) for d in s.model.input_shape[1:])
        x = rng.standard_normal((8,) + shape).astype(np.float32)
        compiled = compile_file(s.path, optimize="speed", **kw)
        if kw.get("arena_goal") == "fast":
            assert "winograd" in [L["op"] for L in compiled.report["layers"]], fmt
        else:                                   # the streamed regions hold Winograd layers
            assert streamed_winograd(compiled.report), fmt
        m = Machine(compiled.object)
        got = np.stack([m.run(xi).output for xi in x])
        expected = keras_predict(s.model, x)
        assert error(got, expected) <= RTOL, fmt


@pytest.mark.unit
def test_benchmark_models_choose_winograd_inside_streamed_regions():
    """cifar_cnn in speed: conv3 (op by op) and conv2 (inside the streamed region)
    as Winograd, the arena within 25% of the direct kernels'; "small" keeps it
    within 3%."""
    from pathlib import Path
    from ml4f.graph.build import build_graph
    from ml4f.graph.registry import LAYER_KINDS
    from ml4f.model import load_model
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "models" / "cifar_cnn.h5"
    graph, _ = plan_memory(build_graph(load_model(str(path), LAYER_KINDS)))
    chosen = choose_kernels(graph, optimize="speed")

    def winograd(g):
        return [op.name for top in g.ops for op in getattr(top, "ops", [top]) if op.kind == "winograd"]
    assert {"conv2", "conv3"} <= set(winograd(chosen))
    assert any(op.kind == "winograd" for top in chosen.ops if top.kind == "stream" for op in top.ops)
    base = compile_graph(graph).arena.arena_bytes
    assert compile_graph(chosen).arena.arena_bytes <= 1.25 * base
    small = choose_kernels(graph, optimize="speed", arena_goal="small")
    assert compile_graph(small).arena.arena_bytes <= 1.03 * base


@pytest.mark.unit
def test_report_shows_the_algorithm_and_extra_flash():
    from pathlib import Path

    from ml4f.errors import UsageError
    from ml4f.options import Options
    from ml4f.report import summary
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "models" / "cifar_cnn.h5"
    speed = compile_file(path, optimize="speed", validate=False)
    layers = {L["name"]: L for L in speed.report["layers"]}
    conv3 = layers["conv3"]
    assert conv3["op"] == "winograd" and conv3["algorithm"] == "winograd"
    # 16/9 of the 3x3x32x64 kernel: 7/9 more, plus the float16 padding (none here)
    assert conv3["extra_flash_bytes"] == 4 * 3 * 3 * 32 * 64 * 7 // 9
    assert layers["out"].get("algorithm") is None
    assert "Winograd convolutions: conv3" in summary(speed.report, "cifar")
    direct = compile_file(path, optimize="speed", validate=False, winograd="off")
    assert all(L.get("algorithm") != "winograd" for L in direct.report["layers"])
    assert direct.report["options"]["winograd"] == "off"
    assert "winograd" not in speed.report["options"]
    with pytest.raises(UsageError):
        Options(winograd="yes").check()


@pytest.mark.unit
def test_balanced_takes_the_plan_that_fits_the_budget():
    """gesture_conv1d's conv3: F(4, 3) in speed (2x the kernel's bytes), F(2, 3)
    in balanced (4/3: within the 25% of the object), nothing with float16 (half
    the object, the same code) or in size."""
    from pathlib import Path
    from ml4f.graph.build import build_graph
    from ml4f.graph.registry import LAYER_KINDS
    from ml4f.model import load_model
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "models" / "gesture_conv1d.h5"
    graph, _ = plan_memory(build_graph(load_model(str(path), LAYER_KINDS)))

    def tiles(**kw):
        return {op.name: op.tile for op in choose_kernels(graph, **kw).ops
                if isinstance(op, WinogradConv2D)}
    assert not any(op.kind == "stream" for op in graph.ops)
    # conv2 (inside the streamed region, at the arena's peak) too in speed: its scratch
    # is within 25% of the arena
    assert tiles(optimize="speed") == {"conv2": (1, 4), "conv3": (1, 4)}
    assert tiles(optimize="speed", arena_goal="small") == {"conv3": (1, 4)}
    assert tiles(optimize="balanced") == {"conv3": (1, 2)}
    assert tiles(optimize="balanced", float16=True) == {}
    assert tiles(optimize="size") == {}


@pytest.mark.unit
def test_tile_runs_count_the_interior_without_looking_at_it():
    """Axis.runs: the same runs as comparing every group of tiles (what it did before
    long 1-D inputs made that take seconds), for every size, padding, tile and group."""
    import random

    from ml4f.kernels.winograd_plan import Axis

    def tile_by_tile(ax, group):
        out = []
        for k0 in range(0, ax.tiles, group):
            pat = tuple(ax.tile(k) for k in range(k0, min(k0 + group, ax.tiles)))
            if out and out[-1][2] == pat:
                out[-1][1] += 1
            else:
                out.append([k0, 1, pat])
        return [tuple(r) for r in out]
    rng = random.Random(1)
    for _ in range(3000):
        ax = Axis(rng.randint(1, 40), 0, rng.randint(0, 3), rng.choice([1, 2, 4]))
        ax = dataclasses.replace(ax, out=rng.randint(1, ax.size + 2 * ax.pad + 2))
        for group in range(1, 6):
            assert ax.runs(group) == tile_by_tile(ax, group), (ax, group)


# ------------------------------------------------------------------ in streamed regions
def _winograd_region(seed):
    """A chain of 2-4 ops, one region: 3x3 stride-1 convolutions (same/valid,
    1-8 channels, some with a fused merge) run as Winograd with a random plan,
    direct convolutions and poolings between them."""
    from test_streaming import _pool

    from ml4f.graph.shapes import conv_out_and_pads
    from ml4f.kernels.winograd_plan import ranked_plans
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(3, 14)), int(rng.integers(3, 10)), int(rng.integers(1, 7)))
    g = Graph("x", "", shape, (), shapes={"x": shape})
    t = "x"
    for i in range(int(rng.integers(2, 5))):
        h, w, c = g.shapes[t]
        if i and rng.random() < 0.3 and h >= 2:
            op = _pool(rng, f"t{i}", t, g.shapes[t])
            if min(op.out_shape) < 1:
                break
        else:
            padding = str(rng.choice(["same", "valid"])) if min(h, w) >= 3 else "same"
            oh, pt, pb = conv_out_and_pads(h, 3, 1, 1, padding)
            ow, pl, pr = conv_out_and_pads(w, 3, 1, 1, padding)
            keep = padding == "same" and rng.random() < 0.4       # the shape kept: merges
            cout = c if keep else int(rng.integers(1, 9))
            k = (rng.uniform(-1, 1, (3, 3, c, cout)) / np.sqrt(9 * c)).astype(np.float32)
            act = [Activation(), Activation("relu"), Activation("relu", alpha=0.1)][int(rng.integers(3))]
            op = Conv2D(f"t{i}", "Conv2D", [t], f"t{i}", [g.shapes[t]], (oh, ow, cout), kernel=k,
                        bias=rng.uniform(-1, 1, cout).astype(np.float32), pads=(pt, pl, pb, pr),
                        activation=act)
            same = [u for u in g.shapes if g.shapes[u] == op.out_shape]
            if same and rng.random() < 0.6:
                other = same[int(rng.integers(len(same)))]
                op = dataclasses.replace(op, inputs=[t, other], in_shapes=[g.shapes[t], op.out_shape],
                                         residual=str(rng.choice(["add", "mul", "max"])))
            if eligible(op) and rng.random() < 0.8:
                plans = ranked_plans(op, False)
                op = winograd_op(op, plans[int(rng.integers(len(plans)))][1])
        g.ops.append(op)
        g.shapes[op.output] = op.out_shape
        t = op.output
    g.output, g.output_shape = t, g.shapes[t]
    if len(g.ops) < 2 or not any(o.kind == "winograd" for o in g.ops):
        return _winograd_region(seed + 1000)
    return g


@pytest.mark.unit
@pytest.mark.parametrize("seed", range(30))
def test_streamed_winograd_matches_reference(seed):
    """Winograd convolutions inside streamed regions: tile rows made together, windows
    read from rings (every arena read checked against what the run wrote), fused
    merges with ring or whole operands, f32 and (every third seed) float16."""
    from test_streaming import replay

    from ml4f.streaming import region_at, with_region
    g = _winograd_region(seed)
    f16 = seed % 3 == 2
    stream = dataclasses.replace(region_at(g, 0, len(g.ops) - 1), strip=1 + seed % 3)
    replay(stream)
    for t, ring in stream.schedule.rings.items():
        made_by = next(op for op in stream.ops if op.output == t)
        assert ring.rows % made_by.rows_made_together() == 0
        windowed = [op for op in stream.ops if op.inputs[0] == t and op.row_access() is not None]
        if all(op.kind == "winograd" for op in windowed):
            assert ring.mirror == 0, (t, ring)     # Winograd windows need no repeated rows
    streamed = with_region(g, 0, len(g.ops) - 1, stream)
    low = compile_graph(streamed, float16=f16)
    m = Machine(low.object, check_reads=True)
    rng = np.random.default_rng(seed)
    want_graph = as_seen_by_code(g, f16)
    for _ in range(2):
        x = rng.standard_normal(g.input_shape).astype(np.float32)
        assert error(m.run(x).output, reference.run_graph(want_graph, x)) <= RTOL, seed


@pytest.mark.unit
def test_streamed_regions_cover_every_case():
    """The random regions above hold "same" and "valid" Winograd layers, odd output
    heights (a last tile row of one row), fused merges, and Winograd layers whose
    output is a ring and whose input is a ring, some of whose windows wrap around
    the ring's end (rows addressed one by one, no repeated rows)."""
    from ml4f.streaming import region_at
    same = valid = odd = merged = ring_out = ring_in = wrapped = 0
    for seed in range(30):
        g = _winograd_region(seed)
        names = {op.output for op in g.ops[:-1]}
        rings = region_at(g, 0, len(g.ops) - 1).schedule.rings
        for op in g.ops:
            if op.kind != "winograd":
                continue
            ring = rings.get(op.inputs[0])
            if ring is not None and ring.mirror == 0:
                wrapped += any(ring.slot(lo) + hi - lo >= ring.rows
                               for lo, hi in op.row_access().rows if hi >= lo)
            same += op.pads[0] == 1
            valid += op.pads[0] == 0
            odd += op.out_shape[0] % 2
            merged += bool(op.residual)
            ring_out += op.output in names
            ring_in += op.inputs[0] in names
    assert min(same, valid, odd, merged, ring_out, ring_in, wrapped) >= 3, (
        same, valid, odd, merged, ring_out, ring_in, wrapped)
