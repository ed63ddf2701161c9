"""Whole models against Keras on 32 inputs each, saved by Keras 3 (.h5 and
.keras) and by Keras 2 (tf_keras, .h5): an MLP, a LeNet-like CNN on 28x28x1 and
the 8x8 digits CNN (also the trained one shipped in examples/)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from keras_models import build_and_save, keras_module
from ml4f.api import compile_file
from ml4f.emulator import Machine
from ml4f.validate import error
from tf_oracle import keras_predict, outputs_per_format

RTOL = 1e-5
EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "models"
FORMATS = ("k3_h5", "k3_keras", "k2_h5")


def _input(K, shape):
    # Keras 2 needs InputLayer(input_shape=...); Keras 3 prefers Input(shape)
    return K.layers.InputLayer(input_shape=shape) if K.__name__ == "tf_keras" else K.Input(shape)


def mlp(K):
    return K.Sequential([_input(K, (64,)), K.layers.Dense(128, activation="relu"),
                         K.layers.Dropout(0.1), K.layers.Dense(64, activation="relu"),
                         K.layers.Dense(10, activation="softmax")], name="mlp")


def lenet(K):
    return K.Sequential([
        _input(K, (28, 28, 1)),
        K.layers.Conv2D(8, 3, activation="relu"), K.layers.MaxPooling2D(2),
        K.layers.Conv2D(16, 3, activation="relu"), K.layers.MaxPooling2D(2),
        K.layers.Flatten(), K.layers.Dense(10, activation="softmax")], name="lenet")


def digits_cnn(K):
    return K.Sequential([
        _input(K, (8, 8, 1)),
        K.layers.Conv2D(8, 3, padding="same", activation="relu"), K.layers.MaxPooling2D(2),
        K.layers.Conv2D(16, 3, padding="same", activation="relu"), K.layers.MaxPooling2D(2),
        K.layers.Flatten(), K.layers.Dense(10, activation="softmax")], name="digits")


def fan_in_scaled(rng, shape) -> np.ndarray:
    """Uniform values scaled by 1/sqrt(fan-in), as Keras's initialisers scale them."""
    return (rng.uniform(-1, 1, shape) * np.sqrt(3.0 / max(1, int(np.prod(shape[:-1]))))).astype(np.float32)


def scaled_weights(model, seed):
    rng = np.random.default_rng(seed)
    model.set_weights([fan_in_scaled(rng, w.shape) for w in model.get_weights()])


@pytest.mark.parametrize("build", [mlp, lenet, digits_cnn], ids=lambda f: f.__name__)
def test_whole_model_all_formats(tmp_path, build):
    saved = build_and_save(build, tmp_path, build.__name__, formats=FORMATS)
    for fmt, s in saved.items():
        scaled_weights(s.model, 7)
        s.model.save(str(s.path))
    for fmt, expected, got in outputs_per_format(saved, 32, 11):
        err = error(got, expected)
        assert err <= RTOL, (build.__name__, fmt, err)
        assert (got.argmax(-1) == expected.argmax(-1)).all()


@pytest.mark.parametrize("name", ["digits.h5", "digits.keras"])
def test_trained_digits_example(name):
    K = keras_module("k3")
    model = K.models.load_model(str(EXAMPLES / name), compile=False)
    x = np.load(EXAMPLES / "digits_test_x.npy")
    labels = np.load(EXAMPLES / "digits_test_y.npy")
    compiled = compile_file(EXAMPLES / name)
    m = Machine(compiled.object)
    got = np.stack([m.run(xi).output for xi in x])
    expected = keras_predict(model, x)
    assert error(got, expected) <= RTOL
    assert (got.argmax(-1) == labels).mean() >= 0.9
