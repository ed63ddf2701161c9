"""Whole recurrent models against Keras on 8 inputs, in Keras 3 .keras, Keras 3 .h5 and
Keras 2 .h5: a two-layer LSTM activity classifier, Conv1D -> LSTM, a GRU classifier,
a Bidirectional LSTM, a SimpleRNN with TimeDistributed(Dense)."""
from __future__ import annotations

import pytest

from keras_models import keras_module
from test_ops_recurrent import seeded_weights
from tf_oracle import compare

RTOL = 1e-5
FORMATS = [("k3", ".keras"), ("k3", ".h5"), ("k2", ".h5")]


def lstm_activity(K):
    L = K.layers
    return K.Sequential([K.Input((50, 3), name="imu"), L.LSTM(32, return_sequences=True),
                         L.LSTM(32), L.Dense(6, activation="softmax")], name="lstm_activity")


def conv1d_lstm(K):
    L = K.layers
    return K.Sequential([K.Input((64, 3)), L.Conv1D(16, 5, activation="relu"),
                         L.MaxPooling1D(2), L.LSTM(24), L.Dense(4, activation="softmax")])


def gru_classifier(K):
    L = K.layers
    return K.Sequential([K.Input((40, 10)), L.GRU(32, return_sequences=True), L.GRU(16),
                         L.Dense(12, activation="softmax")])


def bidirectional_lstm(K):
    L = K.layers
    return K.Sequential([K.Input((30, 6)),
                         L.Bidirectional(L.LSTM(16, return_sequences=True)),
                         L.Bidirectional(L.LSTM(8), merge_mode="sum"),
                         L.Dense(5, activation="softmax")])


def rnn_time_distributed(K):
    L = K.layers
    return K.Sequential([K.Input((20, 4)), L.SimpleRNN(16, return_sequences=True),
                         L.TimeDistributed(L.Dense(3))])


MODELS = [lstm_activity, conv1d_lstm, gru_classifier, bidirectional_lstm, rnn_time_distributed]
KINDS = {
    lstm_activity: ["recurrent", "recurrent", "dense", "softmax"],
    conv1d_lstm: ["conv2d", "pool2d", "recurrent", "dense", "softmax"],
    gru_classifier: ["recurrent", "recurrent", "dense", "softmax"],
    bidirectional_lstm: ["recurrent", "recurrent", "concat", "recurrent", "recurrent", "merge",
                         "dense", "softmax"],
    rnn_time_distributed: ["recurrent", "dense"],
}


@pytest.mark.slow
@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f[0] + f[1])
@pytest.mark.parametrize("build", MODELS, ids=lambda f: f.__name__)
def test_recurrent_model_matches_keras(tmp_path, build, fmt):
    K = keras_module(fmt[0])
    model = build(K)
    seeded_weights(model, MODELS.index(build))
    err, compiled, _ = compare(model, tmp_path / f"{build.__name__}{fmt[1]}", keras=K,
                               n_inputs=8)
    assert err <= RTOL, err
    assert [op.kind for op in compiled.graph.ops] == KINDS[build]
