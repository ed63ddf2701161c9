"""The benchmark models: the shipped examples and synthetic ones built with Keras 3.

The synthetic models are saved as .h5 under benchmarks/models/ by
`python -m benchmarks.models` (needs TensorFlow); the benchmark itself only reads
the files.  Weights are deterministic: uniform with standard deviation
sqrt(2 / fan_in) (He scale, so activations keep their size through ReLU layers),
biases small, BatchNormalization statistics near identity, all seeded by the
model name (so the files are byte-for-byte reproducible).
"""
from __future__ import annotations

import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
MODELS_DIR = HERE / "models"
EXAMPLES_DIR = REPO / "examples" / "models"


@dataclass(frozen=True)
class BenchModel:
    name: str
    description: str
    path: Path
    build: Callable | None = None      # keras module -> model (None: a shipped example)
    quick: bool = False                # part of the --quick run


# ------------------------------------------------------------------ builders
def mlp(K):
    return K.Sequential([
        K.Input((256,), name="features"),
        K.layers.Dense(128, activation="relu", name="fc1"),
        K.layers.Dense(64, activation="relu", name="fc2"),
        K.layers.Dense(10, activation="softmax", name="out"),
    ], name="mlp")


def lenet(K):
    return K.Sequential([
        K.Input((28, 28, 1), name="image"),
        K.layers.Conv2D(8, 3, activation="relu", name="conv1"),
        K.layers.MaxPooling2D(2, name="pool1"),
        K.layers.Conv2D(16, 3, activation="relu", name="conv2"),
        K.layers.MaxPooling2D(2, name="pool2"),
        K.layers.Flatten(name="flatten"),
        K.layers.Dense(10, activation="softmax", name="out"),
    ], name="lenet")


def gesture_conv1d(K):
    return K.Sequential([
        K.Input((128, 6), name="imu"),
        K.layers.Conv1D(16, 5, activation="relu", name="conv1"),
        K.layers.MaxPooling1D(2, name="pool1"),
        K.layers.Conv1D(32, 3, padding="same", activation="relu", name="conv2"),
        K.layers.MaxPooling1D(2, name="pool2"),
        K.layers.Conv1D(32, 3, padding="same", activation="relu", name="conv3"),
        K.layers.GlobalAveragePooling1D(name="gap"),
        K.layers.Dense(8, activation="softmax", name="out"),
    ], name="gesture_conv1d")


def _conv_bn_relu(K, x, layer, name):
    """layer (no bias) -> BatchNormalization -> ReLU."""
    x = layer(use_bias=False, name=name)(x)
    x = K.layers.BatchNormalization(name=f"{name}_bn")(x)
    return K.layers.Activation("relu", name=f"{name}_relu")(x)


def dw_bn(K):
    L = K.layers
    inp = K.Input((24, 24, 3), name="image")
    x = _conv_bn_relu(K, inp, lambda **kw: L.Conv2D(16, 3, padding="same", **kw), "conv1")
    x = _conv_bn_relu(K, x, lambda **kw: L.DepthwiseConv2D(3, padding="same", **kw), "dw1")
    x = _conv_bn_relu(K, x, lambda **kw: L.Conv2D(32, 1, **kw), "pw1")
    x = L.MaxPooling2D(2, name="pool1")(x)
    x = _conv_bn_relu(K, x, lambda **kw: L.DepthwiseConv2D(3, padding="same", **kw), "dw2")
    x = _conv_bn_relu(K, x, lambda **kw: L.Conv2D(32, 1, **kw), "pw2")
    x = L.GlobalAveragePooling2D(name="gap")(x)
    out = L.Dense(10, activation="softmax", name="out")(x)
    return K.Model(inp, out, name="dw_bn")


def ds_cnn(K):
    """MLPerf Tiny keyword spotting DS-CNN (49 x 10 MFCC input, 12 classes)."""
    L = K.layers
    inp = K.Input((49, 10, 1), name="mfcc")
    x = _conv_bn_relu(K, inp, lambda **kw: L.Conv2D(64, (10, 4), strides=2, padding="same", **kw),
                      "conv1")
    for i in range(1, 5):
        x = _conv_bn_relu(K, x, lambda **kw: L.DepthwiseConv2D(3, padding="same", **kw), f"dw{i}")
        x = _conv_bn_relu(K, x, lambda **kw: L.Conv2D(64, 1, **kw), f"pw{i}")
    x = L.AveragePooling2D((25, 5), name="avgpool")(x)
    x = L.Flatten(name="flatten")(x)
    out = L.Dense(12, activation="softmax", name="out")(x)
    return K.Model(inp, out, name="ds_cnn")


def cifar_cnn(K):
    return K.Sequential([
        K.Input((32, 32, 3), name="image"),
        K.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1"),
        K.layers.MaxPooling2D(2, name="pool1"),
        K.layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2"),
        K.layers.MaxPooling2D(2, name="pool2"),
        K.layers.Conv2D(64, 3, padding="same", activation="relu", name="conv3"),
        K.layers.MaxPooling2D(2, name="pool3"),
        K.layers.Flatten(name="flatten"),
        K.layers.Dense(10, activation="softmax", name="out"),
    ], name="cifar_cnn")


# ------------------------------------------------------ MLPerf Tiny (float32)
# The reference architectures of MLPerf Tiny v1 (mlcommons/tiny, training/*/keras_model.py),
# layer for layer; weights are this file's deterministic ones, not trained.
def resnet8(K):
    """Image classification: ResNet-8 on 32x32x3 CIFAR-10 images (12.5 M MACs)."""
    L = K.layers
    inp = K.Input((32, 32, 3), name="image")
    x = _conv_bn_relu(K, inp, lambda **kw: L.Conv2D(16, 3, padding="same", **kw), "conv1")
    for stack, filters in ((1, 16), (2, 32), (3, 64)):
        stride = 1 if stack == 1 else 2
        y = _conv_bn_relu(K, x, lambda **kw: L.Conv2D(filters, 3, strides=stride, padding="same",
                                                      **kw), f"s{stack}_conv1")
        y = L.Conv2D(filters, 3, padding="same", use_bias=False, name=f"s{stack}_conv2")(y)
        y = L.BatchNormalization(name=f"s{stack}_conv2_bn")(y)
        if stack > 1:                          # projection shortcut
            x = L.Conv2D(filters, 1, strides=2, padding="same", name=f"s{stack}_shortcut")(x)
        x = L.Add(name=f"s{stack}_add")([x, y])
        x = L.Activation("relu", name=f"s{stack}_relu")(x)
    x = L.AveragePooling2D(8, name="avgpool")(x)
    x = L.Flatten(name="flatten")(x)
    out = L.Dense(10, activation="softmax", name="out")(x)
    return K.Model(inp, out, name="resnet8")


def mobilenet_vww(K):
    """Visual wake words: MobileNetV1 with width 0.25 on 96x96x3 images (7.5 M MACs)."""
    L = K.layers
    inp = K.Input((96, 96, 3), name="image")
    x = _conv_bn_relu(K, inp, lambda **kw: L.Conv2D(8, 3, strides=2, padding="same", **kw), "conv1")
    blocks = [(1, 16), (2, 32), (1, 32), (2, 64), (1, 64), (2, 128), (1, 128), (1, 128),
              (1, 128), (1, 128), (1, 128), (2, 256), (1, 256)]
    for i, (stride, filters) in enumerate(blocks, 1):
        x = _conv_bn_relu(K, x, lambda **kw: L.DepthwiseConv2D(3, strides=stride, padding="same",
                                                               **kw), f"dw{i}")
        x = _conv_bn_relu(K, x, lambda **kw: L.Conv2D(filters, 1, padding="same", **kw), f"pw{i}")
    x = L.AveragePooling2D(3, name="avgpool")(x)
    x = L.Flatten(name="flatten")(x)
    out = L.Dense(2, activation="softmax", name="out")(x)
    return K.Model(inp, out, name="mobilenet_vww")


def ad_autoencoder(K):
    """Anomaly detection: the Dense autoencoder on 640 log-mel features (ToyADMOS)."""
    L = K.layers
    inp = K.Input((640,), name="features")
    x = inp
    for i, units in enumerate([128, 128, 128, 128, 8, 128, 128, 128, 128], 1):
        x = L.Dense(units, name=f"fc{i}")(x)
        x = L.BatchNormalization(name=f"fc{i}_bn")(x)
        x = L.Activation("relu", name=f"fc{i}_relu")(x)
    out = L.Dense(640, name="out")(x)
    return K.Model(inp, out, name="ad_autoencoder")


def conv_autoencoder(K):
    """Convolutional autoencoder on 28x28x1: two stride-2 convolutions down,
    two stride-2 transposed convolutions up."""
    L = K.layers
    return K.Sequential([
        K.Input((28, 28, 1), name="image"),
        L.Conv2D(16, 3, strides=2, padding="same", activation="relu", name="enc1"),
        L.Conv2D(32, 3, strides=2, padding="same", activation="relu", name="enc2"),
        L.Conv2D(32, 3, padding="same", activation="relu", name="code"),
        L.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu", name="dec1"),
        L.Conv2DTranspose(16, 3, strides=2, padding="same", activation="relu", name="dec2"),
        L.Conv2D(1, 3, padding="same", name="out"),             # linear: the C baseline runs it
    ], name="conv_autoencoder")


# ------------------------------------------------------------------ recurrent
def lstm_activity(K):
    """Human activity recognition: two LSTM layers over a 50 x 3 accelerometer window."""
    L = K.layers
    return K.Sequential([
        K.Input((50, 3), name="imu"),
        L.LSTM(32, return_sequences=True, name="lstm1"),
        L.LSTM(32, name="lstm2"),
        L.Dense(6, activation="softmax", name="out"),
    ], name="lstm_activity")


def _synthetic(name, description, build, quick=False):
    return BenchModel(name, description, MODELS_DIR / f"{name}.h5", build, quick)


MODELS: list[BenchModel] = [
    BenchModel("digits", "example: 8x8 digits CNN (examples/models/digits.h5)",
               EXAMPLES_DIR / "digits.h5", quick=True),
    BenchModel("gesture", "example: accelerometer Conv1D (examples/models/gesture.h5)",
               EXAMPLES_DIR / "gesture.h5"),
    _synthetic("mlp", "MLP 256-128-64-10", mlp, quick=True),
    _synthetic("lenet", "LeNet-like CNN on 28x28x1", lenet, quick=True),
    _synthetic("gesture_conv1d", "gesture Conv1D, 128 x 6 IMU window", gesture_conv1d),
    _synthetic("dw_bn", "depthwise-separable blocks with BatchNormalization, 24x24x3", dw_bn,
               quick=True),
    _synthetic("ds_cnn", "keyword spotting DS-CNN (MLPerf Tiny shape), 49x10x1", ds_cnn),
    _synthetic("cifar_cnn", "CIFAR-sized CNN, 32x32x3", cifar_cnn),
    _synthetic("resnet8", "MLPerf Tiny image classification ResNet-8, 32x32x3", resnet8),
    _synthetic("mobilenet_vww", "MLPerf Tiny visual wake words MobileNetV1-0.25, 96x96x3",
               mobilenet_vww),
    _synthetic("ad_autoencoder", "MLPerf Tiny anomaly detection Dense autoencoder, 640", ad_autoencoder),
    _synthetic("conv_autoencoder", "convolutional autoencoder with Conv2DTranspose, 28x28x1",
               conv_autoencoder),
    _synthetic("lstm_activity", "activity classifier, two LSTM 32 over a 50x3 window",
               lstm_activity),
]


def selected(quick: bool) -> list[BenchModel]:
    return [m for m in MODELS if m.quick or not quick]


# ------------------------------------------------------------------ weights
def _seed(name: str) -> int:
    return zlib.crc32(name.encode())


def _fan_in(var_name: str, shape) -> int:
    if var_name == "depthwise_kernel":
        return int(np.prod(shape[:-2]))                 # (kh, kw, c, m): taps per output
    return int(np.prod(shape[:-1]))


def set_weights(model, name: str) -> None:
    """Deterministic weights: He-scaled kernels, small biases, BN statistics near identity."""
    rng = np.random.default_rng(_seed(name))
    for layer in model.layers:
        for var in layer.weights:
            vname = (var.path if hasattr(var, "path") else var.name).split("/")[-1].split(":")[0]
            shape = tuple(var.shape)
            if vname.endswith("kernel"):
                a = np.sqrt(3.0) * np.sqrt(2.0 / _fan_in(vname, shape))
                value = rng.uniform(-a, a, shape)
            elif vname in ("gamma", "moving_variance"):
                value = rng.uniform(0.6, 1.4, shape)
            else:                                          # bias, beta, moving_mean
                value = rng.uniform(-0.1, 0.1, shape)
            var.assign(value.astype(np.float32))


# ------------------------------------------------------------------ files
def keras():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    import logging
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import keras as K
    logging.getLogger("absl").setLevel(logging.ERROR)
    return K


def _save(model, path: Path) -> None:
    import warnings
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.save(path)


def make(models: list[BenchModel] | None = None, force: bool = False) -> list[Path]:
    """Build and save the synthetic models whose files are missing (all with force)."""
    todo = [m for m in (models or MODELS) if m.build and (force or not m.path.exists())]
    if not todo:
        return []
    K = keras()
    for m in todo:
        model = m.build(K)
        set_weights(model, m.name)
        _save(model, m.path)
    return [m.path for m in todo]


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="(Re)build the synthetic benchmark models.")
    ap.add_argument("--force", action="store_true", help="rebuild files that exist")
    args = ap.parse_args()
    for p in make(force=args.force):
        print(f"wrote {p.relative_to(REPO)}")
