"""Merge layers (Add, Subtract, Multiply, Average, Maximum, Minimum,
Concatenate) and functional graphs (DAGs with one input and one output).

Kernel level: the real machine code of every merge and concatenation, run in
the emulator, against the NumPy reference over random shapes, modes, input
counts and axes.  Differential: random merge layers in functional models saved
by Keras 3 and Keras 2, and two whole networks (residual, concatenating)
compared with TensorFlow on 32 inputs in every file format."""
from __future__ import annotations

import numpy as np
import pytest

from keras_models import keras_module
from ml4f import reference
from ml4f.api import compile_file
from ml4f.backend import compile_graph
from ml4f.emulator import Machine
from ml4f.errors import UnsupportedError
from ml4f.graph.ops import LINEAR, RELU
from ml4f.graph.ops.merge import MERGE_MODES, Concat, Merge
from ml4f.validate import error, single_op_graph
from tf_oracle import compare, keras_predict

RTOL = 1e-5
FORMATS = [("k3", ".h5"), ("k3", ".keras"), ("k2", ".h5"), ("k2", ".keras")]


def run_op(op, seed=0, inputs=2):
    g = single_op_graph(op)
    _, gen, obj = compile_graph(g)
    m = Machine(obj)
    rng = np.random.default_rng(seed)
    worst, exact = 0.0, True
    for _ in range(inputs):
        x = rng.standard_normal(g.input_shape).astype(np.float32)
        out = m.run(x).output
        exp = reference.run_graph(g, x)
        worst = max(worst, error(out, exp))
        exact &= np.array_equal(out.reshape(exp.shape), exp)
    return worst, exact, gen


def random_shape(rng):
    rank = int(rng.integers(1, 4))
    return tuple(int(d) for d in rng.integers(1, 7, rank)) if rank > 1 else (int(rng.integers(1, 70)),)


# ------------------------------------------------------------------ kernels
@pytest.mark.unit
@pytest.mark.parametrize("seed", range(24))
def test_merge_kernel(seed):
    rng = np.random.default_rng(seed)
    mode = MERGE_MODES[seed % len(MERGE_MODES)]
    k = 2 if mode == "sub" else int(rng.integers(2, 6))
    shape = random_shape(rng)
    act = RELU if rng.random() < 0.5 else LINEAR
    op = Merge("m", "Merge", [f"t{i}" for i in range(k)], "y", [shape] * k, shape, mode=mode,
               activation=act)
    err, exact, _ = run_op(op, seed)
    assert err <= RTOL, (mode, k, shape, act.kind, err)
    if mode in ("max", "min") or k == 2 and mode != "avg":
        assert exact, (mode, k, shape)          # one IEEE operation per element: correctly rounded


@pytest.mark.unit
def test_merge_kernel_many_inputs():
    """More inputs than pointer registers: operands addressed by offsets."""
    for mode in ("add", "max", "avg"):
        op = Merge("m", "Merge", [f"t{i}" for i in range(11)], "y", [(3, 7)] * 11, (3, 7), mode=mode,
                   activation=RELU)
        err, _, gen = run_op(op)
        assert err <= RTOL
        assert "offsets" in gen.layers[-1].plan


@pytest.mark.unit
@pytest.mark.parametrize("seed", range(16))
def test_concat_kernel(seed):
    rng = np.random.default_rng(seed)
    rank = int(rng.integers(1, 5))
    base = [int(d) for d in rng.integers(1, 6, rank)]
    axis = int(rng.integers(0, rank))
    k = int(rng.integers(2, 5))
    if seed % 5 == 0:
        base[-1] = 300                      # long channel runs
    shapes = []
    for _ in range(k):
        s = list(base)
        s[axis] = int(rng.integers(1, 9))
        shapes.append(tuple(s))
    out = list(base)
    out[axis] = sum(s[axis] for s in shapes)
    op = Concat("c", "Concatenate", [f"t{i}" for i in range(k)], "y", shapes, tuple(out), axis=axis)
    err, exact, _ = run_op(op, seed)
    assert exact, (shapes, axis, err)


# ------------------------------------------------------------ vs TensorFlow
def _branches(K, x, shape, n, rng):
    """n distinct tensors of `shape` computed from x (x itself, Dense on the last axis)."""
    out = [x]
    while len(out) < n:
        out.append(K.layers.Dense(shape[-1], activation=str(rng.choice(["linear", "relu"])))(x))
    rng.shuffle(out)
    return out


MERGE_LAYERS = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"]


@pytest.mark.parametrize("seed", range(24))
def test_merge_layer_vs_tf(tmp_path, seed):
    rng = np.random.default_rng(seed)
    generation, suffix = FORMATS[seed % len(FORMATS)]
    K = keras_module(generation)
    name = MERGE_LAYERS[seed % len(MERGE_LAYERS)]
    n = 2 if name == "Subtract" else int(rng.integers(2, 5))
    shape = random_shape(rng)
    if seed % 7 == 0:
        shape = shape[:-1] + (260,)
    inp = K.Input(shape)
    y = getattr(K.layers, name)()(_branches(K, inp, shape, n, rng))
    act = str(rng.choice(["linear", "relu", "relu", "relu6", "hard_sigmoid"]))
    if act != "linear":
        y = K.layers.Activation(act)(y)                  # fused into the merge's store
    model = K.Model(inp, y)
    err, compiled, _ = compare(model, tmp_path / f"m{suffix}", seed=seed, keras=K, n_inputs=3)
    assert err <= RTOL, (generation, suffix, name, n, shape, act, err)
    # a merge op, or (two operands, one of them a linear Dense) the Dense's store
    merges = [op for op in compiled.graph.ops
              if op.kind == "merge" or getattr(op, "residual", "")]
    assert len(merges) == 1 and merges[0].activation.is_linear == (act == "linear")
    assert "activation" not in [op.kind for op in compiled.graph.ops]
    # the merge was also validated alone, its operands views of one input
    row = next(r for r in compiled.report["layers"] if r["name"] == merges[0].name)
    assert row["max_error"] is not None and row["max_error"] <= RTOL


def _parts_along(K, x, shape, axis, n, rng):
    """n tensors from x that differ in length along `axis` (0-based, batch excluded)."""
    L = K.layers
    parts = []
    for _ in range(n):
        if axis == len(shape) - 1:
            wide = rng.random() < 0.25                    # runs longer than 255 channels
            parts.append(L.Dense(int(rng.integers(256, 270) if wide else rng.integers(1, 6)))(x))
            continue
        a, b = int(rng.integers(0, 2)), int(rng.integers(0, 2))
        if len(shape) == 2:
            parts.append(L.Cropping1D((a, b))(x))
        else:
            crop = ((a, b), (0, 0)) if axis == 0 else ((0, 0), (a, b))
            parts.append(L.Cropping2D(crop)(x))
    return parts


@pytest.mark.parametrize("seed", range(16))
def test_concatenate_vs_tf(tmp_path, seed):
    rng = np.random.default_rng(seed)
    generation, suffix = FORMATS[seed % len(FORMATS)]
    K = keras_module(generation)
    rank = int(rng.integers(1, 4))
    shape = tuple(int(d) for d in rng.integers(3, 7, rank))
    axis = int(rng.integers(0, rank))
    keras_axis = axis + 1 if rng.random() < 0.5 else axis - rank     # positive or negative
    inp = K.Input(shape)
    parts = _parts_along(K, inp, shape, axis, int(rng.integers(2, 4)), rng)
    if seed % 4 == 0:
        parts.append(parts[0])                   # one tensor twice
    y = K.layers.Concatenate(axis=keras_axis)(parts)
    model = K.Model(inp, y)
    err, compiled, _ = compare(model, tmp_path / f"m{suffix}", seed=seed, keras=K, n_inputs=3)
    assert err <= RTOL, (generation, suffix, shape, keras_axis, err)
    assert "concat" in [op.kind for op in compiled.graph.ops]


def test_pure_data_movement_dag_is_exact(tmp_path):
    K = keras_module("k3")
    L = K.layers
    inp = K.Input((6, 5, 3))
    a = L.Cropping2D(((1, 0), (0, 0)))(inp)                  # a view
    b = L.Cropping2D(((0, 1), (1, 1)))(inp)
    b = L.ZeroPadding2D(((0, 0), (1, 1)))(b)
    c = L.Concatenate(axis=-1)([a, b, a])
    d = L.Maximum()([a, L.Permute((1, 2, 3))(b)])
    e = L.UpSampling2D((1, 2))(L.Concatenate()([a, b, d, b]))
    y = L.Concatenate(axis=2)([L.Concatenate()([c, d]), e])
    model = K.Model(inp, y)
    err, compiled, _ = compare(model, tmp_path / "m.keras", keras=K)
    assert err == 0.0


@pytest.mark.unit
@pytest.mark.parametrize("seed", range(8))
def test_merge_kernel_broadcast(seed):
    """Inputs repeating the output over leading axes, in any argument position."""
    rng = np.random.default_rng(seed)
    out = tuple(int(d) for d in rng.integers(2, 6, 3))
    if seed % 4 == 0:
        out = out[:2] + (40,)
    small = out[int(rng.integers(1, 3)):]
    small = (1,) * int(rng.integers(0, 3 - len(small) + 1)) + small
    k = int(rng.integers(2, 5)) if seed != 7 else 10
    shapes = [out] + [small if rng.random() < 0.5 else out for _ in range(k - 1)]
    rng.shuffle(shapes)
    mode = MERGE_MODES[seed % len(MERGE_MODES)] if k == 2 else "add"
    op = Merge("m", "Merge", [f"t{i}" for i in range(k)], "y", shapes, out, mode=mode,
               activation=RELU if seed % 2 else LINEAR)
    err, _, _ = run_op(op, seed)
    assert err <= RTOL, (shapes, mode, err)


@pytest.mark.parametrize("generation", ["k3", "k2"])
def test_squeeze_excitation_vs_tf(tmp_path, generation):
    """Multiply by per-channel weights (1, 1, C) and Add of a (C,) vector."""
    K = keras_module(generation)
    L = K.layers
    inp = K.Input((6, 5, 12))
    x = L.Conv2D(12, 3, padding="same", activation="relu")(inp)
    s = L.GlobalAveragePooling2D()(x)
    s = L.Dense(4, activation="relu")(s)
    s = L.Dense(12, activation="sigmoid")(s)
    x = L.Multiply()([x, L.Reshape((1, 1, 12))(s)])
    x = L.Add()([L.Dense(12)(L.Flatten()(inp)), x])                 # (12,) + (6, 5, 12)
    model = K.Model(inp, L.Conv2D(3, 1)(x))
    _scaled(model, 1)
    err, compiled, _ = compare(model, tmp_path / "m.h5", keras=K)
    assert err <= RTOL
    assert any(op.kind == "merge" and len(set(op.in_shapes)) > 1 for op in compiled.graph.ops)


@pytest.mark.parametrize("shapes", [((4, 4, 3), (4, 4, 1)), ((4, 4, 3), (4, 1, 3)),
                                    ((4, 4, 3), (1, 1, 3), (1, 4, 3))],
                         ids=["inner axis", "middle axis", "two periods"])
def test_broadcasting_refused(tmp_path, shapes):
    K = keras_module("k3")
    L = K.layers
    inp = K.Input(shapes[0])
    parts = [inp] + [L.Cropping2D(((0, 4 - s[0]), (0, 4 - s[1])))(L.Dense(s[2])(inp)) for s in shapes[1:]]
    path = tmp_path / "m.h5"
    K.Model(inp, L.Add()(parts)).save(str(path))
    with pytest.raises(UnsupportedError) as e:
        compile_file(path)
    assert e.value.layer and "\n" not in str(e.value)
    assert "broadcast" in str(e.value)


# ------------------------------------------------------------ whole models
def residual(K):
    L = K.layers
    inp = K.Input((12, 12, 3))
    x = L.Conv2D(8, 3, padding="same", activation="relu")(inp)
    for _ in range(2):                                   # identity blocks
        y = L.Conv2D(8, 3, padding="same")(x)
        y = L.Activation("relu")(y)
        y = L.Conv2D(8, 3, padding="same")(y)
        x = L.Activation("relu")(L.Add()([y, x]))
    y = L.Conv2D(16, 3, strides=2, padding="same", activation="relu")(x)     # projection block
    y = L.Conv2D(16, 3, padding="same")(y)
    s = L.Conv2D(16, 1, strides=2)(x)
    x = L.Activation("relu")(L.Add()([s, y]))
    x = L.MaxPooling2D(2)(x)
    x = L.Flatten()(x)
    return K.Model(inp, L.Dense(10, activation="softmax")(x), name="residual")


def concatenating(K):
    L = K.layers
    inp = K.Input((10, 10, 4))
    x = L.Conv2D(8, 3, padding="same", activation="relu")(inp)
    a = L.Conv2D(4, 1, activation="relu")(x)
    b = L.Conv2D(6, 1, activation="relu")(x)
    b = L.ZeroPadding2D(1)(b)
    b = L.Conv2D(6, 3, activation="relu")(b)
    c = L.MaxPooling2D(3, strides=1, padding="same")(x)
    c = L.Conv2D(3, 1, activation="relu")(c)
    x = L.Concatenate()([a, b, c])
    x = L.Conv2D(8, 3, strides=2)(x)
    x = L.UpSampling2D(2)(x)
    x = L.Concatenate(axis=1)([x, L.Cropping2D(((0, 0), (0, 0)))(x)])
    x = L.Flatten()(x)
    return K.Model(inp, L.Dense(6, activation="softmax")(x), name="concatenating")


def branching(K):
    """Branches concatenated along their outermost axis: the producers (a conv
    seen through Flatten, dense layers, a pooling) write into the output."""
    L = K.layers
    inp = K.Input((8, 8, 3))
    x = L.Conv2D(6, 3, activation="relu")(inp)
    a = L.Flatten()(L.Conv2D(4, 3, strides=2)(x))
    b = L.GlobalAveragePooling2D()(x)
    c = L.Dense(12, activation="tanh")(L.Flatten()(x))
    x = L.Concatenate()([a, b, c])
    x = L.Concatenate()([L.Dense(8, activation="relu")(x), L.Dense(5)(x)])
    return K.Model(inp, L.Dense(4, activation="softmax")(x), name="branching")


def inception(K):
    """Convolutions of one input concatenated along the channels: each writes
    its pixels a whole output pixel apart, into its channels of the output."""
    L = K.layers
    inp = K.Input((10, 9, 4))
    x = L.Conv2D(8, 3, padding="same", activation="relu")(inp)
    a = L.Conv2D(6, 1, activation="relu")(x)
    b = L.Conv2D(5, 3, padding="same")(x)
    c = L.Conv2D(3, 5, padding="same", activation="relu")(x)
    x = L.Concatenate()([a, b, c])
    x = L.Conv2D(8, 3, strides=2)(x)
    x = L.GlobalAveragePooling2D()(x)
    return K.Model(inp, L.Dense(4, activation="softmax")(x), name="inception")


def _scaled(model, seed):
    rng = np.random.default_rng(seed)
    model.set_weights([(rng.uniform(-1, 1, w.shape) * np.sqrt(3.0 / max(1, int(np.prod(w.shape[:-1])))))
                       .astype(np.float32) for w in model.get_weights()])


@pytest.mark.parametrize("build", [residual, concatenating, branching, inception],
                         ids=lambda f: f.__name__)
def test_whole_dag_models(tmp_path, build):
    for generation, suffix in [("k3", ".h5"), ("k3", ".keras"), ("k2", ".h5")]:
        K = keras_module(generation)
        model = build(K)
        _scaled(model, 3)
        path = tmp_path / f"{build.__name__}_{generation}{suffix}"
        model.save(str(path))
        x = np.random.default_rng(5).standard_normal((32,) + tuple(model.input_shape[1:])).astype(np.float32)
        compiled = compile_file(path)
        m = Machine(compiled.object)
        got = np.stack([m.run(xi).output for xi in x])
        expected = keras_predict(model, x)
        assert error(got, expected) <= RTOL, (build.__name__, generation, suffix)
        assert (got.argmax(-1) == expected.argmax(-1)).all()
        arena = compiled.report["arena"]
        assert arena["arena_bytes"] == arena["lower_bound"], arena["method"]
        cats = [L for L in compiled.report["layers"] if L["op"] == "concat"]
        if build is branching:
            assert len(cats) == 2 and all("no code" in L["kernel"] for L in cats), cats
        if build is inception:          # the three convolutions write into their channels
            assert "no code" in cats[0]["kernel"] and len(arena["channel_slices"]) == 3, cats


@pytest.mark.slow
def test_dag_models_in_qemu_match_unicorn(tmp_path):
    """The residual and concatenating networks, linked into firmware and run on
    QEMU's Cortex-M4F: bit for bit what the Unicorn emulator computes."""
    from test_qemu import build_and_run

    K = keras_module("k3")
    for build in (residual, concatenating, branching, inception):
        model = build(K)
        _scaled(model, 2)
        path = tmp_path / f"{build.__name__}.h5"
        model.save(str(path))
        x = np.random.default_rng(0).standard_normal((4,) + tuple(model.input_shape[1:])).astype(np.float32)
        qemu_out, obj = build_and_run(tmp_path / build.__name__, path, build.__name__, x)
        machine = Machine(obj)
        unicorn_out = np.stack([machine.run(v).output for v in x])
        assert np.array_equal(qemu_out.view(np.uint32), unicorn_out.view(np.uint32))
