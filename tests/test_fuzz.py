"""The fuzzer (tests/fuzz): every case through `ml4f compile` in a process of its own.

For each case: it ends within 10 s, under the memory cap; it exits 0 with an object that
validated (the compile validates against the reference) and, for a configuration mutant
Keras can load, computes what Keras computes; or it exits 1 with one line naming the
file (or the output path), or 2 (a usage error) where the case expects it; never an
internal error; and nothing of the output name is left behind when it fails (outputs
of an earlier compile, planted before each case, are gone), nor anything stale when it
succeeds.  ML4F_FUZZ=full runs the long corpus (docs/reliability.md).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ml4f.container import parse_header
from ml4f.firmware import c_identifier
from tests.fuzz import corpus
from tests.fuzz.harness import DEADLINE, MEMORY_CAP, OUTPUT_SUFFIXES, run_compile

MODE = os.environ.get("ML4F_FUZZ", "ci")
CASES = corpus.cases(MODE)
LOG = os.environ.get("ML4F_FUZZ_LOG")         # a JSON line per case, for summaries


def _output_name(case: corpus.Case, model: Path) -> str | None:
    if case.name is not None:
        return case.name if case.name.isidentifier() and case.name.isascii() else None
    return c_identifier(model.stem)


def _plant_stale(out: Path, name: str) -> None:
    """Outputs of an earlier compile of the same name: they must not survive this one."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError:
        return                                   # the case is about this path
    for suffix in OUTPUT_SUFFIXES:
        (out / f"{name}{suffix}").write_bytes(b"stale\n")


def _agrees_with_keras(model: Path, obj: Path, report: Path, where: str) -> None:
    """Where Keras loads the mutant too, the object computes what Keras does (a mutant
    Keras refuses is only held to the contract above)."""
    import numpy as np

    from keras_models import keras_module
    from ml4f.emulator import Machine
    from ml4f.validate import error
    from tf_oracle import keras_predict
    generation = "k2" if json.loads(report.read_text())["keras_version"].startswith("2") else "k3"
    try:
        keras_model = keras_module(generation).models.load_model(str(model), compile=False)
        x = np.random.default_rng(0).standard_normal(
            (2,) + tuple(int(d) for d in keras_model.input_shape[1:])).astype(np.float32)
        expected = keras_predict(keras_model, x)
    except Exception:                            # Keras cannot load or run it
        return
    machine = Machine(obj.read_bytes())
    got = np.stack([machine.run(v).output for v in x]).reshape(expected.shape)
    assert error(got, expected) <= 1e-5, f"{where}: differs from Keras by {error(got, expected):.2e}"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_fuzz_case(case, tmp_path):
    model = case.build(tmp_path)
    out = tmp_path / case.out
    name = _output_name(case, model)
    if name is not None and case.category != "names":
        _plant_stale(out, name)
    argv = ["compile", str(model), "-o", str(out)] + \
        (["-b", case.name] if case.name is not None else []) + list(case.args)
    r = run_compile(argv, tmp_path / "run", out)
    if LOG:
        with open(LOG, "a") as log:
            log.write(json.dumps({"id": case.id, "category": case.category, "code": r.code,
                                  "seconds": round(r.seconds, 3), "max_rss": r.max_rss,
                                  "stderr": r.stderr.strip()[:300]}) + "\n")
    where = f"{case.id}: stderr {r.stderr.strip()!r}"
    assert r.code is not None, f"{case.id}: did not end within {DEADLINE:g} s"
    assert r.seconds < DEADLINE, where
    assert r.max_rss <= MEMORY_CAP, f"{where}: peak memory {r.max_rss:,} B"
    assert "internal error" not in r.stderr and "Traceback" not in r.stderr, where
    assert r.code in (0, 1, 2), where
    errors = [line for line in r.stderr.splitlines() if not line.startswith("ml4f: note:")]
    if r.code == 0:
        assert errors == [], where
        assert name is not None
        parse_header((out / f"{name}.bin").read_bytes())
        assert r.left == sorted(f"{name}{s}" for s in (".S", ".bin", ".h", ".json")), where
        if case.category == "config":
            _agrees_with_keras(model, out / f"{name}.bin", out / f"{name}.json", where)
    else:
        assert len(errors) == 1 and errors[0].startswith("ml4f: error: "), where
        if r.code == 1:
            named = str(model) in errors[0] or (case.category == "names" and str(out) in errors[0])
            assert named, f"{where}: the line names neither the file nor the output path"
        assert not [f for f in r.left if name and f.startswith(name + ".")], f"{where}: {r.left}"
        assert not [f for f in r.left if ".ml4f-tmp-" in f], f"{where}: {r.left}"
    expected = {"refused": 1, "compiled": 0, "usage": 2}.get(case.expect)
    if expected is not None:
        assert r.code == expected, where
    if case.message is not None and r.code != 0:
        assert case.message in r.stderr, where
