"""Shared helpers of tests/test_scons.py, test_platformio.py and test_runtime.py."""
from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
MODELS = EXAMPLES / "models"
QEMU = ["qemu-system-arm", "-M", "netduinoplus2", "-nographic", "-monitor", "none",
        "-serial", "none", "-semihosting-config", "enable=on,target=native", "-kernel"]
ARM_FLAGS = ["-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard", "-mthumb"]


def require(*tools):
    for tool in tools:
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed (CI installs it; see .ci/run)")


def run(cmd, cwd=None, env=None, timeout=240, check=True) -> subprocess.CompletedProcess:
    """Run a command; on an unexpected exit status fail with its whole output."""
    full_env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", **(env or {}))
    result = subprocess.run([str(c) for c in cmd], cwd=cwd, env=full_env, capture_output=True,
                            text=True, timeout=timeout)
    result.output = result.stdout + result.stderr
    if check and result.returncode != 0:
        pytest.fail(f"{' '.join(map(str, cmd))} exited {result.returncode}:\n{result.output}")
    return result


def scons(args, cwd, **kw):
    return run([sys.executable, "-m", "SCons", *args], cwd=cwd, **kw)


def copy_example(name: str, dest: Path) -> Path:
    """examples/NAME, examples/models and benchmarks/models under dest, as in the repository."""
    shutil.copytree(EXAMPLES / name, dest / "examples" / name,
                    ignore=shutil.ignore_patterns(".pio", "build", ".sconsign.dblite", "__pycache__"))
    shutil.copytree(MODELS, dest / "examples" / "models",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(EXAMPLES.parent / "benchmarks" / "models", dest / "benchmarks" / "models")
    return dest / "examples" / name


def retouch_h5(path: Path) -> None:
    """Change a .h5 file's bytes without changing the model."""
    import h5py
    with h5py.File(path, "a") as f:
        f.attrs["retouched"] = f.attrs.get("retouched", 0) + 1


@functools.lru_cache(maxsize=None)
def keras_model(path: str):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    import keras
    return keras.models.load_model(path, compile=False)


def keras_predict(path: Path, x: np.ndarray) -> np.ndarray:
    return np.asarray(keras_model(str(path)).predict(x, verbose=0), np.float32)


FLOAT = r"[-+]?\d+\.\d+(?:[eE][-+]?\d+)?"


def parse_lines(pattern: str, text: str):
    """Every match of `pattern` (a regex with a `values` group of floats) as (match, floats)."""
    found = []
    for m in re.finditer(pattern, text, re.MULTILINE):
        values = np.array([float(v) for v in re.findall(FLOAT, m["values"])], np.float32)
        found.append((m, values))
    return found


def print_comparison(title: str, labels, firmware: np.ndarray, keras_out: np.ndarray) -> None:
    """Shown with `pytest -s`: what the firmware printed next to Keras."""
    def row(v):
        return " ".join(f"{x:.6f}" for x in v)
    print(f"\n{title} (largest difference {np.abs(firmware - keras_out).max():.1e})")
    for label, a, b in zip(labels, firmware, keras_out):
        print(f"  {label!s:>8}  firmware {row(a)}\n  {'':>8}  keras    {row(b)}")


def mirrors_dir() -> Path:
    """The offline copies of PlatformIO's platforms and Arduino cores: $ML4F_MIRRORS, else
    ../shared/mirrors beside the repository, else the nearest ancestor holding shared/mirrors."""
    if os.environ.get("ML4F_MIRRORS"):
        candidates = [Path(os.environ["ML4F_MIRRORS"])]
    else:
        candidates = [REPO.parent / "shared" / "mirrors"] + \
            [parent / "shared" / "mirrors" for parent in REPO.parents]
    for path in candidates:
        if path.is_dir() and any(path.glob("platform-*")):
            return path
    pytest.fail("no mirrors of PlatformIO's platforms and Arduino cores: set ML4F_MIRRORS to the "
                f"folder of platform-*.tar.gz / framework-*.tar.gz (looked in {candidates[0]})")


PIO_ENV = {"PLATFORMIO_SETTING_ENABLE_TELEMETRY": "no", "PLATFORMIO_DISABLE_UPGRADE_CHECK": "true"}


def pio(args, cwd, core, workspace=None, check=True, python=sys.executable, timeout=600, env=None):
    """`pio ARGS` offline, with its core directory (and optionally its workspace) redirected."""
    env = dict(PIO_ENV, PLATFORMIO_CORE_DIR=str(core), **(env or {}))
    if workspace:
        env["PLATFORMIO_WORKSPACE_DIR"] = str(workspace)
    return run([python, "-m", "platformio", *args], cwd=cwd, env=env, check=check, timeout=timeout)
