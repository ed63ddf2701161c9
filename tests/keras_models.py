"""Small Keras models for tests: built with Keras 3 (``keras``) and Keras 2 (``tf_keras``),
given deterministic non-trivial weights and saved in every model file format.

A *build function* takes the Keras module and returns a model, using only the module's public
API (``K.layers``, ``K.Sequential``, ``K.Model``, ``K.Input``)::

    def tiny(K):
        return K.Sequential([K.Input((4,), name="inp"), K.layers.Dense(2, name="fc")])

    paths = save_all_formats(tiny, tmp_path)          # {"k3_h5": Path, "k3_keras": …}
    saved = build_and_save(tiny, tmp_path)            # the same, with the in-memory models

Formats: ``k3_h5`` / ``k3_keras`` (Keras 3 legacy HDF5 / .keras archive) and ``k2_h5`` /
``k2_keras`` (tf_keras legacy HDF5 / .keras archive).  TensorFlow is imported on first use.
"""
from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

#: format name -> (Keras generation, file suffix)
FORMATS: dict[str, tuple[str, str]] = {
    "k3_h5": ("k3", ".h5"),
    "k3_keras": ("k3", ".keras"),
    "k2_h5": ("k2", ".h5"),
    "k2_keras": ("k2", ".keras"),
}
GENERATIONS = {"k3": "keras", "k2": "tf_keras"}

BuildFn = Callable[[object], object]


@dataclass
class Saved:
    format: str            # "k3_h5", …
    generation: str        # "k3" or "k2"
    path: Path
    model: object          # the in-memory Keras model that was saved


def keras_module(generation: str):
    """``keras`` for "k3", ``tf_keras`` for "k2" (imported quietly on first use)."""
    import importlib

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = importlib.import_module(GENERATIONS[generation])
    logging.getLogger("absl").setLevel(logging.ERROR)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    return module


def set_weights(model, seed: int = 0, low: float = 0.5, high: float = 1.5) -> None:
    """Replace every weight by uniform(low, high) values from a seeded generator."""
    rng = np.random.default_rng(seed)
    model.set_weights([rng.uniform(low, high, size=w.shape).astype(w.dtype)
                       for w in model.get_weights()])


def build(build_fn: BuildFn, generation: str, seed: int = 0):
    """Build a model with one Keras generation and give it deterministic weights."""
    model = build_fn(keras_module(generation))
    set_weights(model, seed)
    return model


def save(model, path: Path | str) -> Path:
    """``model.save(path)`` with the harmless saving warnings silenced."""
    path = Path(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.save(str(path))
    return path


def build_and_save(build_fn: BuildFn, tmp_dir: Path | str, name: str = "model",
                   formats: Iterable[str] = tuple(FORMATS), seed: int = 0) -> dict[str, Saved]:
    """Build the model once per Keras generation and save it in each requested format."""
    tmp_dir = Path(tmp_dir)
    tmp_dir.mkdir(parents=True, exist_ok=True)
    models: dict[str, object] = {}
    out: dict[str, Saved] = {}
    for fmt in formats:
        generation, suffix = FORMATS[fmt]
        if generation not in models:
            models[generation] = build(build_fn, generation, seed)
        path = save(models[generation], tmp_dir / f"{name}_{fmt}{suffix}")
        out[fmt] = Saved(fmt, generation, path, models[generation])
    return out


def save_all_formats(build_fn: BuildFn, tmp_dir: Path | str, name: str = "model",
                     formats: Iterable[str] = tuple(FORMATS), seed: int = 0) -> dict[str, Path]:
    """Build and save; return {format name: path}."""
    return {fmt: s.path for fmt, s in build_and_save(build_fn, tmp_dir, name, formats, seed).items()}


def _is_sequential(layer) -> bool:
    return type(layer).__name__ == "Sequential" and hasattr(layer, "layers")


def leaf_layers(model, prefix: str = "") -> dict[str, object]:
    """{path name: layer} with nested Sequential models flattened (``inner/leaf``), as
    ``ml4f.model`` names them; InputLayers of nested models are not listed."""
    out: dict[str, object] = {}
    for layer in model.layers:
        if _is_sequential(layer):
            out.update(leaf_layers(layer, f"{prefix}{layer.name}/"))
        elif not (prefix and type(layer).__name__ == "InputLayer"):
            out[prefix + layer.name] = layer
    return out


def leaf_weights(model) -> dict[str, list[np.ndarray]]:
    """{path name: layer.get_weights()} for every leaf layer."""
    return {name: layer.get_weights() for name, layer in leaf_layers(model).items()}
