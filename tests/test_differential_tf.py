"""Differential tests against TensorFlow: for each supported layer, many random
configurations, compiled from a saved Keras file; the emulated machine code must
match Keras within 1e-5 (float32) or, for --float16, match Keras run with the
float16-rounded weights within the same bound."""
from __future__ import annotations

import numpy as np
import pytest

from keras_models import keras_module
from tf_oracle import compare

RTOL = 1e-5


@pytest.fixture(scope="module")
def K():
    return keras_module("k3")


def single_layer_model(K, input_shape, layer, then=()):
    return K.Sequential([K.Input(input_shape), layer, *then])


def seeded_weights(model, seed):
    """Uniform weights scaled by 1/sqrt(fan-in), as Keras's initialisers scale them,
    so activations stay O(1) and float32 rounding stays far below the tolerance."""
    rng = np.random.default_rng(seed)
    weights = []
    for w in model.get_weights():
        fan_in = int(np.prod(w.shape[:-1])) if w.ndim > 1 else 1
        weights.append((rng.uniform(-1, 1, w.shape) * np.sqrt(3.0 / fan_in)).astype(np.float32))
    model.set_weights(weights)


# ----------------------------------------------------------------- Conv2D / Conv1D
def conv2d_config(seed):
    rng = np.random.default_rng(seed)
    k = (int(rng.integers(1, 6)), int(rng.integers(1, 6)))
    strides, dilation = (1, 1), (1, 1)
    if rng.random() < 0.3:
        dilation = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    else:
        strides = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    big = rng.random() < 0.15
    cin = int(rng.choice([260, 300])) if big else int(rng.choice([1, 2, 3, 4, 6, 8, 11, 16, 32]))
    cout = int(rng.choice([256, 270])) if big else int(rng.choice([1, 2, 3, 5, 8, 9, 16, 24, 33]))
    span = [(k[i] - 1) * dilation[i] + 1 for i in range(2)]
    h = span[0] + int(rng.integers(0, 3 if big else 12))
    w = span[1] + int(rng.integers(0, 3 if big else 12))
    return dict(shape=(h, w, cin), filters=cout, kernel_size=k, strides=strides,
                dilation_rate=dilation, padding=str(rng.choice(["valid", "same"])),
                activation=str(rng.choice(["linear", "relu", "relu", "softmax"])),
                use_bias=bool(rng.random() < 0.8))


@pytest.mark.parametrize("seed", range(60))
def test_conv2d(K, tmp_path, seed):
    cfg = conv2d_config(seed)
    shape = cfg.pop("shape")
    model = single_layer_model(K, shape, K.layers.Conv2D(**cfg))
    seeded_weights(model, seed)
    err, compiled, _ = compare(model, tmp_path / "m.h5", seed=seed, keras=K, n_inputs=4)
    assert err <= RTOL, (shape, cfg, err)


@pytest.mark.parametrize("seed", range(16))
def test_conv2d_float16(K, tmp_path, seed):
    cfg = conv2d_config(500 + seed)
    shape = cfg.pop("shape")
    model = single_layer_model(K, shape, K.layers.Conv2D(**cfg))
    seeded_weights(model, seed)
    err, _, _ = compare(model, tmp_path / "m.h5", seed=seed, keras=K, float16=True, n_inputs=3)
    assert err <= RTOL, (shape, cfg, err)


@pytest.mark.parametrize("seed", range(24))
def test_conv1d(K, tmp_path, seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(1, 8))
    strides = int(rng.integers(1, 4))
    dil = 1 if strides > 1 else int(rng.integers(1, 4))
    cin = int(rng.choice([1, 3, 6, 16, 40]))
    steps = (k - 1) * dil + 1 + int(rng.integers(0, 30))
    cfg = dict(filters=int(rng.choice([1, 4, 8, 17, 32])), kernel_size=k, strides=strides,
               dilation_rate=dil, padding=str(rng.choice(["valid", "same"])),
               activation=str(rng.choice(["linear", "relu"])), use_bias=bool(rng.random() < 0.8))
    model = single_layer_model(K, (steps, cin), K.layers.Conv1D(**cfg))
    seeded_weights(model, seed)
    err, _, _ = compare(model, tmp_path / "m.keras", seed=seed, keras=K, n_inputs=4)
    assert err <= RTOL, ((steps, cin), cfg, err)


# ----------------------------------------------------------------------- Dense
@pytest.mark.parametrize("seed", range(30))
def test_dense(K, tmp_path, seed):
    rng = np.random.default_rng(seed)
    n = int(rng.choice([1, 2, 5, 16, 31, 64, 100, 256, 300]))
    units = int(rng.choice([1, 2, 3, 7, 10, 16, 33, 128, 260]))
    rows = () if rng.random() < 0.8 else (int(rng.integers(2, 5)),)
    cfg = dict(units=units, activation=str(rng.choice(["linear", "relu", "softmax"])),
               use_bias=bool(rng.random() < 0.8))
    model = single_layer_model(K, rows + (n,), K.layers.Dense(**cfg))
    seeded_weights(model, seed)
    f16 = seed % 3 == 0
    err, _, _ = compare(model, tmp_path / "m.h5", seed=seed, keras=K, float16=f16, n_inputs=4)
    assert err <= RTOL, (rows + (n,), cfg, f16, err)


# --------------------------------------------------------------------- pooling
@pytest.mark.parametrize("seed", range(30))
def test_maxpool2d(K, tmp_path, seed):
    rng = np.random.default_rng(seed)
    pool = (int(rng.integers(1, 5)), int(rng.integers(1, 5)))
    strides = None if rng.random() < 0.3 else (int(rng.integers(1, 5)), int(rng.integers(1, 5)))
    padding = str(rng.choice(["valid", "same"]))
    h, w = pool[0] + int(rng.integers(0, 10)), pool[1] + int(rng.integers(0, 10))
    c = int(rng.choice([1, 3, 8, 13, 300]))
    if c > 100:
        h, w = min(h, 6), min(w, 6)
    model = single_layer_model(K, (h, w, c), K.layers.MaxPooling2D(pool, strides, padding))
    err, _, _ = compare(model, tmp_path / "m.h5", seed=seed, keras=K, n_inputs=3)
    assert err == 0.0, ((h, w, c), pool, strides, padding, err)


@pytest.mark.parametrize("seed", range(10))
def test_maxpool1d(K, tmp_path, seed):
    rng = np.random.default_rng(seed)
    pool = int(rng.integers(1, 5))
    strides = int(rng.integers(1, 5))
    padding = str(rng.choice(["valid", "same"]))
    steps, c = pool + int(rng.integers(0, 20)), int(rng.choice([1, 4, 9]))
    model = single_layer_model(K, (steps, c), K.layers.MaxPooling1D(pool, strides, padding))
    err, _, _ = compare(model, tmp_path / "m.h5", seed=seed, keras=K, n_inputs=3)
    assert err == 0.0, ((steps, c), pool, strides, padding, err)


# ------------------------------------------------- activations and free layers
@pytest.mark.parametrize("activation", ["relu", "softmax", "linear"])
@pytest.mark.parametrize("shape", [(10,), (4, 6), (3, 3, 5)])
def test_activation_layer(K, tmp_path, activation, shape):
    model = K.Sequential([K.Input(shape), K.layers.Activation(activation)])
    err, _, _ = compare(model, tmp_path / "m.h5", keras=K)
    assert err <= RTOL


def test_free_layers_chain(K, tmp_path):
    model = K.Sequential([
        K.Input((6, 4, 2)), K.layers.Flatten(), K.layers.Dropout(0.5),
        K.layers.Reshape((8, 6)), K.layers.Dense(5), K.layers.Reshape((-1,)),
        K.layers.Activation("relu"), K.layers.Dense(3, activation="softmax")])
    seeded_weights(model, 3)
    err, compiled, _ = compare(model, tmp_path / "m.keras", keras=K)
    assert err <= RTOL
    assert [op.kind for op in compiled.graph.ops] == ["dense", "dense", "softmax"]


def test_keras2_files(tmp_path):
    K2 = keras_module("k2")
    model = K2.Sequential([
        K2.layers.InputLayer(input_shape=(9, 9, 3)),
        K2.layers.Conv2D(6, 3, strides=2, padding="same", activation="relu"),
        K2.layers.MaxPooling2D(2, padding="same"), K2.layers.Flatten(),
        K2.layers.Dense(4, activation="softmax")])
    seeded_weights(model, 4)
    err, _, _ = compare(model, tmp_path / "m.h5", keras=K2)
    assert err <= RTOL
