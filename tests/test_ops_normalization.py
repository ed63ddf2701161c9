"""BatchNormalization, Rescaling and Normalization: the per-channel affine
kernel in the emulator against the reference (ranks 2/3/4, channel counts
around the chunk size, fused activations), folding into convolution / dense /
depthwise layers (exactness of the pass and the compiled result), and
compiled Keras files against TensorFlow (random configurations, folded and
standalone, Keras 3 and Keras 2, .h5 and .keras)."""
from __future__ import annotations

import numpy as np
import pytest

from keras_models import keras_module
from ml4f import reference
from ml4f.api import compile_file
from ml4f.backend import compile_graph
from ml4f.emulator import Machine
from ml4f.errors import UnsupportedError
from ml4f.graph.fold import fold_affine
from ml4f.graph.ops import LINEAR, Activation, Conv2D, Dense, DepthwiseConv2D, Graph
from ml4f.graph.ops.affine import Affine
from ml4f.validate import as_seen_by_code, error, single_op_graph
from test_differential_tf import seeded_weights
from tf_oracle import compare

RTOL = 1e-5


# ------------------------------------------------------------- kernel level
def affine_op(rng, shape, act=LINEAR):
    c = shape[-1]
    return Affine("bn", "BatchNormalization", ["x"], "y", [shape], shape,
                  scale=rng.uniform(-2, 2, c).astype(np.float32),
                  offset=rng.uniform(-1, 1, c).astype(np.float32), activation=act)


def run_graph(g, float16=False, seed=0, inputs=2):
    _, gen, obj = compile_graph(g, float16=float16)
    m = Machine(obj)
    ref_g = as_seen_by_code(g, float16)
    rng = np.random.default_rng(seed)
    worst = 0.0
    for _ in range(inputs):
        x = rng.standard_normal(g.input_shape).astype(np.float32)
        worst = max(worst, error(m.run(x).output, reference.run_graph(ref_g, x)))
    return worst, gen


SHAPES = [(1,), (5,), (8,), (9,), (33,), (4, 3), (7, 16), (6, 17), (3, 4, 1), (2, 3, 8),
          (5, 4, 12), (3, 3, 40), (2, 2, 100)]


@pytest.mark.unit
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_affine_kernel(shape):
    rng = np.random.default_rng(len(shape) * 100 + shape[-1])
    for act in (LINEAR, Activation("relu"), Activation("relu", alpha=0.1, max_value=2.0)):
        err, _ = run_graph(single_op_graph(affine_op(rng, shape, act)))
        assert err <= RTOL, (shape, act, err)


@pytest.mark.unit
@pytest.mark.parametrize("center", [True, False])
@pytest.mark.parametrize("scale", [True, False])
@pytest.mark.parametrize("shape", [(6,), (5, 7), (3, 4, 10)], ids=str)
def test_batchnorm_converter_standalone(shape, center, scale):
    """BatchNormalization records (the weight arrays each center/scale combination
    stores) -> affine op -> machine code, against the BN formula in float64."""
    from ml4f.graph.registry import converters
    from ml4f.model.records import Layer
    rng = np.random.default_rng(len(shape) + 2 * center + 4 * scale)
    c = shape[-1]
    gamma, beta = rng.uniform(-2, 2, c), rng.uniform(-1, 1, c)
    mean, var = rng.uniform(-1, 1, c), rng.uniform(0.1, 3, c)
    weights = ([gamma] if scale else []) + ([beta] if center else []) + [mean, var]
    config = {"axis": -1, "epsilon": 0.01, "center": center, "scale": scale}
    layer = Layer("bn", "BatchNormalization", config, [w.astype(np.float32) for w in weights])
    g = single_op_graph(converters()["BatchNormalization"].convert(layer, shape, "x", "y").ops[0])
    _, _, obj = compile_graph(g)
    x = rng.standard_normal(shape).astype(np.float32)
    f32 = [w.astype(np.float32).astype(np.float64) for w in (gamma, beta, mean, var)]
    y = (x - f32[2]) / np.sqrt(f32[3] + 0.01) * (f32[0] if scale else 1) + (f32[1] if center else 0)
    assert error(Machine(obj).run(x).output, y) <= RTOL


@pytest.mark.unit
def test_affine_extremes_exact():
    """scale 1 / offset 0 passes every value through unchanged, incl. inf and NaN."""
    x = np.array([np.inf, -np.inf, np.nan, -0.0, 0.0, 1e-45, 3.4e38, -3.4e38, 1.5], np.float32)
    op = Affine("r", "Rescaling", ["x"], "y", [(9,)], (9,), scale=np.ones(9, np.float32),
                offset=np.zeros(9, np.float32))
    _, _, obj = compile_graph(single_op_graph(op))
    out = Machine(obj).run(x).output
    assert np.array_equal(out, x, equal_nan=True)


def _producer(kind, rng, linear=True):
    act = LINEAR if linear else Activation("relu")
    if kind == "dense":
        n, u = int(rng.integers(1, 30)), int(rng.integers(1, 20))
        return Dense("fc", "Dense", ["x"], "t", [(n,)], (u,),
                     kernel=(rng.uniform(-1, 1, (n, u)) / np.sqrt(n)).astype(np.float32),
                     bias=rng.uniform(-1, 1, u).astype(np.float32) if rng.random() < 0.5 else None,
                     activation=act)
    cin = int(rng.integers(1, 7))
    if kind == "conv":
        cout = int(rng.integers(1, 13))
        return Conv2D("conv", "Conv2D", ["x"], "t", [(5, 6, cin)], (3, 4, cout),
                      kernel=(rng.uniform(-1, 1, (3, 3, cin, cout)) / np.sqrt(9 * cin)).astype(np.float32),
                      bias=None if rng.random() < 0.5 else rng.uniform(-1, 1, cout).astype(np.float32),
                      activation=act)
    m = int(rng.integers(1, 3))
    return DepthwiseConv2D("dw", "DepthwiseConv2D", ["x"], "t", [(5, 6, cin)], (3, 4, cin * m),
                           kernel=(rng.uniform(-1, 1, (3, 3, cin, m)) / 3).astype(np.float32),
                           bias=None if rng.random() < 0.5 else rng.uniform(-1, 1, cin * m).astype(np.float32),
                           activation=act)


def _chain(prod, rng, act=LINEAR):
    c = prod.out_shape[-1]
    bn = Affine("bn", "BatchNormalization", ["t"], "y", [prod.out_shape], prod.out_shape,
                scale=rng.uniform(-2, 2, c).astype(np.float32),
                offset=rng.uniform(-1, 1, c).astype(np.float32), activation=act)
    return Graph(input="x", output="y", input_shape=prod.in_shape, output_shape=bn.out_shape,
                 ops=[prod, bn], shapes={"x": prod.in_shape, "t": prod.out_shape, "y": bn.out_shape})


@pytest.mark.unit
@pytest.mark.parametrize("kind", ["dense", "conv", "depthwise"])
@pytest.mark.parametrize("seed", range(4))
def test_fold_into_producer(kind, seed):
    """Folding keeps the function (reference before and after, float64) and the
    compiled folded graph matches it, float32 and float16 weights."""
    rng = np.random.default_rng(seed)
    g = _chain(_producer(kind, rng), rng)
    x = rng.standard_normal(g.input_shape).astype(np.float32)
    before = reference.run_graph(g, x)
    fold_affine(g)
    assert [op.kind for op in g.ops] == [{"dense": "dense", "conv": "conv2d", "depthwise": "depthwise"}[kind]]
    assert g.ops[0].output == "y" and g.ops[0].bias is not None
    assert error(reference.run_graph(g, x), before) <= 1e-6
    for f16 in (False, True):
        err, _ = run_graph(g, float16=f16, seed=seed)
        assert err <= RTOL, (kind, f16, err)


@pytest.mark.unit
def test_not_folded_after_activation_or_shared_output():
    rng = np.random.default_rng(1)
    g = _chain(_producer("conv", rng, linear=False), rng)
    fold_affine(g)
    assert [op.kind for op in g.ops] == ["conv2d", "affine"]
    g = _chain(_producer("dense", rng), rng)
    g.output = "t"                              # the producer's output is needed as it is
    fold_affine(g)
    assert [op.kind for op in g.ops] == ["dense", "affine"]


# ------------------------------------------------------- against TensorFlow
def bn_weights(model, seed):
    """Weights scaled by fan-in; BN statistics and scales of realistic size."""
    seeded_weights(model, seed)
    rng = np.random.default_rng(seed + 1000)
    for layer in model.layers:
        if type(layer).__name__ != "BatchNormalization":
            continue
        ws = []
        for w in layer.weights:
            n = w.path if hasattr(w, "path") else w.name
            shape = tuple(w.shape)
            if "variance" in n:
                ws.append(rng.uniform(0.2, 3.0, shape))
            elif "gamma" in n:
                ws.append(rng.uniform(0.5, 2.0, shape) * rng.choice([-1, 1], shape))
            else:
                ws.append(rng.uniform(-1, 1, shape))
        layer.set_weights([w.astype(np.float32) for w in ws])


FORMATS = [("k3", ".h5"), ("k3", ".keras"), ("k2", ".h5"), ("k2", ".keras")]


def _input(Kx, gen, shape):
    return Kx.layers.InputLayer(input_shape=shape) if gen == "k2" else Kx.Input(shape)


def bn_model(Kx, gen, rng):
    """A random BatchNormalization config in a random position."""
    rank = int(rng.integers(2, 5))                       # with the batch axis
    bn = Kx.layers.BatchNormalization(center=bool(rng.random() < 0.7), scale=bool(rng.random() < 0.7),
                                      epsilon=float(rng.choice([1e-3, 1e-5, 0.1])))
    where = str(rng.choice(["folded", "folded", "input", "after_relu"]))
    c = int(rng.choice([1, 3, 8, 11]))
    if rank == 2:
        shape, prod = (7,), Kx.layers.Dense(c, use_bias=bool(rng.random() < 0.5),
                                            activation="relu" if where == "after_relu" else None)
    elif rank == 3:
        shape, prod = (9, 4), Kx.layers.Conv1D(c, 3, use_bias=bool(rng.random() < 0.5),
                                               activation="relu" if where == "after_relu" else None)
    else:
        act = "relu" if where == "after_relu" else None
        prod = (Kx.layers.DepthwiseConv2D(3, depth_multiplier=2, activation=act) if rng.random() < 0.3
                else Kx.layers.Conv2D(c, 3, activation=act, padding="same"))
        shape = (6, 5, 3)
    layers = [_input(Kx, gen, shape)] + ([bn] if where == "input" else [prod, bn])
    if rng.random() < 0.5:
        layers.append(Kx.layers.Activation(str(rng.choice(["relu", "tanh", "relu6" if gen == "k3" else "elu"]))))
    return Kx.Sequential(layers), where


@pytest.mark.parametrize("seed", range(24))
def test_batchnorm_random(tmp_path, seed):
    rng = np.random.default_rng(seed)
    gen, suffix = FORMATS[seed % 4]
    Kx = keras_module(gen)
    model, where = bn_model(Kx, gen, rng)
    bn_weights(model, seed)
    err, compiled, _ = compare(model, tmp_path / f"m{suffix}", keras=Kx, seed=seed, n_inputs=4)
    assert err <= RTOL, (gen, suffix, where, model.get_config()["layers"], err)
    kinds = [op.kind for op in compiled.graph.ops]
    assert ("affine" in kinds) == (where != "folded"), (where, kinds)


PRODUCERS = {
    "Dense": (lambda L: L.Dense(6), (5,)),
    "Conv1D": (lambda L: L.Conv1D(5, 3, padding="same"), (8, 3)),
    "Conv2D": (lambda L: L.Conv2D(4, 3, use_bias=False), (6, 5, 3)),
    "DepthwiseConv2D": (lambda L: L.DepthwiseConv2D(3, depth_multiplier=2), (6, 5, 3)),
}


@pytest.mark.parametrize("gen", ["k3", "k2"])
@pytest.mark.parametrize("producer", list(PRODUCERS))
def test_batchnorm_folded(tmp_path, gen, producer):
    Kx = keras_module(gen)
    make, shape = PRODUCERS[producer]
    model = Kx.Sequential([_input(Kx, gen, shape), make(Kx.layers),
                           Kx.layers.BatchNormalization(center=gen == "k3"), Kx.layers.ReLU()])
    bn_weights(model, 4)
    err, compiled, _ = compare(model, tmp_path / ("m.h5" if gen == "k2" else "m.keras"), keras=Kx)
    assert err <= RTOL, (gen, producer, err)
    (op,) = compiled.graph.ops                      # producer + BN + ReLU in one kernel
    assert op.activation.kind == "relu"


def test_batchnorm_dag_output_used_twice(tmp_path):
    """A convolution whose output also feeds an Add is not folded into."""
    K = keras_module("k3")
    inp = K.Input((6, 6, 4))
    conv = K.layers.Conv2D(4, 3, padding="same")(inp)
    bn = K.layers.BatchNormalization()(conv)
    out = K.layers.Add()([conv, bn])
    model = K.Model(inp, out)
    bn_weights(model, 3)
    err, compiled, _ = compare(model, tmp_path / "m.keras", keras=K)
    assert err <= RTOL
    assert "affine" in [op.kind for op in compiled.graph.ops]


def test_batchnorm_float16_standalone(tmp_path):
    K = keras_module("k3")
    model = K.Sequential([K.Input((5, 5, 6)), K.layers.Conv2D(6, 3, activation="relu"),
                          K.layers.BatchNormalization(), K.layers.Flatten(), K.layers.Dense(4)])
    bn_weights(model, 9)
    err, _, _ = compare(model, tmp_path / "m.h5", keras=K, float16=True)
    assert err <= RTOL


@pytest.mark.parametrize("axis", [1, 2])
def test_batchnorm_other_axis_refused(tmp_path, axis):
    K = keras_module("k3")
    model = K.Sequential([K.Input((4, 5, 6)), K.layers.BatchNormalization(axis=axis)])
    path = tmp_path / "m.h5"
    model.save(str(path))
    with pytest.raises(UnsupportedError, match="axis"):
        compile_file(path)


@pytest.mark.parametrize("seed", range(6))
def test_rescaling(tmp_path, seed):
    rng = np.random.default_rng(seed)
    gen, suffix = FORMATS[seed % 4]
    Kx = keras_module(gen)
    c = 3
    per_channel = seed % 2 == 1 and gen == "k3"
    scale = [float(v) for v in rng.uniform(-2, 2, c)] if per_channel else float(rng.uniform(-2, 2))
    offset = [float(v) for v in rng.uniform(-1, 1, c)] if per_channel else float(rng.uniform(-1, 1))
    model = Kx.Sequential([_input(Kx, gen, (4, 4, c)), Kx.layers.Rescaling(scale, offset),
                           Kx.layers.Conv2D(4, 3, activation="relu")])
    seeded_weights(model, seed)
    err, compiled, _ = compare(model, tmp_path / f"m{suffix}", keras=Kx, seed=seed)
    assert err <= RTOL, (gen, scale, offset, err)
    assert [op.kind for op in compiled.graph.ops] == ["affine", "conv2d"]


def normalization_layer(Kx, rng, c, axis, invert, adapted):
    if adapted:
        norm = Kx.layers.Normalization(axis=axis, invert=invert)
        norm.adapt((rng.standard_normal((50, 3, c)) * rng.uniform(0.5, 3, c)
                    + rng.uniform(-2, 2, c)).astype(np.float32))
        return norm
    mean = rng.uniform(-2, 2, c if axis else ())
    var = rng.uniform(0.1, 4, c if axis else ())
    return Kx.layers.Normalization(axis=axis, mean=mean.tolist() if axis else float(mean),
                                   variance=var.tolist() if axis else float(var), invert=invert)


@pytest.mark.parametrize("seed", range(8))
def test_normalization(tmp_path, seed):
    """mean and variance given in the config (an adapted layer stores an int64
    count the model reader refuses; see test_normalization_adapted)."""
    rng = np.random.default_rng(seed)
    gen, suffix = FORMATS[seed % 4]
    Kx = keras_module(gen)
    c, invert, axis = 5, seed % 3 == 2, (None if seed % 4 == 3 else -1)
    norm = normalization_layer(Kx, rng, c, axis, invert, adapted=False)
    model = Kx.Sequential([_input(Kx, gen, (3, c)), norm, Kx.layers.Dense(4)])
    seeded_weights(model, seed)
    err, compiled, _ = compare(model, tmp_path / f"m{suffix}", keras=Kx, seed=seed)
    assert err <= RTOL, (gen, suffix, axis, invert, err)


@pytest.mark.parametrize("gen", ["k3", "k2"])
@pytest.mark.parametrize("invert", [False, True])
def test_normalization_adapted(gen, invert):
    """An adapted layer's statistics (mean, variance, count weights) through
    the converter, against the layer in memory."""
    from ml4f.graph.registry import converters
    from ml4f.model.records import Layer
    Kx = keras_module(gen)
    rng = np.random.default_rng(7)
    norm = normalization_layer(Kx, rng, 6, -1, invert, adapted=True)
    weights = [np.asarray(w, np.float32) for w in norm.get_weights()]
    layer = Layer("norm", "Normalization", norm.get_config(), weights)
    res = converters()["Normalization"].convert(layer, (3, 6), "x", "y")
    g = single_op_graph(res.ops[0])
    x = (rng.standard_normal((3, 6)) * 3).astype(np.float32)
    expected = np.asarray(norm(x[None]))[0]
    assert error(reference.run_graph(g, x), expected) <= RTOL
    _, _, obj = compile_graph(g)
    assert error(Machine(obj).run(x).output, expected) <= RTOL


@pytest.mark.parametrize("generation,suffix", [("k3", ".h5"), ("k3", ".keras"), ("k2", ".h5")])
def test_adapted_normalization_from_files(tmp_path, generation, suffix):
    """An adapted Normalization stores its sample count as int64 beside the float
    statistics; the reader takes it, and the model matches Keras."""
    from tf_oracle import compare
    K = keras_module(generation)
    rng = np.random.default_rng(2)
    data = (rng.standard_normal((200, 6)) * 3 + 2).astype(np.float32)
    norm = K.layers.Normalization()
    norm.adapt(data)
    first = K.layers.InputLayer(input_shape=(6,)) if generation == "k2" else K.Input((6,))
    model = K.Sequential([first, norm, K.layers.Dense(4, activation="relu"), K.layers.Dense(3)])
    err, compiled, _ = compare(model, tmp_path / f"m{suffix}", keras=K, inputs=data[:8])
    assert err <= 1e-5
    assert compiled.graph.ops[0].kind == "affine"
