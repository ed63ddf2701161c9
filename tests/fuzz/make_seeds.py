"""Write the fuzzer's seed models into tests/data/fuzz (run by hand; the files are committed).

    PYTHONPATH=. python -m tests.fuzz.make_seeds

Small models, each saved by Keras 2 (tf_keras, legacy .h5), Keras 3 (legacy .h5) and
Keras 3 (.keras), with deterministic weights.  Together their layers cover the layer
kinds whose configuration keys the fuzzer mutates (see tests/fuzz/corpus.py).
"""
from __future__ import annotations

from pathlib import Path

from tests import keras_models as km

SEED_DIR = Path(__file__).resolve().parents[1] / "data" / "fuzz"
SEED_FORMATS = ("k2_h5", "k3_h5", "k3_keras")


def cnn(K):
    L = K.layers
    return K.Sequential([
        K.Input((8, 8, 1)),
        L.Conv2D(4, 3, activation="relu", name="conv"),
        L.MaxPooling2D(2, name="pool"),
        L.Flatten(name="flat"),
        L.Dense(3, activation="softmax", name="fc"),
    ], name="cnn")


def mlp(K):
    L = K.layers
    return K.Sequential([K.Input((6,)), L.Dense(5, activation="relu", name="fc1"),
                         L.Dense(3, name="fc2")], name="mlp")


def conv_kinds(K):
    L = K.layers
    return K.Sequential([
        K.Input((10, 10, 2)),
        L.ZeroPadding2D(1, name="pad"),
        L.Conv2D(3, 3, strides=1, dilation_rate=1, padding="valid", name="conv"),
        L.BatchNormalization(name="bn"),
        L.LeakyReLU(name="leaky"),
        L.DepthwiseConv2D(3, depth_multiplier=1, padding="same", name="dw"),
        L.SeparableConv2D(4, 3, padding="same", name="sep"),
        L.ELU(name="elu"),
        L.AveragePooling2D(2, strides=2, name="avg"),
        L.UpSampling2D(2, name="up"),
        L.Cropping2D(1, name="crop"),
        L.Conv2DTranspose(2, 3, strides=2, padding="same", name="deconv"),
        L.MaxPooling2D(2, name="max"),
        L.Rescaling(0.5, offset=0.1, name="rescale"),
        L.GlobalAveragePooling2D(name="gap"),
        L.Dense(4, name="fc"),
        L.Softmax(name="softmax"),
    ], name="conv_kinds")


def seq_kinds(K):
    L = K.layers
    return K.Sequential([
        K.Input((12, 3)),
        L.Conv1D(4, 3, padding="causal", name="conv1d"),
        L.ReLU(max_value=6.0, name="relu6"),
        L.MaxPooling1D(2, name="pool1d"),
        L.LayerNormalization(name="ln"),
        L.LSTM(4, return_sequences=True, name="lstm"),
        L.GRU(3, name="gru"),
        L.RepeatVector(2, name="repeat"),
        L.Permute((2, 1), name="permute"),
        L.Reshape((6,), name="reshape"),
        L.PReLU(name="prelu"),
        L.Dense(2, activation="sigmoid", name="fc"),
    ], name="seq_kinds")


def merge_kinds(K):
    L = K.layers
    x = K.Input((6,), name="inp")
    a = L.Dense(4, activation="tanh", name="a")(x)
    b = L.Dense(4, name="b")(x)
    s = L.Add(name="add")([a, b])
    c = L.Concatenate(name="cat")([s, a])
    y = L.Dense(2, name="out")(c)
    return K.Model(x, y, name="merge_kinds")


SEEDS = {"cnn": cnn, "mlp": mlp, "conv_kinds": conv_kinds, "seq_kinds": seq_kinds,
         "merge_kinds": merge_kinds}


def main() -> None:
    SEED_DIR.mkdir(parents=True, exist_ok=True)
    for name, fn in SEEDS.items():
        for fmt, saved in km.build_and_save(fn, SEED_DIR, name, SEED_FORMATS).items():
            print(saved.path.relative_to(SEED_DIR.parents[2]), saved.path.stat().st_size)


if __name__ == "__main__":
    main()
