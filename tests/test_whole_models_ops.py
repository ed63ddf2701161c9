"""Whole models mixing the operator families, against Keras on 32 inputs each,
saved by Keras 3 (.h5 and .keras) and Keras 2 (tf_keras, .h5): a keyword
spotting DS-CNN (Conv + Depthwise + BatchNorm + ReLU + average pooling), a
causal/dilated Conv1D model, and a SeparableConv model."""
from __future__ import annotations

import numpy as np
import pytest

from keras_models import build_and_save
from ml4f.validate import error
from test_whole_models import fan_in_scaled
from tf_oracle import outputs_per_format

RTOL = 1e-5
FORMATS = ("k3_h5", "k3_keras", "k2_h5")


def _input(K, shape):
    return K.layers.InputLayer(input_shape=shape) if K.__name__ == "tf_keras" else K.Input(shape)


def ds_cnn(K):
    """Keyword spotting DS-CNN (MLPerf Tiny shape, fewer filters): 49x10 MFCC input."""
    L = K.layers
    layers = [_input(K, (49, 10, 1)), L.Conv2D(32, (10, 4), strides=2, padding="same"),
              L.BatchNormalization(), L.Activation("relu")]
    for _ in range(3):
        layers += [L.DepthwiseConv2D(3, padding="same"), L.BatchNormalization(), L.Activation("relu"),
                   L.Conv2D(32, 1), L.BatchNormalization(), L.Activation("relu")]
    layers += [L.AveragePooling2D((25, 5)), L.Flatten(), L.Dense(12, activation="softmax")]
    return K.Sequential(layers, name="ds_cnn")


def causal_dilated_conv1d(K):
    L = K.layers
    return K.Sequential([
        _input(K, (64, 3)),
        L.Conv1D(16, 3, padding="causal", activation="relu"),
        L.Conv1D(16, 3, padding="causal", dilation_rate=2, activation="relu"),
        L.Conv1D(16, 3, padding="causal", dilation_rate=4, activation="relu"),
        L.Conv1D(16, 3, padding="causal", dilation_rate=8),
        L.MaxPooling1D(2), L.GlobalAveragePooling1D(), L.Dense(5, activation="softmax")],
        name="tcn")


def separable(K):
    L = K.layers
    return K.Sequential([
        _input(K, (24, 24, 3)),
        L.SeparableConv2D(16, 3, activation="relu"), L.MaxPooling2D(2),
        L.SeparableConv2D(32, 3, depth_multiplier=2, padding="same", activation="relu"),
        L.AveragePooling2D(2), L.SeparableConv2D(32, 3, strides=2, activation="relu"),
        L.GlobalMaxPooling2D(), L.Dense(4, activation="softmax")], name="separable")


def realistic_weights(model, seed):
    """Fan-in scaled weights; BatchNorm statistics in plausible ranges (variance > 0)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        ws = layer.get_weights()
        if not ws:
            continue
        if type(layer).__name__ == "BatchNormalization":
            new = []
            for w, var in zip(ws, layer.weights):
                name = var.name.split("/")[-1].split(":")[0]
                lo, hi = {"gamma": (0.5, 1.5), "moving_variance": (0.5, 1.5)}.get(name, (-0.5, 0.5))
                new.append(rng.uniform(lo, hi, w.shape).astype(np.float32))
            layer.set_weights(new)
            continue
        layer.set_weights([fan_in_scaled(rng, w.shape) for w in ws])


def saved_with_realistic_weights(build, tmp_path, seed: int) -> dict:
    """The model saved in every format, one set of realistic weights per Keras generation."""
    saved = build_and_save(build, tmp_path, build.__name__, formats=FORMATS)
    done = set()
    for s in saved.values():
        if id(s.model) not in done:
            realistic_weights(s.model, seed)
            done.add(id(s.model))
        s.model.save(str(s.path))
    return saved


@pytest.mark.slow
@pytest.mark.parametrize("build", [ds_cnn, causal_dilated_conv1d, separable], ids=lambda f: f.__name__)
def test_mixed_models_all_formats(tmp_path, build):
    saved = saved_with_realistic_weights(build, tmp_path, 3)
    for fmt, expected, got in outputs_per_format(saved, 32, 5):
        assert error(got, expected) <= RTOL, (build.__name__, fmt, error(got, expected))
        assert (got.argmax(-1) == expected.argmax(-1)).all()
