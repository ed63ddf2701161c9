"""`ml4f selftest` and the example models it needs, installed as package data."""
from __future__ import annotations

import subprocess
import sys
import zipfile

from test_cli import EXAMPLES, ml4f

from ml4f.selftest import MODELS

REPO = EXAMPLES.parents[1]
SHIPPED = [f"{m}{s}" for m in MODELS for s in (".h5", "_test_x.npy", "_test_y.npy")]


def test_selftest_passes():
    r = ml4f("selftest")
    assert r.returncode == 0, (r.stdout, r.stderr)
    lines = r.stdout.splitlines()
    assert [line.split(":")[0] for line in lines[:-1]] == [
        f"ok    {m} ({w} weights)" for m in MODELS for w in ("float32", "float16")]
    assert lines[-1].startswith("selftest: all 4 checks passed")


def test_selftest_fails_on_a_broken_example(tmp_path):
    import io
    import shutil

    from ml4f.selftest import main

    for name in SHIPPED:
        shutil.copy(EXAMPLES / name, tmp_path / name)
    data = (tmp_path / "gesture.h5").read_bytes()
    (tmp_path / "gesture.h5").write_bytes(data[: len(data) // 2])        # truncated
    out = io.StringIO()
    assert main(out, root=tmp_path) == 1
    text = out.getvalue()
    assert "ok    digits (float32 weights)" in text
    assert "FAIL  gesture (float32 weights): " in text and "gesture.h5" in text
    assert text.splitlines()[-1].startswith("selftest: 2 of 4 checks FAILED")


def test_a_wheel_carries_the_example_models(tmp_path):
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps",
                        "--no-build-isolation", "-q", "-w", str(tmp_path)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    (wheel,) = tmp_path.glob("ml4f-*.whl")
    with zipfile.ZipFile(wheel) as z:
        for name in SHIPPED:
            assert z.read(f"ml4f/examples/{name}") == (EXAMPLES / name).read_bytes(), name
        assert b"__MAX_MODEL_BYTES__" in z.read("ml4f/serve/page.html")
