"""The benchmark suite: the quick run end to end, and the capstone adapter that costs
foreign (GCC) code against the project's own decoder on compiled objects."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import ml4f
from ml4f.emulator import Machine
from benchmarks.foreign_code import ForeignCycleCounter, ForeignDecoder
from ml4f.emulator.timing import MEMORY, CycleCounter
from ml4f.thumb.decode import decode_all

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples" / "models"
BENCH_MODELS = REPO / "benchmarks" / "models"

pytestmark = pytest.mark.slow


def _timing_view(insn):
    """The attributes TimingModel reads, comparable between both decoders."""
    regs = insn.ops.get("regs")
    return (insn.kind, insn.nregs, insn.size, insn.reads, insn.writes, insn.is_branch,
            insn.ops.get("rn") if insn.kind in MEMORY else None, insn.ops.get("list"),
            sorted(regs, key=lambda r: r.num) if regs is not None else None)


@pytest.mark.parametrize("path, float16, optimize", [
    (EXAMPLES / "digits.h5", False, "balanced"),
    (EXAMPLES / "digits.h5", True, "size"),
    (EXAMPLES / "gesture.h5", False, "speed"),
    (BENCH_MODELS / "mlp.h5", True, "balanced"),
    (BENCH_MODELS / "dw_bn.h5", False, "balanced"),
    (BENCH_MODELS / "gesture_conv1d.h5", True, "speed"),
])
def test_foreign_adapter_agrees_with_the_project_decoder(path, float16, optimize):
    assert path.exists(), f"{path} is missing (python -m benchmarks.models builds it)"
    compiled = ml4f.compile_file(path, float16=float16, optimize=optimize, validate=False)
    code = compiled.generated.code
    ours = decode_all(code)
    theirs = ForeignDecoder().block(code, 0, len(code))
    assert [off for off, _ in ours] == [i.address for i in theirs]
    for (off, a), b in zip(ours, theirs):
        assert _timing_view(a) == _timing_view(b), f"{a.text()} at {off:#x} vs {b.text}"

    x = np.random.default_rng(0).standard_normal(compiled.graph.input_shape).astype(np.float32)
    res = Machine(compiled.object, profile=True).run(x)
    hs = compiled.generated.header_size
    ranges = {str(i): (hs + L.start, hs + L.end) for i, L in enumerate(compiled.generated.layers)}
    expected = CycleCounter(compiled.object).count(res.block_counts, res.edge_counts, ranges)
    got = ForeignCycleCounter(compiled.object).count(res.block_counts, res.edge_counts, ranges)
    assert got == expected
    assert got["total"] == compiled.report["totals"]["cycles"]


def test_quick_run_end_to_end(tmp_path):
    assert shutil.which("arm-none-eabi-gcc"), "arm-none-eabi-gcc is not installed (see scripts/bootstrap.sh)"
    from benchmarks import goals, models, report
    from benchmarks.run import run

    results = run(tmp_path, quick=True, log=lambda *a: None)
    files = {name: tmp_path / name for name in ("results.json", "results.md", "cmac.png")}
    for f in files.values():
        assert f.stat().st_size > 0, f
    assert files["cmac.png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    data = json.loads(files["results.json"].read_text())
    assert data == json.loads(json.dumps(results))
    assert data["schema"] == report.SCHEMA and data["quick"] is True
    assert [m["name"] for m in data["models"]] == [m.name for m in models.selected(True)]

    measured = [m for m in data["models"] if m["status"] == "ok"]
    assert {"digits", "mlp", "lenet"} <= {m["name"] for m in measured}
    for m in data["models"]:
        assert m["status"] in ("ok", "compile error"), m
        if m["status"] != "ok":
            assert m["error"]
    for m in measured:
        f32, f16 = m["f32"], m["f16"]
        n = len(f32["layers"])
        assert n == len(f16["layers"]) > 0
        for v in (f32, f16):
            assert sum(L["cycles"] for L in v["layers"]) + v["overhead_cycles"] == v["cycles"]
            assert v["arena_bytes"] <= v["arena_lower_bound"]
            assert v["cycles"] > 0 and v["code_bytes"] > 0
        assert sum(L["macs"] for L in f32["layers"]) == m["macs"]
        for L in f32["layers"]:
            if L["macs"]:
                # a streamed region holding a pooling or an activation has no floor
                assert L["cycles_per_mac"] > 0 and (L["op"] == "stream" or L["floor_cycles"] > 0)
            else:
                assert L["floor_cycles"] is None and L["cycles_per_output"] > 0
        assert m["optimize"]["balanced"]["cycles"] == f32["cycles"]

        b = m["baseline"]
        assert b["status"] == "ok", b
        for name, v in b["variants"].items():
            assert v["outputs_equal"] and v["max_output_diff"] <= 1e-5
            assert v["reference_ok"]
            assert len(v["layer_cycles"]) == len(m["op_by_op"]["layers"])   # run op by op
            assert sum(v["layer_cycles"]) + v["other_cycles"] == v["cycles"]
            assert b["speedup"][name] == round(v["cycles"] / f32["cycles"], 3)

    assert len(data["goals"]) >= len(goals.LAYER_GOALS) + 5
    for g in data["goals"]:
        assert set(g) == {"goal", "measured", "limit", "met"}
        assert g["met"] in (True, False, None)

    md = files["results.md"].read_text()
    assert "## Goals" in md and "## Per layer" in md
    for g in data["goals"]:
        assert g["goal"] in md
    for m in data["models"]:
        assert f"### {m['name']}:" in md
    table = [line for line in md.splitlines() if line.startswith("| lenet |")]
    assert table and f"{measured[0]['f32']['cycles']:,}" in md


def test_c_baseline_runs_a_merge_fused_into_a_convolution(tmp_path):
    """A residual block: the compiler fuses the Add into the second convolution's
    store; the C baseline runs the convolution and then the Add, to the same outputs."""
    from benchmarks import cbaseline
    from keras_models import keras_module

    K = keras_module("k3")
    rng = np.random.default_rng(3)
    x_in = K.Input((10, 9, 8))
    a = K.layers.Conv2D(8, 3, padding="same", activation="relu")(x_in)
    b = K.layers.Conv2D(8, 3, padding="same")(a)
    y = K.layers.ReLU()(K.layers.Add()([b, x_in]))
    model = K.Model(x_in, K.layers.GlobalAveragePooling2D()(y))
    model.set_weights([rng.uniform(-0.5, 0.5, w.shape).astype(np.float32) for w in model.get_weights()])
    path = tmp_path / "res.h5"
    model.save(path)
    compiled = ml4f.compile_file(path, validate=False, arena_goal="fast")
    assert any(getattr(op, "residual", "") == "add" for op in compiled.graph.ops)
    x = rng.standard_normal(compiled.graph.input_shape).astype(np.float32)
    expected = Machine(compiled.object).run(x).output
    np.testing.assert_allclose(expected, model(x[None]).numpy()[0], rtol=1e-4, atol=1e-5)
    for v in cbaseline.measure(compiled.graph, x, expected, workdir=tmp_path / "c").values():
        assert v["outputs_equal"] and v["reference_ok"], v
        assert len(v["layer_cycles"]) == len(compiled.graph.ops)


@pytest.mark.parametrize("stride, padding, output_padding", [(2, "same", None), (3, "valid", None),
                                                             (3, "same", 1), (1, "same", None)])
def test_c_baseline_transposed_convolution(tmp_path, stride, padding, output_padding):
    """k_conv_transpose gathers each output's phase taps: the same outputs as our
    sub-pixel kernel, also where no tap reaches (stride 3 over 2 taps)."""
    from benchmarks import cbaseline
    from keras_models import keras_module

    K = keras_module("k3")
    rng = np.random.default_rng(stride)
    model = K.Sequential([K.Input((6, 5, 4)), K.layers.Conv2DTranspose(
        7, 2 if stride == 3 else 3, strides=stride, padding=padding, output_padding=output_padding,
        activation="relu")])
    model.set_weights([rng.uniform(-0.5, 0.5, w.shape).astype(np.float32) for w in model.get_weights()])
    path = tmp_path / "t.h5"
    model.save(path)
    compiled = ml4f.compile_file(path, validate=False)
    x = rng.standard_normal(compiled.graph.input_shape).astype(np.float32)
    expected = Machine(compiled.object).run(x).output
    np.testing.assert_allclose(expected, model(x[None]).numpy()[0], rtol=1e-4, atol=1e-5)
    for v in cbaseline.measure(compiled.graph, x, expected, workdir=tmp_path / "c").values():
        assert v["outputs_equal"] and v["reference_ok"], v
