"""Reading and rewriting the parts of a model file without TensorFlow: the configuration
of a legacy .h5 (attribute model_config) or a .keras (config.json), and .keras members."""
from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import h5py


def read_config(path: Path) -> dict:
    if path.suffix == ".keras":
        with zipfile.ZipFile(path) as z:
            return json.loads(z.read("config.json"))
    with h5py.File(path, "r") as f:
        text = f.attrs["model_config"]
        return json.loads(text.decode() if isinstance(text, bytes) else text)


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist()}


def write_zip(path: Path, parts: dict[str, bytes], method=zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression=method) as z:
        for name, data in parts.items():
            z.writestr(name, data)
    return path


def write_config(src: Path, dst: Path, config: dict) -> Path:
    """A copy of `src` with its configuration replaced."""
    text = json.dumps(config)
    if src.suffix == ".keras":
        parts = members(src)
        parts["config.json"] = text.encode()
        return write_zip(dst, parts)
    shutil.copyfile(src, dst)
    with h5py.File(dst, "r+") as f:
        f.attrs["model_config"] = text.encode()
    return dst


def layer_entries(config: dict) -> list[dict]:
    """The layer entries of a Sequential or Functional configuration (top level)."""
    layers = config["config"]["layers"]
    return [e for e in layers if isinstance(e, dict) and isinstance(e.get("config"), dict)]
