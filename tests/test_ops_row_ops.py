"""LayerNormalization, UnitNormalization and Softmax over any one axis: the
kernels against the reference (unit: rows of 1..300 values, chunk tails, in
place, gamma/beta on and off, tiny and zero rows), the layers against
TensorFlow over random shapes and options in Keras 3 .keras/.h5 and Keras 2
.h5, and the options refused in one line."""
from __future__ import annotations

import numpy as np
import pytest

from keras_models import keras_module
from ml4f import reference
from ml4f.api import compile_file
from ml4f.backend import compile_graph
from ml4f.emulator import Machine
from ml4f.errors import UnsupportedError
from ml4f.graph.ops import Softmax
from ml4f.graph.ops.elementwise import LayerNorm, UnitNorm
from ml4f.validate import error, single_op_graph
from test_differential_tf import single_layer_model
from tf_oracle import compare

RTOL = 1e-5
SHAPES = [(1,), (5,), (8,), (3, 7), (4, 4, 9), (2, 17), (6, 64), (2, 300), (3, 1)]
FORMATS = [("k3", ".keras"), ("k3", ".h5"), ("k2", ".h5")]


def _run(op, x):
    g = single_op_graph(op)
    return Machine(compile_graph(g).object).run(x).output, reference.run_graph(g, x)


@pytest.mark.unit
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("scale, center", [(True, True), (False, True), (True, False), (False, False)])
def test_layer_norm_kernel_matches_reference(shape, scale, center):
    rng = np.random.default_rng(shape[-1] * 7 + len(shape))
    c = shape[-1]
    op = LayerNorm("l", "LayerNormalization", ["x"], "y", [shape], shape,
                   gamma=rng.standard_normal(c).astype(np.float32) if scale else None,
                   beta=rng.standard_normal(c).astype(np.float32) if center else None,
                   epsilon=float(rng.choice([1e-3, 1e-5, 1e-6])))
    x = (rng.standard_normal(shape) * 3 + 2).astype(np.float32)     # an offset: two passes matter
    got, want = _run(op, x)
    assert error(got, want) <= RTOL


@pytest.mark.unit
def test_layer_norm_of_single_values_is_beta():
    """One value per row: x - mean is exactly 0, so the output is exactly beta
    (TensorFlow's x * r - mean * r, r = 1/sqrt(epsilon), is off by up to
    |x| r 2^-24, e.g. 2e-5 relative with epsilon = 1e-5)."""
    rng = np.random.default_rng(1)
    beta = np.float32([0.7])
    op = LayerNorm("l", "LayerNormalization", ["x"], "y", [(6, 1)], (6, 1), gamma=np.float32([1.3]),
                   beta=beta, epsilon=1e-5)
    got, _ = _run(op, (rng.standard_normal((6, 1)) * 3).astype(np.float32))
    assert np.array_equal(got, np.full((6, 1), beta[0], np.float32))


@pytest.mark.unit
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("generation", ["keras2", "keras3"])
def test_unit_norm_kernel_matches_reference(shape, generation):
    rng = np.random.default_rng(shape[-1] * 5 + len(shape))
    op = UnitNorm("u", "UnitNormalization", ["x"], "y", [shape], shape, generation=generation)
    x = rng.standard_normal(shape).astype(np.float32)
    x.reshape(-1, shape[-1])[0] = 0.0                                 # a zero row: the floor
    if x.size // shape[-1] > 1:
        x.reshape(-1, shape[-1])[1] *= 1e-8                          # below Keras 2's floor
    got, want = _run(op, x)
    assert error(got, want) <= RTOL


@pytest.mark.unit
@pytest.mark.parametrize("shape, axis", [
    ((5, 3), 0), ((4, 9, 3), 1), ((4, 9, 3), 0), ((2, 3, 17), 0), ((1, 20), 0), ((7, 1, 5), 1),
    ((3, 300), 0), ((9, 6, 2), 1), ((2, 3, 4, 5), 1), ((2, 3, 4, 5), 2), ((13, 11), 0),
    ((6, 1), 0), ((6, 3, 1), 1), ((2, 1, 1), 0)], ids=str)
def test_strided_softmax_kernel_matches_reference(shape, axis):
    rng = np.random.default_rng(sum(shape) + axis)
    op = Softmax("s", "Softmax", ["x"], "y", [shape], shape, axis=axis)
    x = (rng.standard_normal(shape) * 4).astype(np.float32)
    got, want = _run(op, x)
    assert error(got, want) <= RTOL


def _random_shape(rng, rank_max=3, c_max=64):
    rank = int(rng.integers(1, rank_max + 1))
    shape = [int(d) for d in rng.integers(1, 9, rank - 1)] + [int(rng.integers(1, c_max + 1))]
    return tuple(shape)


def _set_random_weights(model, rng):
    model.set_weights([rng.uniform(0.5, 1.5, w.shape).astype(np.float32) * rng.choice([-1, 1], w.shape)
                       for w in model.get_weights()])


@pytest.mark.parametrize("seed", range(18))
def test_layer_normalization_against_tensorflow(tmp_path, seed):
    rng = np.random.default_rng(300 + seed)
    gen, suffix = FORMATS[seed % 3]
    K = keras_module(gen)
    shape = _random_shape(rng, c_max=300 if seed % 6 == 5 else 64)
    cfg = dict(axis=-1, epsilon=float(rng.choice([1e-3, 1e-5, 1e-6])),
               center=bool(rng.random() < 0.7), scale=bool(rng.random() < 0.7))
    model = single_layer_model(K, shape, K.layers.LayerNormalization(**cfg))
    _set_random_weights(model, rng)
    inputs = (rng.standard_normal((8,) + shape) * 2 + rng.uniform(-3, 3)).astype(np.float32)
    err, compiled, _ = compare(model, tmp_path / f"m{suffix}", keras=K, inputs=inputs)
    assert err <= RTOL, (gen, shape, cfg, err)
    assert [op.kind for op in compiled.graph.ops] == ["layer_norm"]


@pytest.mark.parametrize("seed", range(12))
def test_unit_normalization_against_tensorflow(tmp_path, seed):
    rng = np.random.default_rng(400 + seed)
    gen, suffix = FORMATS[seed % 3]
    K = keras_module(gen)
    shape = _random_shape(rng)
    model = single_layer_model(K, shape, K.layers.UnitNormalization())
    inputs = rng.standard_normal((8,) + shape).astype(np.float32)
    inputs[0] = 0.0
    err, _, _ = compare(model, tmp_path / f"m{suffix}", keras=K, inputs=inputs)
    assert err <= RTOL, (gen, shape, err)


@pytest.mark.parametrize("seed", range(18))
def test_softmax_any_axis_against_tensorflow(tmp_path, seed):
    rng = np.random.default_rng(500 + seed)
    gen, suffix = FORMATS[seed % 3]
    K = keras_module(gen)
    shape = _random_shape(rng, rank_max=3, c_max=20)
    rank = len(shape)
    axis = int(rng.integers(1, rank + 1))
    axis = axis - rank - 1 if rng.random() < 0.5 else axis           # -rank..-1 or 1..rank
    model = single_layer_model(K, shape, K.layers.Softmax(axis=axis))
    inputs = (rng.standard_normal((8,) + shape) * 3).astype(np.float32)
    err, _, _ = compare(model, tmp_path / f"m{suffix}", keras=K, inputs=inputs)
    assert err <= RTOL, (gen, shape, axis, err)


@pytest.mark.parametrize("layer, shape, match", [
    (lambda K: K.layers.LayerNormalization(axis=1), (4, 5), "axis"),
    (lambda K: K.layers.LayerNormalization(axis=[1, 2]), (4, 5), "axis"),
    (lambda K: K.layers.LayerNormalization(rms_scaling=True), (4, 5), "rms_scaling"),
    (lambda K: K.layers.UnitNormalization(axis=1), (4, 5), "axis"),
    (lambda K: K.layers.Softmax(axis=[1, 2]), (4, 5), "axis"),
])
def test_refused_options(tmp_path, layer, shape, match):
    K = keras_module("k3")
    model = single_layer_model(K, shape, layer(K))
    path = tmp_path / "m.keras"
    model.save(str(path))
    with pytest.raises(UnsupportedError, match=match):
        compile_file(path)
