"""The reliability contract (docs/reliability.md), one finding at a time: damaged files
that hang the HDF5 library, internal errors and stale outputs, values Keras would refuse,
validation that passed non-finite errors, sizes without limits, names that are not C
identifiers.  (tests/test_fuzz.py runs the whole corpus, these cases included.)"""
from __future__ import annotations

import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from ml4f import cli, outputs
from ml4f.api import compile_file
from ml4f.emulator import Machine
from ml4f.emulator.machine import TCG_BUFFER_BYTES
from ml4f.errors import InvalidModelError, ModelFormatError, UnsupportedError, ValidationError
from ml4f.graph import keras_config as kc
from ml4f.graph import registry
from ml4f.limits import Limits
from ml4f.model import keras_zip
from ml4f.model.child import run_in_child
from ml4f.model.h5_weights import WeightBudget
from ml4f.model.records import Layer
from ml4f.validate import check
from tests.fuzz import corpus, formats

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
MLP = corpus.seed_path("mlp", "k3_h5")
CNN_K2 = corpus.seed_path("cnn", "k2_h5")
NAMES = ("m.bin", "m.h", "m.S", "m.c", "m.json", "m.lst", "m.html")


def ml4f(*args, timeout=60):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "ml4f", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, env=env)


def main(capsys, *args) -> tuple[int, list[str]]:
    code = cli.main([str(a) for a in args])
    return code, capsys.readouterr().err.strip().splitlines()


def plant(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for n in NAMES:
        (out / n).write_bytes(b"stale")


# ----------------------------------------------------------- 1. a file that hangs libhdf5
def test_damaged_file_that_hangs_the_hdf5_library_times_out(tmp_path):
    """433 zero bytes in the object headers of a small Keras 2 CNN: libhdf5 spins forever
    reading model_config.  The reader's child process is killed after --timeout."""
    bad = corpus._zeroed("cnn", "k2_h5", 3584, 433)(tmp_path)
    t0 = time.perf_counter()
    r = ml4f("compile", bad, "-o", tmp_path / "out", "--timeout", "1", timeout=30)
    assert time.perf_counter() - t0 < 10
    assert r.returncode == 1
    assert r.stderr.strip() == f"ml4f: error: {bad}: reading timed out after 1 s (damaged file?)"
    assert not (tmp_path / "out").exists()


def test_reader_that_crashes_is_one_error():
    def crash():
        os.abort()
    with pytest.raises(ModelFormatError, match="crashed"):
        run_in_child(crash, timeout=5, path="model.h5")


def test_reader_child_returns_records_and_exceptions():
    model = run_in_child(lambda: {"a": np.arange(3)}, timeout=5, path="m")
    assert model["a"].tolist() == [0, 1, 2]

    def refuse():
        raise UnsupportedError("no", layer="x", key="k")
    with pytest.raises(UnsupportedError) as info:
        run_in_child(refuse, timeout=5, path="m")
    assert info.value.layer == "x" and info.value.key == "k"


# ------------------------------------------- 2. internal errors, stale outputs, bad paths
@pytest.fixture
def broken_dense(monkeypatch):
    """A bug in the Dense converter."""
    def convert(layer, in_shape, tin, tout):
        for _ in 1.5:                               # TypeError: 'float' object is not iterable
            pass
    kind = registry.converters()["Dense"]
    monkeypatch.setitem(registry.CONVERTERS, "Dense",
                        registry.LayerKind("Dense", convert, kind.weights))


def test_internal_error_names_file_and_layer_and_leaves_nothing(tmp_path, capsys, broken_dense):
    out = tmp_path / "out"
    plant(out)
    code, lines = main(capsys, "compile", MLP, "-o", out, "-b", "m")
    assert code == 1 and len(lines) == 1
    assert lines[0].startswith(f"ml4f: {MLP}: layer 'fc1' (Dense), while converting: internal "
                               "error: TypeError: 'float' object is not iterable")
    assert list(out.iterdir()) == []


def test_ctrl_c_leaves_nothing(tmp_path, capsys, monkeypatch):
    import ml4f.api

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(ml4f.api, "validate", interrupted)
    out = tmp_path / "out"
    plant(out)
    code, lines = main(capsys, "compile", MLP, "-o", out, "-b", "m")
    assert code == 130 and lines == ["ml4f: interrupted"]
    assert list(out.iterdir()) == []


def test_a_timeout_removes_stale_outputs(tmp_path, capsys):
    bad = corpus._zeroed("cnn", "k2_h5", 3584, 433)(tmp_path)
    out = tmp_path / "out"
    plant(out)
    code, lines = main(capsys, "compile", bad, "-o", out, "-b", "m", "--timeout", "0.5")
    assert code == 1 and "timed out" in lines[0]
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("where, message", [
    ("blocker", "the output directory is a file"),
    ("blocker/sub", "cannot make the output directory: '{d}/blocker' is a file"),
])
def test_output_path_in_the_way(tmp_path, capsys, where, message):
    (tmp_path / "blocker").write_text("x")
    code, lines = main(capsys, "compile", MLP, "-o", tmp_path / where, "-b", "m")
    assert code == 1
    assert lines == [f"ml4f: error: {tmp_path / where}: {message.format(d=tmp_path)}"]


def test_unwritable_output_directory_is_one_line(tmp_path, capsys, monkeypatch):
    def refused(*args, **kwargs):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(outputs.tempfile, "mkstemp", refused)
    code, lines = main(capsys, "compile", MLP, "-o", tmp_path, "-b", "m")
    assert code == 1
    assert lines == [f"ml4f: error: {tmp_path}: cannot write the outputs here: Permission denied"]


def test_outputs_commit_is_all_or_nothing(tmp_path, monkeypatch):
    owned = [tmp_path / n for n in ("m.bin", "m.h", "m.S", "m.c")]
    (tmp_path / "m.c").write_text("stale other form")
    o = outputs.Outputs(owned)
    o.check()
    o.commit({owned[0]: b"1", owned[1]: b"2", owned[2]: b"3"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.S", "m.bin", "m.h"]

    real = os.replace
    calls = []

    def failing(a, b):
        calls.append(b)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real(a, b)
    monkeypatch.setattr(outputs.os, "replace", failing)
    with pytest.raises(outputs.OutputError, match="No space left"):
        outputs.Outputs(owned).commit({owned[0]: b"new", owned[1]: b"new"})
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------- 3. values of the types Keras writes
def _layer(**config) -> Layer:
    return Layer("conv", "Conv2D", config)


@pytest.mark.parametrize("value", [None, "33", "abc", 1.5, [1.5, 1.5], True, [True, 1],
                                   [3], [3, 3, 3], [0, 3], -1, {}, [[3, 3]]])
def test_int_tuple_refuses_what_keras_refuses(value):
    with pytest.raises(UnsupportedError) as info:
        kc.int_tuple(_layer(kernel_size=value), "kernel_size", 2)
    assert info.value.key == "kernel_size" and info.value.layer == "conv"
    assert "kernel_size" in str(info.value)


def test_int_tuple_accepts_ints_and_defaults():
    assert kc.int_tuple(_layer(kernel_size=3), "kernel_size", 2) == (3, 3)
    assert kc.int_tuple(_layer(kernel_size=[3, 5]), "kernel_size", 2) == (3, 5)
    assert kc.int_tuple(_layer(), "strides", 2, 1) == (1, 1)
    assert kc.int_tuple(_layer(strides=None), "strides", 2, 1) == (1, 1)


@pytest.mark.parametrize("value", ["two", 1.0, True, None, [1]])
def test_integer_refuses_other_types(value):
    with pytest.raises(UnsupportedError, match="groups"):
        kc.integer(_layer(groups=value), "groups")


@pytest.mark.parametrize("value", [1e39, -1e39, float("inf"), float("nan"), "1", True, 10 ** 400])
def test_numbers_are_finite_float32(value):
    with pytest.raises(UnsupportedError, match="alpha"):
        kc.number(Layer("elu", "ELU", {"alpha": value}), "alpha")


@pytest.mark.parametrize("seed, layer, key, value, message", corpus.REPORTED_CONFIG,
                         ids=[f"{r[1]}.{r[2]}={corpus._shown(r[3])}" for r in
                              corpus.REPORTED_CONFIG])
def test_reported_config_values_are_refused_naming_layer_and_key(tmp_path, seed, layer, key,
                                                                  value, message):
    fmt = "k3_keras" if seed != "cnn" else "k2_h5"
    path = corpus._set_key(seed, fmt, layer, key, value)(tmp_path)
    with pytest.raises(UnsupportedError) as info:
        compile_file(path, validate=False, isolate=False)
    text = str(info.value)
    assert text.startswith(f"{path}: layer '{layer}'") and message in text, text
    assert "\n" not in text


# ------------------------------------------------------ 4. validation that must fail
@pytest.mark.parametrize("actual, expected", [([np.inf], [np.inf]), ([1.0], [np.inf]),
                                              ([np.nan], [1.0]), ([np.nan], [np.nan])])
def test_validation_fails_on_non_finite_values(actual, expected):
    with pytest.raises(ValidationError, match="not finite"):
        check(np.array(actual, np.float32), np.array(expected), what="whole model",
              expected32=np.array(expected, np.float32))


def test_validation_fails_over_the_bound_even_where_float32_noise_is_infinite():
    with pytest.raises(ValidationError):
        check(np.array([1.0, 2.0]), np.array([1.0, 3e38 * 1.5]), what="whole model",
              expected32=np.array([1.0, np.inf], np.float32))


# ----------------------------------------------------------------------- 5. sizes
def _archive(tmp_path, method) -> zipfile.ZipFile:
    p = tmp_path / "a.zip"
    with zipfile.ZipFile(p, "w", compression=method) as z:
        z.writestr("config.json", b"{}" + b" " * (2 << 20))
    return zipfile.ZipFile(p)


@pytest.mark.parametrize("method, name", [(zipfile.ZIP_BZIP2, "bzip2"),
                                          (zipfile.ZIP_LZMA, "lzma")])
def test_archive_members_other_than_stored_and_deflate_are_refused(tmp_path, method, name):
    with pytest.raises(UnsupportedError, match=name):
        keras_zip.read_member(_archive(tmp_path, method), "config.json", 1 << 30)


def test_archive_member_sizes_are_checked_before_inflating(tmp_path):
    archive = _archive(tmp_path, zipfile.ZIP_DEFLATED)
    with pytest.raises(InvalidModelError, match="inflates to 2 MiB, more than the limit"):
        keras_zip.read_member(archive, "config.json", 1 << 20)
    with pytest.raises(InvalidModelError, match="more than 200 times"):
        keras_zip.read_member(archive, "config.json", 1 << 30)     # 2 MiB of blanks: ~2 KiB


def test_weights_are_counted_before_they_are_read():
    budget = WeightBudget(Limits(max_bytes=1000))
    budget.take(600, "weight 0", None)
    with pytest.raises(InvalidModelError, match="more than the limit of 1000 B"):
        budget.take(600, "weight 1", None)


def test_declared_weights_over_the_limit_are_refused_from_a_small_file(tmp_path):
    path = corpus._dense_keras([16384, 16384], write=False)(tmp_path)
    assert path.stat().st_size < 100_000
    t0 = time.perf_counter()
    with pytest.raises(InvalidModelError, match=r"takes 1 GiB, more than the limit of 16 MiB"):
        compile_file(path)
    assert time.perf_counter() - t0 < 5


@pytest.mark.parametrize("shape", [[4096, 4096, 3], [100000, 100000, 3]])
def test_huge_inputs_are_refused_before_code_generation(tmp_path, shape):
    path = corpus._input_shape("conv_kinds", "k3_keras", shape)(tmp_path)
    t0 = time.perf_counter()
    with pytest.raises(InvalidModelError, match="the input of shape .* for a tensor"):
        compile_file(path)
    assert time.perf_counter() - t0 < 5


def test_max_bytes_can_be_raised(tmp_path):
    path = corpus._input_shape("conv_kinds", "k3_keras", [512, 512, 2])(tmp_path)
    with pytest.raises(InvalidModelError, match="output of shape"):
        compile_file(path, validate=False, max_bytes=3 << 20)     # the input fits, not all


def test_emulator_engines_are_small_and_closed():
    obj = compile_file(MLP, validate=False).object
    machine = Machine(obj)
    assert machine.uc.ctl_get_tcg_buffer_size() == TCG_BUFFER_BYTES == 32 << 20
    machine.run(np.zeros(6, np.float32))
    machine.close()
    assert machine.uc is None


def test_a_300_layer_mlp_compiles_under_a_1_gib_address_space(tmp_path):
    """Each validated layer used to keep an engine reserving 1 GiB (35 GB for 300 layers)."""
    from tests.fuzz.harness import run_compile
    model = corpus._dense_keras([8] * 301)(tmp_path)
    r = run_compile(["compile", str(model), "-o", str(tmp_path / "out"), "-q"],
                    tmp_path / "run", tmp_path / "out", cap=1 << 30)
    assert r.code == 0, r.stderr
    assert r.max_rss < 512 << 20


def test_overflowing_weights_are_refused_in_one_line(tmp_path, capsys):
    path = corpus._dense_keras([16, 16, 4], scale=1e38)(tmp_path)
    code, lines = main(capsys, "compile", path, "-o", tmp_path / "out")
    assert code == 1 and len(lines) == 1, lines            # no NumPy warnings before it
    assert lines[0].startswith(f"ml4f: error: {path}: ") and "not finite" in lines[0]


def test_code_generation_of_a_long_1d_input_is_fast():
    """Column ranges are computed for the border columns only (it took minutes)."""
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        path = corpus._conv1d(1_000_000)(Path(d))
        t0 = time.perf_counter()
        compile_file(path, validate=False)
    assert time.perf_counter() - t0 < 8


def test_row_tiles_and_column_runs_match_the_column_by_column_rule():
    import random

    from ml4f.kernels.conv_geometry import Geometry, row_tiles
    rng = random.Random(0)
    for _ in range(3000):
        W, KW, sw, dw = rng.randint(1, 30), rng.randint(1, 6), rng.randint(1, 3), rng.randint(1, 3)
        pl, pr = rng.randint(0, 6), rng.randint(0, 6)
        OW = (W + pl + pr - (KW - 1) * dw - 1) // sw + 1
        if OW < 1:
            continue
        g = Geometry(1, W, 1, 1, OW, 1, 1, KW, 1, sw, 1, dw, 0, pl)
        ranges = [g.kx_range(ox) for ox in range(OW)]
        for p in range(1, 6):
            tiles = [(ox0, q, r) for ox0, n, q, r in row_tiles(g, p)
                     for ox0 in range(ox0, ox0 + n * q, q)]
            assert [t[0] for t in tiles] == list(range(0, OW, p))
            assert all(r == tuple(ranges[ox0:ox0 + q]) for ox0, q, r in tiles)
        runs = [kr for ox0, n, *kr in g.column_runs() for _ in range(n)]
        assert runs == [list(r) for r in ranges]


# ----------------------------------------------------------------------- 6. names
@pytest.mark.parametrize("name", ['a"b', "a\nb", "a-b", "a.b", "a b", "a;b", "8x8", "",
                                  "a" * 300])
def test_basename_must_be_a_c_identifier(tmp_path, capsys, name):
    code, lines = main(capsys, "compile", MLP, "-o", tmp_path, "-b", name)
    assert code == 2 and len(lines) == 1 and "must be a C identifier" in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_a_file_name_that_is_not_an_identifier_is_mapped_and_said(tmp_path, capsys):
    model = tmp_path / "a-b.h5"
    model.write_bytes(MLP.read_bytes())
    code, lines = main(capsys, "compile", model, "-o", tmp_path / "out", "-q")
    assert code == 0 and lines == []                       # -q: nothing
    code, lines = main(capsys, "compile", model, "-o", tmp_path / "out")
    assert code == 0
    assert lines == ["ml4f: note: 'a-b' is not a C identifier: the outputs and symbols are "
                     "named 'a_b' (choose with -b NAME)"]
    assert (tmp_path / "out" / "a_b.bin").exists()


def test_custom_layer_without_a_name_is_named_as_custom(tmp_path):
    src = corpus.seed_path("mlp", "k2_h5")
    config = formats.read_config(src)
    config["config"]["layers"][1] = {"class_name": "Custom>MyLayer", "config": {"units": 3}}
    path = formats.write_config(src, tmp_path / "custom.h5", config)
    with pytest.raises(UnsupportedError) as info:
        compile_file(path)
    assert "custom layer class 'MyLayer' (package 'Custom') is not supported" in str(info.value)
    assert "has no name" not in str(info.value)


def test_lambda_activation_is_named_briefly(tmp_path):
    src = corpus.seed_path("mlp", "k2_h5")
    config = formats.read_config(src)
    config["config"]["layers"][1]["config"]["activation"] = ["4wEAAAAAAAAA" * 45, None, None]
    path = formats.write_config(src, tmp_path / "lam.h5", config)
    with pytest.raises(UnsupportedError) as info:
        compile_file(path)
    text = str(info.value)
    assert "activation is a Lambda/Python function: not supported" in text and len(text) < 250
