"""Whole models with transposed convolutions, LayerNormalization and PReLU
against Keras on 16 inputs each, saved by Keras 3 (.h5 and .keras) and
Keras 2 (tf_keras, .h5): a Conv2D/Conv2DTranspose autoencoder on 28x28x1, a
Conv1DTranspose model, a residual MLP with LayerNormalization and gelu, a CNN
with PReLU; the autoencoder also in float16."""
from __future__ import annotations

import numpy as np
import pytest

from keras_models import build_and_save
from ml4f.api import compile_file
from ml4f.emulator import Machine
from ml4f.validate import error
from test_whole_models_ops import realistic_weights, saved_with_realistic_weights
from tf_oracle import f16_rounded_copy, keras_predict, outputs_per_format

RTOL = 1e-5
N_INPUTS = 16


def _input(K, shape):
    return K.layers.InputLayer(input_shape=shape) if K.__name__ == "tf_keras" else K.Input(shape)


def conv_autoencoder(K):
    L = K.layers
    return K.Sequential([
        _input(K, (28, 28, 1)),
        L.Conv2D(16, 3, strides=2, padding="same", activation="relu"),
        L.Conv2D(32, 3, strides=2, padding="same", activation="relu"),
        L.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu"),
        L.Conv2DTranspose(16, 3, strides=2, padding="same", activation="relu"),
        L.Conv2D(1, 3, padding="same", activation="sigmoid")], name="conv_autoencoder")


def conv1d_transpose(K):
    L = K.layers
    return K.Sequential([
        _input(K, (40, 3)),
        L.Conv1D(16, 5, strides=2, activation="relu"),
        L.Conv1D(24, 3, strides=2, padding="same", activation="relu"),
        L.Conv1DTranspose(16, 3, strides=2, padding="same", output_padding=1, activation="relu"),
        L.Conv1DTranspose(8, 5, strides=3, padding="valid"),
        L.Conv1DTranspose(3, 2, strides=1, padding="same", activation="tanh")], name="conv1d_t")


def residual_mlp(K):
    L = K.layers
    inp = K.Input((24,))
    x = L.Dense(48)(inp)
    for _ in range(2):
        h = L.LayerNormalization(epsilon=1e-5)(x)
        h = L.Dense(96, activation="gelu")(h)
        h = L.Dense(48)(h)
        x = L.Add()([x, h])
    x = L.LayerNormalization(center=False)(x)
    out = L.Dense(5, activation="softmax")(x)
    return K.Model(inp, out, name="residual_mlp")


def prelu_cnn(K):
    L = K.layers
    return K.Sequential([
        _input(K, (20, 20, 3)),
        L.Conv2D(12, 3), L.PReLU(shared_axes=[1, 2]), L.MaxPooling2D(2),
        L.Conv2D(16, 3, padding="same"), L.PReLU(), L.GlobalAveragePooling2D(),
        L.Dense(6, activation="softmax")], name="prelu_cnn")


@pytest.mark.slow
@pytest.mark.parametrize("build", [conv_autoencoder, conv1d_transpose, residual_mlp, prelu_cnn],
                         ids=lambda f: f.__name__)
def test_whole_models_all_formats(tmp_path, build):
    saved = saved_with_realistic_weights(build, tmp_path, 11)
    for fmt, expected, got in outputs_per_format(saved, N_INPUTS, 13):
        assert error(got, expected) <= RTOL, (build.__name__, fmt, error(got, expected))


@pytest.mark.slow
def test_conv_autoencoder_float16(tmp_path):
    from keras_models import keras_module
    s = build_and_save(conv_autoencoder, tmp_path, "ae", formats=("k3_keras",))["k3_keras"]
    realistic_weights(s.model, 11)
    s.model.save(str(s.path))
    x = np.random.default_rng(3).standard_normal((N_INPUTS, 28, 28, 1)).astype(np.float32)
    expected = keras_predict(f16_rounded_copy(s.model, keras_module("k3")), x)
    m = Machine(compile_file(s.path, float16=True).object)
    got = np.stack([m.run(xi).output for xi in x])
    assert error(got, expected) <= RTOL
