"""Differential tests against TensorFlow for the convolution and pooling
families beyond the basic Conv2D/MaxPooling2D: depthwise and separable
convolutions (1-D and 2-D; depth multiplier; with and without bias; strides,
padding, dilation), causal/dilated Conv1D, average pooling (pool size ≠ stride,
"same" counting only real elements) and global pooling (with/without keepdims)."""
from __future__ import annotations

import numpy as np
import pytest

from keras_models import keras_module
from ml4f.api import compile_file
from test_differential_tf import seeded_weights, single_layer_model
from tf_oracle import compare

RTOL = 1e-5


@pytest.fixture(scope="module")
def K():
    return keras_module("k3")


def spatial(rng, k, dil, extra=10):
    return [(k[i] - 1) * dil[i] + 1 + int(rng.integers(0, extra)) for i in range(len(k))]


def window_options(rng, rank):
    """TensorFlow's depthwise convolution only runs equal strides on both axes."""
    k = tuple(int(rng.integers(1, 6)) for _ in range(rank))
    strides, dilation = (1,) * rank, (1,) * rank
    if rng.random() < 0.3:
        dilation = tuple(int(rng.integers(1, 4)) for _ in range(rank))
    else:
        strides = (int(rng.integers(1, 4)),) * rank
    return k, strides, dilation


@pytest.mark.parametrize("seed", range(40))
def test_depthwise_conv2d(K, tmp_path, seed):
    rng = np.random.default_rng(seed)
    k, strides, dilation = window_options(rng, 2)
    c = int(rng.choice([1, 2, 3, 8, 13, 32, 64])) if seed % 10 else 300
    h, w = spatial(rng, k, dilation, 3 if c > 100 else 10)
    cfg = dict(kernel_size=k, strides=strides, dilation_rate=dilation,
               padding=str(rng.choice(["valid", "same"])), depth_multiplier=int(rng.choice([1, 1, 2, 3])),
               activation=str(rng.choice(["linear", "relu"])), use_bias=bool(rng.random() < 0.7))
    model = single_layer_model(K, (h, w, c), K.layers.DepthwiseConv2D(**cfg))
    seeded_weights(model, seed)
    f16 = seed % 4 == 3
    err, _, _ = compare(model, tmp_path / "m.h5", seed=seed, keras=K, float16=f16, n_inputs=3)
    assert err <= RTOL, ((h, w, c), cfg, f16, err)


@pytest.mark.parametrize("seed", range(16))
def test_depthwise_conv1d(K, tmp_path, seed):
    rng = np.random.default_rng(100 + seed)
    k, strides, dilation = window_options(rng, 1)
    c = int(rng.choice([1, 4, 6, 16]))
    steps, = spatial(rng, k, dilation, 20)
    cfg = dict(kernel_size=k[0], strides=strides[0], dilation_rate=dilation[0],
               padding=str(rng.choice(["valid", "same"])),
               depth_multiplier=int(rng.choice([1, 2])), activation=str(rng.choice(["linear", "relu"])),
               use_bias=bool(rng.random() < 0.7))
    model = single_layer_model(K, (steps, c), K.layers.DepthwiseConv1D(**cfg))
    seeded_weights(model, seed)
    err, _, _ = compare(model, tmp_path / "m.keras", seed=seed, keras=K, n_inputs=3)
    assert err <= RTOL, ((steps, c), cfg, err)


@pytest.mark.parametrize("seed", range(20))
def test_separable_conv(K, tmp_path, seed):
    rng = np.random.default_rng(200 + seed)
    rank = 1 if seed % 3 == 0 else 2
    k, strides, dilation = window_options(rng, rank)
    c = int(rng.choice([1, 3, 8, 16]))
    shape = tuple(spatial(rng, k, dilation, 8)) + (c,)
    cfg = dict(filters=int(rng.choice([1, 4, 8, 20])), kernel_size=k, strides=strides,
               dilation_rate=dilation, padding=str(rng.choice(["valid", "same"])),
               depth_multiplier=int(rng.choice([1, 2])),
               activation=str(rng.choice(["linear", "relu", "softmax"])), use_bias=bool(rng.random() < 0.8))
    layer = (K.layers.SeparableConv1D if rank == 1 else K.layers.SeparableConv2D)(**cfg)
    model = single_layer_model(K, shape, layer)
    seeded_weights(model, seed)
    err, _, _ = compare(model, tmp_path / "m.h5", seed=seed, keras=K, n_inputs=3)
    assert err <= RTOL, (shape, cfg, err)


@pytest.mark.parametrize("seed", range(16))
def test_conv1d_causal_dilated(K, tmp_path, seed):
    rng = np.random.default_rng(300 + seed)
    k = int(rng.integers(2, 6))
    dil = int(rng.integers(1, 5))
    cin = int(rng.choice([1, 3, 8]))
    steps = (k - 1) * dil + 1 + int(rng.integers(0, 25))
    cfg = dict(filters=int(rng.choice([2, 8, 16])), kernel_size=k, dilation_rate=dil,
               padding="causal", activation=str(rng.choice(["linear", "relu"])))
    model = single_layer_model(K, (steps, cin), K.layers.Conv1D(**cfg))
    seeded_weights(model, seed)
    err, _, _ = compare(model, tmp_path / "m.h5", seed=seed, keras=K, n_inputs=3)
    assert err <= RTOL, ((steps, cin), cfg, err)


@pytest.mark.parametrize("seed", range(24))
def test_average_pooling(K, tmp_path, seed):
    rng = np.random.default_rng(400 + seed)
    rank = 1 if seed % 4 == 0 else 2
    pool = tuple(int(rng.integers(1, 5)) for _ in range(rank))
    strides = None if rng.random() < 0.3 else tuple(int(rng.integers(1, 5)) for _ in range(rank))
    padding = str(rng.choice(["valid", "same"]))
    c = int(rng.choice([1, 3, 8, 13, 260]))
    size = [p + int(rng.integers(0, 4 if c > 100 else 10)) for p in pool]
    layer = (K.layers.AveragePooling1D if rank == 1 else K.layers.AveragePooling2D)(pool, strides, padding)
    model = single_layer_model(K, tuple(size) + (c,), layer)
    err, _, _ = compare(model, tmp_path / "m.h5", seed=seed, keras=K, n_inputs=3)
    assert err <= RTOL, (size, c, pool, strides, padding, err)


@pytest.mark.parametrize("kind", ["GlobalAveragePooling1D", "GlobalAveragePooling2D",
                                  "GlobalMaxPooling1D", "GlobalMaxPooling2D"])
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pooling(K, tmp_path, kind, keepdims):
    rng = np.random.default_rng(len(kind) + keepdims)
    shape = ((int(rng.integers(1, 40)),) if kind.endswith("1D") else
             (int(rng.integers(1, 12)), int(rng.integers(1, 12)))) + (int(rng.choice([1, 5, 16, 30])),)
    model = single_layer_model(K, shape, getattr(K.layers, kind)(keepdims=keepdims),
                               then=[K.layers.Flatten(), K.layers.Dense(3, activation="softmax")])
    seeded_weights(model, 1)
    err, compiled, _ = compare(model, tmp_path / "m.keras", keras=K, n_inputs=4)
    assert err <= RTOL, (shape, kind, keepdims, err)


def test_keras2_depthwise_and_separable(tmp_path):
    K2 = keras_module("k2")
    model = K2.Sequential([
        K2.layers.InputLayer(input_shape=(12, 10, 4)),
        K2.layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same", activation="relu"),
        K2.layers.SeparableConv2D(8, 3, strides=2, padding="same", activation="relu"),
        K2.layers.AveragePooling2D(2, padding="same"), K2.layers.GlobalAveragePooling2D(),
        K2.layers.Dense(4, activation="softmax")])
    seeded_weights(model, 5)
    err, _, _ = compare(model, tmp_path / "m.h5", keras=K2)
    assert err <= RTOL


def _mobilenet_block(K, h, w, c, filters, act):
    x = inp = K.Input((h, w, c))
    x = K.layers.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
    x = K.layers.BatchNormalization()(x)
    x = K.layers.ReLU(max_value=6.0)(x) if act == "relu6" else K.layers.ReLU()(x)
    x = K.layers.Conv2D(filters, 1, use_bias=False)(x)
    x = K.layers.BatchNormalization()(x)
    x = K.layers.ReLU(max_value=6.0)(x) if act == "relu6" else K.layers.ReLU()(x)
    x = K.layers.DepthwiseConv2D(3, strides=2, padding="same")(x)
    return K.Model(inp, x)


@pytest.mark.parametrize("seed", range(6))
def test_pointwise_few_channels_against_tensorflow(K, tmp_path, seed):
    """MobileNet's depthwise -> 1x1 (8 -> 16) -> depthwise block with folded
    BatchNorm and ReLU / ReLU6: op by op (the 1x1 as channel passes where the
    allowance lets its output lag a group of rows) and streamed (the 1x1 in the
    conv kernel's resident scheme, a row per call); float16 against the
    reference on the folded, rounded weights (the compiler's validation)."""
    rng = np.random.default_rng(500 + seed)
    h, w = int(rng.integers(6, 30)), int(rng.integers(6, 30))
    c, filters = int(rng.choice([4, 8])), int(rng.choice([8, 16, 17]))
    act = "relu6" if seed % 2 else "relu"
    model = _mobilenet_block(K, h, w, c, filters, act)
    seeded_weights(model, seed)
    for layer in model.layers:
        if isinstance(layer, K.layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([gamma, beta, mean, np.abs(var) + 0.5])
    kinds = set()
    for options in (dict(arena_goal="fast", optimize="speed"), dict()):
        for f16 in (False, True):
            if f16:
                compiled = compile_file(tmp_path / "m.keras", float16=True, **options)
                err = compiled.report["validation"]["max_error"]
            else:
                err, compiled, _ = compare(model, tmp_path / "m.keras", seed=seed, keras=K,
                                           n_inputs=3, **options)
            assert err <= RTOL, ((h, w, c, filters), act, options, f16, err)
            for L in compiled.report["layers"]:
                kernel = str(L["kernel"])
                if L["op"] == "conv2d":
                    kinds.add(kernel.split("scheme=")[-1].split()[0])
                elif L["op"] == "stream" and "scheme='resident'" in kernel:
                    kinds.add("streamed resident")
    assert {"passes", "streamed resident"} <= kinds or "resident" in kinds, kinds
