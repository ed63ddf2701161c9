"""PReLU: the kernel against the reference (periods, chunk tails, in place,
NaN and signed zero), and compiled Keras files against TensorFlow for random
shapes and shared_axes, in Keras 3 .h5 and .keras and Keras 2 .h5; a CNN with
PReLU after its convolutions."""
from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from keras_models import keras_module
from ml4f import reference
from ml4f.api import compile_file
from ml4f.backend import compile_graph
from ml4f.emulator import Machine
from ml4f.errors import UnsupportedError
from ml4f.graph.ops.elementwise import PReLU
from ml4f.validate import single_op_graph
from test_differential_tf import seeded_weights
from tf_oracle import compare

RTOL = 1e-5


def prelu_op(shape, period_shape, rng):
    alpha = rng.uniform(-1.5, 1.5, period_shape).astype(np.float32)
    return PReLU("p", "PReLU", ["x"], "y", [shape], shape, alpha=alpha)


@pytest.mark.unit
@pytest.mark.parametrize("shape, period_shape", [
    ((5,), (5,)), ((3, 7), (7,)), ((4, 4, 9), (9,)), ((2, 3, 17), (3, 17)), ((6, 20), (6, 20)),
    ((1,), (1,)), ((8, 8, 3), (8, 8, 3))], ids=str)
def test_prelu_kernel_matches_reference(shape, period_shape):
    rng = np.random.default_rng(len(shape) * 31 + shape[-1])
    g = single_op_graph(prelu_op(shape, period_shape, rng))
    obj = compile_graph(g).object
    x = rng.standard_normal(shape).astype(np.float32)
    x.ravel()[:4] = [0.0, -0.0, np.nan, -np.inf][:x.size] if x.size >= 4 else x.ravel()[:4]
    got = Machine(obj).run(x).output
    want = reference.run_graph(g, x)
    assert np.array_equal(np.isnan(got), np.isnan(want))
    fin = ~np.isnan(want)
    assert np.array_equal(got[fin], want[fin])              # one rounding, as the reference


def _prelu_model(K, shape, shared, seed):
    model = K.Sequential([K.Input(shape), K.layers.PReLU(shared_axes=shared)])
    rng = np.random.default_rng(seed)
    model.set_weights([rng.uniform(-1, 1, w.shape).astype(np.float32) for w in model.get_weights()])
    return model


@pytest.mark.parametrize("seed", range(12))
def test_prelu_layer_against_tensorflow(tmp_path, seed):
    rng = np.random.default_rng(seed)
    rank = int(rng.integers(1, 4))
    shape = tuple(int(d) for d in rng.integers(1, 9, rank))
    shared = sorted(int(a) for a in rng.choice(np.arange(1, rank + 1), int(rng.integers(0, rank)),
                                               replace=False))
    gen, suffix = [("k3", ".h5"), ("k3", ".keras"), ("k2", ".h5")][seed % 3]
    K = keras_module(gen)
    model = _prelu_model(K, shape, shared or None, seed)
    err, compiled, _ = compare(model, tmp_path / f"m{suffix}", keras=K)
    assert err <= RTOL, (shape, shared, err)
    assert [op.kind for op in compiled.graph.ops] == ["prelu"]


def test_cnn_with_prelu(tmp_path):
    K = keras_module("k3")
    model = K.Sequential([K.Input((12, 12, 2)), K.layers.Conv2D(8, 3),
                          K.layers.PReLU(shared_axes=[1, 2]), K.layers.MaxPooling2D(2),
                          K.layers.Conv2D(6, 3), K.layers.PReLU(), K.layers.Flatten(),
                          K.layers.Dense(4, activation="softmax")])
    seeded_weights(model, 3)
    for suffix in (".h5", ".keras"):
        err, compiled, _ = compare(model, tmp_path / f"cnn{suffix}", keras=K)
        assert err <= RTOL
    prelus = [op for op in compiled.graph.ops if op.kind == "prelu"]
    assert [op.period for op in prelus] == [8, 3 * 3 * 6]     # shared over H, W; none shared


def test_prelu_bad_shared_axes_refused(tmp_path):
    K = keras_module("k3")
    model = _prelu_model(K, (4, 5), [1], 0)
    path = tmp_path / "m.keras"
    model.save(str(path))
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    config = json.loads(members["config.json"])
    config["config"]["layers"][-1]["config"]["shared_axes"] = [3]
    members["config.json"] = json.dumps(config).encode()
    bad = tmp_path / "bad.keras"
    with zipfile.ZipFile(bad, "w") as z:
        for n, data in members.items():
            z.writestr(n, data)
    with pytest.raises(UnsupportedError, match="shared_axes"):
        compile_file(bad)
