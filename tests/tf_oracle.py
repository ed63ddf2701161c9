"""Compile a Keras model with ml4f, run the real machine code in the emulator and
compare with what TensorFlow/Keras computes for the same inputs."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ml4f.api import compile_file
from ml4f.emulator import Machine
from ml4f.validate import error

from keras_models import save


def keras_predict(model, x: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(model(x, training=False), dtype=np.float32)


def f16_rounded_copy(model, keras):
    """The model with kernels rounded to float16 as the compiled code sees them
    (biases stay float32)."""
    clone = keras.models.clone_model(model)
    clone.set_weights([w.astype(np.float16).astype(np.float32) if w.ndim >= 2 else w
                       for w in model.get_weights()])
    return clone


def compare(model, path: Path, *, n_inputs: int = 8, float16: bool = False, keras=None,
            seed: int = 0, inputs: np.ndarray | None = None, **compile_kw):
    """Save `model` to `path`, compile it, and return (max error, compiled, outputs)."""
    save(model, path)
    compiled = compile_file(path, float16=float16, **compile_kw)
    machine = Machine(compiled.object)
    shape = tuple(int(d) for d in model.input_shape[1:])
    if inputs is None:
        rng = np.random.default_rng(seed)
        inputs = rng.standard_normal((n_inputs,) + shape).astype(np.float32)
    oracle = f16_rounded_copy(model, keras) if float16 else model
    expected = keras_predict(oracle, inputs)
    got = np.stack([machine.run(x).output for x in inputs])
    return error(got.reshape(expected.shape), expected), compiled, got


def outputs_per_format(saved: dict, n_inputs: int, seed: int):
    """For each saved format (keras_models.build_and_save, models already saved):
    (format, Keras's outputs, the compiled object's outputs shaped like them) on
    the same n_inputs random inputs (one generator over the formats)."""
    rng = np.random.default_rng(seed)
    for fmt, s in saved.items():
        shape = tuple(int(d) for d in s.model.input_shape[1:])
        x = rng.standard_normal((n_inputs,) + shape).astype(np.float32)
        expected = keras_predict(s.model, x)
        machine = Machine(compile_file(s.path).object)
        got = np.stack([machine.run(xi).output for xi in x]).reshape(expected.shape)
        yield fmt, expected, got
