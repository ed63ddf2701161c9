"""The `ml4f` command as a user runs it: outputs, determinism, exit codes,
one-line errors without tracebacks, and no output files after a failure."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from keras_models import keras_module, save

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "models"
DIGITS = EXAMPLES / "digits.h5"
OUTPUTS = (".bin", ".h", ".S", ".json")


def ml4f(*args, cwd=None):
    env = dict(os.environ)
    env.pop("ML4F_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "ml4f", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, env=env)


def files(d: Path, name: str):
    return {s: (d / f"{name}{s}").read_bytes() for s in OUTPUTS if (d / f"{name}{s}").exists()}


def test_compile_writes_outputs_and_summary(tmp_path):
    r = ml4f("compile", DIGITS, "-o", tmp_path, "-b", "digits", "--listing", "--mhz", "100")
    assert r.returncode == 0, r.stderr
    for s in OUTPUTS + (".lst",):
        assert (tmp_path / f"digits{s}").stat().st_size > 0
    assert "cycles" in r.stdout and "100 MHz" in r.stdout and "arena" in r.stdout
    report = json.loads((tmp_path / "digits.json").read_text())
    assert report["arena"]["arena_bytes"] == report["arena"]["lower_bound"]
    kinds = {L["op"] for L in report["layers"]}
    assert {"conv2d", "pool2d", "dense", "softmax"} <= kinds
    for layer in report["layers"]:
        assert {"macs", "code_bytes", "weight_bytes", "cycles", "cycles_per_mac"} <= set(layer)
    assert "vmul.f32" in (tmp_path / "digits.lst").read_text()


def test_outputs_are_deterministic_and_validation_does_not_change_the_object(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    assert ml4f("compile", DIGITS, "-o", a, "-b", "m").returncode == 0
    assert ml4f("compile", DIGITS, "-o", b, "-b", "m").returncode == 0
    assert ml4f("compile", DIGITS, "-o", c, "-b", "m", "--no-validate").returncode == 0
    fa, fb, fc = files(a, "m"), files(b, "m"), files(c, "m")
    assert fa == fb
    assert fa[".bin"] == fc[".bin"] and fa[".h"] == fc[".h"] and fa[".S"] == fc[".S"]


def test_float16_halves_the_weights(tmp_path):
    assert ml4f("compile", DIGITS, "-o", tmp_path, "-b", "f32").returncode == 0
    assert ml4f("compile", DIGITS, "-o", tmp_path, "-b", "f16", "--float16").returncode == 0
    w32 = json.loads((tmp_path / "f32.json").read_text())["totals"]["weight_bytes"]
    w16 = json.loads((tmp_path / "f16.json").read_text())["totals"]["weight_bytes"]
    assert w16 < 0.6 * w32


def test_run_with_embedded_test_data_and_inputs(tmp_path):
    assert ml4f("compile", DIGITS, "-o", tmp_path, "-b", "m", "--test-data").returncode == 0
    r = ml4f("run", tmp_path / "m.bin")
    assert r.returncode == 0, r.stderr
    assert "embedded test vector: pass" in r.stdout and "cycles" in r.stdout
    x = np.load(EXAMPLES / "digits_test_x.npy")[0]
    (tmp_path / "x.json").write_text(json.dumps(x.ravel().tolist()))
    np.save(tmp_path / "x.npy", x)
    r1 = ml4f("run", tmp_path / "m.bin", tmp_path / "x.json", "--json")
    r2 = ml4f("run", tmp_path / "m.bin", tmp_path / "x.npy", "--json")
    assert r1.returncode == 0 and r2.returncode == 0, (r1.stderr, r2.stderr)
    o1, o2 = json.loads(r1.stdout), json.loads(r2.stdout)
    assert o1["output"] == o2["output"] and len(o1["output"]) == 10 and o1["cycles"] > 0
    assert int(np.argmax(o1["output"])) == int(np.load(EXAMPLES / "digits_test_y.npy")[0])


@pytest.mark.unit
def test_usage_errors_exit_2(tmp_path):
    assert ml4f("compile").returncode == 2
    assert ml4f("compile", DIGITS, "--optimize", "fast").returncode == 2
    r = ml4f("run", tmp_path / "missing.bin")
    assert r.returncode == 2 and "Traceback" not in r.stderr


# ----------------------------------------------------------------- bad inputs
def _truncated(tmp_path, K):
    data = DIGITS.read_bytes()
    p = tmp_path / "truncated.h5"
    p.write_bytes(data[: len(data) // 3])
    return p


def _random_bytes(tmp_path, K):
    p = tmp_path / "random.h5"
    p.write_bytes(np.random.default_rng(0).bytes(5000))
    return p


def _lambda(tmp_path, K):
    m = K.Sequential([K.Input((4,)), K.layers.Lambda(lambda t: t * 2), K.layers.Dense(2)])
    return save(m, tmp_path / "lambda.h5")


def _unsupported(tmp_path, K):
    m = K.Sequential([K.Input((5, 3)), K.layers.Masking(), K.layers.LSTM(4), K.layers.Dense(2)])
    return save(m, tmp_path / "masking.keras")


def _nan_weights(tmp_path, K):
    m = K.Sequential([K.Input((4,)), K.layers.Dense(3, name="fc")])
    p = save(m, tmp_path / "nan.h5")
    with h5py.File(p, "r+") as f:
        def poison(name, obj):
            if isinstance(obj, h5py.Dataset) and obj.ndim == 2:
                data = obj[()]
                data[0, 0] = np.nan
                obj[...] = data
        f["model_weights"].visititems(poison)
    return p


def _two_inputs(tmp_path, K):
    a, b = K.Input((4,)), K.Input((4,))
    out = K.layers.Dense(2)(K.layers.Concatenate()([a, b]))
    return save(K.Model([a, b], out), tmp_path / "two.h5")


BAD = {"truncated": _truncated, "random": _random_bytes, "lambda": _lambda,
       "unsupported": _unsupported, "nan": _nan_weights, "two-inputs": _two_inputs}
EXPECT = {"truncated": "", "random": "", "lambda": "Lambda", "unsupported": "Masking",
          "nan": "fc", "two-inputs": "input"}


@pytest.mark.parametrize("case", BAD)
def test_bad_input_fails_cleanly(tmp_path, case):
    K = keras_module("k3")
    model = BAD[case](tmp_path, K)
    out = tmp_path / "out"
    out.mkdir()
    # a stale object from an earlier good build must not survive a failed one
    assert ml4f("compile", DIGITS, "-o", out, "-b", "m").returncode == 0
    r = ml4f("compile", model, "-o", out, "-b", "m")
    assert r.returncode == 1, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert str(model) in lines[0] and EXPECT[case].lower() in lines[0].lower(), lines[0]
    assert "internal error" not in lines[0]
    assert sorted(p.name for p in out.iterdir()) == []


@pytest.mark.unit
def test_missing_model_file(tmp_path):
    r = ml4f("compile", tmp_path / "nope.h5", "-o", tmp_path)
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1
    assert "nope.h5" in r.stderr


def test_arena_budget_too_small_fails_in_one_line_and_leaves_nothing(tmp_path):
    resnet = EXAMPLES.parents[1] / "benchmarks" / "models" / "resnet8.h5"
    out = tmp_path / "out"
    out.mkdir()
    (out / "resnet8.bin").write_bytes(b"stale")
    r = ml4f("compile", resnet, "-o", out, "--no-validate", "--max-arena", "64K")
    assert r.returncode == 1 and r.stdout == ""
    [line] = r.stderr.splitlines()
    assert line.startswith(f"ml4f: error: {resnet}: the arena needs at least ")
    assert "(peak at op '" in line and line.endswith("more than the budget of 65,536 B")
    assert list(out.iterdir()) == []                   # the stale object is gone too
    ok = ml4f("compile", resnet, "-o", out, "--no-validate", "--max-arena", "96K")
    assert ok.returncode == 0
    report = json.loads((out / "resnet8.json").read_text())
    assert report["arena"]["arena_bytes"] <= 96 * 1024 < report["arena"]["op_by_op_bound"]
    assert report["arena"]["streamed"] and report["arena"]["peak"]["op"]
    for bad in ("0", "-5", "lots"):
        assert ml4f("compile", resnet, "-o", out, "--max-arena", bad).returncode == 2
