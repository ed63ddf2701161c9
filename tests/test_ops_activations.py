"""Activations: the real machine code in the emulator against the NumPy
reference (dense sweeps with extremes, fused into conv / dense / affine /
pooling, float32 and float16 weights), and compiled Keras files against
TensorFlow (every activation as `activation=` and as a layer, the ReLU family
of layers with random options, hard_sigmoid of both Keras generations, a
whole MLP with every activation in .h5 of Keras 2 and 3 and .keras)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from keras_models import keras_module
from ml4f import reference
from ml4f.api import compile_file
from ml4f.backend import compile_graph
from ml4f.emulator import Machine
from ml4f.errors import UnsupportedError
from ml4f.graph.build import build_graph
from ml4f.graph.keras_config import KERAS_ACTIVATIONS
from ml4f.graph.ops import Activation, Conv2D, Dense, Elementwise, Pool2D
from ml4f.graph.ops.affine import Affine
from ml4f.model import load_model
from ml4f.validate import as_seen_by_code, error, single_op_graph
from test_differential_tf import seeded_weights
from tf_oracle import compare, keras_predict

RTOL = 1e-5
FLT_MIN = 1.1754944e-38

# every kind (with typical parameters) -> bound on the relative error of
# results in the normal range, as measured and documented in docs/activations.md
SWEEP_KINDS = {
    "relu": (Activation("relu"), 0.0),
    "relu6": (Activation("relu", max_value=6.0), 0.0),
    "relu_threshold": (Activation("relu", threshold=0.7, max_value=2.5), 0.0),
    "leaky_relu": (Activation("relu", alpha=0.2), 1e-7),
    "relu_all": (Activation("relu", alpha=0.15, max_value=3.0, threshold=0.4), 2e-7),
    "hard_sigmoid_k3": (Activation("hard_sigmoid", variant="keras3"), 2e-7),
    "hard_sigmoid_k2": (Activation("hard_sigmoid", variant="keras2"), 2e-7),
    "hard_silu": (Activation("hard_silu"), 3e-7),
    "hard_tanh": (Activation("hard_tanh"), 0.0),
    "sigmoid": (Activation("sigmoid"), 5e-7),
    "tanh": (Activation("tanh"), 5e-7),
    "exponential": (Activation("exponential"), 5e-7),
    "silu": (Activation("silu"), 5e-7),
    "softplus": (Activation("softplus"), 5e-7),
    "log_sigmoid": (Activation("log_sigmoid"), 5e-7),
    "softsign": (Activation("softsign"), 2e-7),
    "elu": (Activation("elu", alpha=1.0), 3e-7),
    "elu_alpha": (Activation("elu", alpha=0.37), 3e-7),
    "selu": (Activation("selu"), 3e-7),
    "gelu": (Activation("gelu", variant="erf"), 1e-6),
    "gelu_tanh": (Activation("gelu", variant="tanh"), 8e-7),
    "mish": (Activation("mish"), 5e-7),
}
# results below this magnitude may be flushed to zero (exp's range, see the docs)
TINY = 1e-35
# kinds whose error grows in a far tail: (results below this magnitude, bound there)
TAILS = {"gelu_tanh": (1e-2, 1.2e-5)}


def sweep_inputs() -> np.ndarray:
    mags = np.logspace(-45, np.log10(3.4e38), 6000)
    return np.concatenate([np.linspace(-30, 30, 12001), mags, -mags,
                           [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 88.72, 88.73,
                            -87.0, -103.0, 9.0, -9.0, 3.0, -3.0, 2.5, -2.5]]).astype(np.float32)


def run_elementwise(act: Activation, x: np.ndarray):
    op = Elementwise("act", "Activation", ["x"], "y", [x.shape], x.shape, activation=act)
    g = single_op_graph(op)
    _, gen, obj = compile_graph(g)
    with np.errstate(all="ignore"):
        return Machine(obj).run(x).output, reference.run_graph(g, x), gen


@pytest.mark.unit
@pytest.mark.parametrize("name", list(SWEEP_KINDS))
def test_activation_sweep(name):
    act, bound = SWEEP_KINDS[name]
    x = sweep_inputs()
    out, ref, _ = run_elementwise(act, x)
    o, r = out.astype(np.float64), ref.astype(np.float64)
    normal = np.isfinite(r) & (np.abs(r) >= TINY)
    rel = np.abs(o[normal] - r[normal]) / np.abs(r[normal])
    tail_below, tail_bound = TAILS.get(name, (0.0, bound))
    tail = np.abs(r[normal]) < tail_below
    assert rel[~tail].max() <= bound, (name, float(rel[~tail].max()), float(x[normal][~tail][rel[~tail].argmax()]))
    assert rel.max() <= tail_bound, (name, float(rel.max()))
    tiny = np.isfinite(r) & ~normal
    assert np.all(np.abs(o[tiny]) < TINY), (name, x[tiny][np.abs(o[tiny]) >= TINY][:5])
    special = ~np.isfinite(r)
    same = (o[special] == r[special]) | (np.isnan(o[special]) & np.isnan(r[special]))
    assert same.all(), (name, x[special][~same], o[special][~same], r[special][~same])
    assert error(out[np.isfinite(x)], ref[np.isfinite(x)]) <= RTOL


@pytest.mark.unit
def test_signed_zero_and_subnormal_inputs():
    x = np.array([0.0, -0.0, 1e-45, -1e-45, 1e-39, -1e-39, 1e-30, -1e-30], np.float32)
    for name, (act, _) in SWEEP_KINDS.items():
        out, ref, _ = run_elementwise(act, np.tile(x, 3))
        assert np.allclose(out, ref, rtol=1e-6, atol=3e-45), (name, out, ref)


@pytest.mark.unit
@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 13])
def test_lanes_and_remainders(n):
    """Every group size of the vectorised loops (lanes, remainder loop)."""
    x = np.random.default_rng(n).standard_normal(n).astype(np.float32) * 4
    for act in (Activation("gelu", variant="erf"), Activation("tanh"), Activation("relu", alpha=0.1),
                Activation("softplus"), Activation("relu", max_value=6.0)):
        out, ref, _ = run_elementwise(act, x)
        assert error(out, ref) <= 1e-6, (n, act.kind)


def test_gelu_tanh_matches_tensorflow():
    """approximate=True cannot be written to a model file; the reference and
    the code are checked against tf.nn.gelu directly."""
    import tensorflow as tf
    x = np.linspace(-9, 9, 4001).astype(np.float32)
    out, ref, _ = run_elementwise(Activation("gelu", variant="tanh"), x)
    tf_out = tf.nn.gelu(tf.constant(x), approximate=True).numpy()
    assert error(ref, tf_out) <= RTOL
    assert error(out, tf_out) <= RTOL


# ------------------------------------------------------------------ fused
FUSED = [Activation("relu", alpha=0.1), Activation("relu", max_value=6.0),
         Activation("relu", threshold=0.3, max_value=0.8), Activation("relu", alpha=0.25, threshold=0.2),
         Activation("relu", alpha=0.3, max_value=1.5, threshold=0.1),
         Activation("hard_sigmoid", variant="keras2"), Activation("hard_sigmoid", variant="keras3"),
         Activation("hard_tanh"), Activation("hard_silu")]


def run_op(op, float16=False, seed=0):
    g = single_op_graph(op)
    _, _, obj = compile_graph(g, float16=float16)
    m = Machine(obj)
    ref_g = as_seen_by_code(g, float16)
    rng = np.random.default_rng(seed)
    worst = 0.0
    for _ in range(2):
        x = (rng.standard_normal(g.input_shape) * 2).astype(np.float32)
        worst = max(worst, error(m.run(x).output, reference.run_graph(ref_g, x)))
    return worst


@pytest.mark.unit
@pytest.mark.parametrize("k", range(len(FUSED)))
def test_fused_into_conv_dense_affine(k):
    act = FUSED[k]
    rng = np.random.default_rng(k)
    cin, cout = int(rng.integers(1, 9)), int(rng.integers(1, 19))
    conv = Conv2D("conv", "Conv2D", ["x"], "y", [(6, 7, cin)], (6, 7, cout),
                  kernel=(rng.uniform(-1, 1, (3, 3, cin, cout)) / np.sqrt(9 * cin)).astype(np.float32),
                  bias=rng.uniform(-0.5, 0.5, cout).astype(np.float32), pads=(1, 1, 1, 1),
                  activation=act)
    n, units = int(rng.integers(1, 40)), int(rng.integers(1, 30))
    dense = Dense("dense", "Dense", ["x"], "y", [(n,)], (units,),
                  kernel=(rng.uniform(-1, 1, (n, units)) / np.sqrt(n)).astype(np.float32),
                  bias=rng.uniform(-0.5, 0.5, units).astype(np.float32), activation=act)
    c = int(rng.integers(1, 21))
    affine = Affine("bn", "BatchNormalization", ["x"], "y", [(3, 2, c)], (3, 2, c),
                    scale=rng.uniform(-2, 2, c).astype(np.float32),
                    offset=rng.uniform(-1, 1, c).astype(np.float32), activation=act)
    pool = Pool2D("pool", "MaxPooling2D", ["x"], "y", [(4, 4, 5)], (2, 2, 5), activation=act)
    for op in (conv, dense, affine, pool):
        for f16 in (False, True):
            assert run_op(op, f16, seed=k) <= RTOL, (op.kind, act, f16)


@pytest.mark.unit
def test_fused_store_with_and_without_free_s_registers():
    """The lane program of a fused activation runs in S registers the kernel
    declares free, or in registers saved on the stack around the store."""
    from ml4f.kernels.store import store_activated
    from ml4f.thumb import Assembler
    from ml4f.thumb.regs import S, r0, r1, r4
    act = Activation("relu", alpha=0.2, max_value=2.0, threshold=0.1)
    for sfree in (None, [S[i] for i in range(20, 32)]):
        asm = Assembler()
        store_activated(asm, [S[3], S[4], S[5]], r4, act, temps=(r0, r1), sfree=sfree)
        text = asm.assemble().listing()
        assert ("vpush" in text) == (sfree is None), text


# ------------------------------------------------------- against TensorFlow
@pytest.fixture(scope="module")
def K():
    return keras_module("k3")


K3_NAMES = ["linear", "relu", "relu6", "leaky_relu", "elu", "celu", "selu", "sigmoid",
            "hard_sigmoid", "hard_silu", "hard_swish", "hard_tanh", "tanh", "exponential",
            "softplus", "softsign", "log_sigmoid", "swish", "silu", "gelu", "mish", "softmax"]
K2_NAMES = ["linear", "relu", "elu", "selu", "sigmoid", "hard_sigmoid", "tanh", "exponential",
            "softplus", "softsign", "swish", "gelu", "mish", "softmax"]


@pytest.mark.parametrize("name", K3_NAMES)
def test_activation_argument_conv(K, tmp_path, name):
    model = K.Sequential([K.Input((5, 6, 3)),
                          K.layers.Conv2D(7, 3, padding="same", activation=name)])
    seeded_weights(model, 1)
    err, compiled, _ = compare(model, tmp_path / "m.h5", keras=K, n_inputs=3)
    assert err <= RTOL, (name, err)
    kinds = [op.kind for op in compiled.graph.ops]
    fused = name != "softmax" and KERAS_ACTIVATIONS[name].fusable
    assert len(kinds) == (1 if fused else 2), kinds


@pytest.mark.parametrize("name", K3_NAMES)
def test_activation_layer(K, tmp_path, name):
    model = K.Sequential([K.Input((4, 9)), K.layers.Activation(name)])
    x = np.random.default_rng(2).standard_normal((3, 4, 9)).astype(np.float32) * 4
    err, _, _ = compare(model, tmp_path / "m.keras", keras=K, inputs=x)
    assert err <= RTOL, (name, err)


def test_keras2_activations(tmp_path):
    """Every built-in activation of tf_keras, as `activation=` of Dense and as
    Activation layers, in .h5 and .keras."""
    K2 = keras_module("k2")
    layers = [K2.layers.InputLayer(input_shape=(12,))]
    for i, name in enumerate(K2_NAMES):
        layers += [K2.layers.Dense(12, activation=name),
                   K2.layers.Activation(K2_NAMES[(i + 5) % len(K2_NAMES)])]
    model = K2.Sequential(layers)
    seeded_weights(model, 3)
    for suffix in (".h5", ".keras"):
        err, _, _ = compare(model, tmp_path / f"m{suffix}", keras=K2)
        assert err <= RTOL, (suffix, err)


@pytest.mark.parametrize("gen", ["k3", "k2"])
def test_hard_sigmoid_per_generation(tmp_path, gen):
    """The same name, two functions: each file means what its Keras computes."""
    Kx = keras_module(gen)
    inp = Kx.layers.InputLayer(input_shape=(40,)) if gen == "k2" else Kx.Input((40,))
    model = Kx.Sequential([inp, Kx.layers.Activation("hard_sigmoid")])
    x = np.linspace(-4, 4, 40, dtype=np.float32)[None]
    err, compiled, got = compare(model, tmp_path / "m.h5", keras=Kx, inputs=x)
    assert err <= RTOL
    slope = 0.2 if gen == "k2" else 1 / 6
    assert abs(float(got[0][20]) - (0.5 + slope * float(x[0][20]))) < 1e-6


@pytest.mark.parametrize("seed", range(14))
def test_relu_layer_random_options(tmp_path, seed):
    rng = np.random.default_rng(seed)
    gen = "k2" if seed % 3 == 2 else "k3"
    Kx = keras_module(gen)
    opts = {}
    if rng.random() < 0.6:
        opts["max_value"] = float(rng.choice([0.0, 0.5, 1.0, 6.0, float(rng.uniform(0.1, 3))]))
    if rng.random() < 0.5:
        opts["negative_slope"] = float(rng.uniform(0, 1.5))
    if rng.random() < 0.5:
        opts["threshold"] = float(rng.choice([0.5, float(rng.uniform(0, 2))]))
    inp = Kx.layers.InputLayer(input_shape=(6, 5)) if gen == "k2" else Kx.Input((6, 5))
    after_dense = seed % 2 == 0
    layers = [inp] + ([Kx.layers.Dense(5)] if after_dense else []) + [Kx.layers.ReLU(**opts)]
    model = Kx.Sequential(layers)
    seeded_weights(model, seed)
    x = (rng.standard_normal((4, 6, 5)) * 2).astype(np.float32)
    suffix = ".h5" if seed % 4 < 2 else ".keras"
    err, compiled, _ = compare(model, tmp_path / f"m{suffix}", keras=Kx, inputs=x)
    assert err <= RTOL, (gen, opts, err)
    if after_dense:
        assert [op.kind for op in compiled.graph.ops] == ["dense"]


@pytest.mark.parametrize("seed", range(6))
def test_leaky_relu_elu_layers(tmp_path, seed):
    rng = np.random.default_rng(100 + seed)
    gen = "k2" if seed % 2 else "k3"
    Kx = keras_module(gen)
    slope, alpha = float(rng.uniform(0, 1)), float(rng.uniform(-1, 2))
    leaky = Kx.layers.LeakyReLU(alpha=slope) if gen == "k2" else Kx.layers.LeakyReLU(negative_slope=slope)
    inp = Kx.layers.InputLayer(input_shape=(4, 4, 3)) if gen == "k2" else Kx.Input((4, 4, 3))
    model = Kx.Sequential([inp, Kx.layers.Conv2D(6, 2), leaky, Kx.layers.Conv2D(5, 2),
                           Kx.layers.ELU(alpha=alpha)])
    seeded_weights(model, seed)
    err, compiled, _ = compare(model, tmp_path / ("m.h5" if seed < 3 else "m.keras"), keras=Kx)
    assert err <= RTOL, (gen, slope, alpha, err)
    assert [op.kind for op in compiled.graph.ops] == ["conv2d", "conv2d", "activation"]


def test_relu_family_fused_into_max_pool(K, tmp_path):
    """A clipped ReLU after a max pool of non-negative values: the pool's
    integer path applies it (its constants in borrowed registers)."""
    model = K.Sequential([K.Input((6, 6, 3)), K.layers.Conv2D(5, 3, activation="relu"),
                          K.layers.MaxPooling2D(2), K.layers.ReLU(max_value=0.6, threshold=0.05)])
    seeded_weights(model, 8)
    err, compiled, _ = compare(model, tmp_path / "m.h5", keras=K)
    assert err <= RTOL
    assert [op.kind for op in compiled.graph.ops] == ["conv2d", "pool2d"]


def test_thresholded_relu_keras2(tmp_path):
    K2 = keras_module("k2")
    model = K2.Sequential([K2.layers.InputLayer(input_shape=(30,)), K2.layers.ThresholdedReLU(0.4)])
    x = np.linspace(-2, 2, 30, dtype=np.float32)[None]
    err, _, _ = compare(model, tmp_path / "m.h5", keras=K2, inputs=x)
    assert err <= RTOL


@pytest.mark.parametrize("axis", [-1, 3, 1, 2, -3, [2]])
def test_softmax_layer(K, tmp_path, axis):
    model = K.Sequential([K.Input((3, 4, 7)), K.layers.Softmax(axis=axis)])
    x = (np.random.default_rng(len(str(axis))).standard_normal((3, 3, 4, 7)) * 6).astype(np.float32)
    err, _, _ = compare(model, tmp_path / "m.h5", keras=K, inputs=x)
    assert err <= RTOL


@pytest.mark.parametrize("axis", [[1, 3], 0])
def test_softmax_several_axes_or_the_batch_axis_refused(K, tmp_path, axis):
    model = K.Sequential([K.Input((3, 4, 7)), K.layers.Softmax(axis=axis)])
    path = tmp_path / "m.h5"
    model.save(str(path))
    with pytest.raises(UnsupportedError, match="axis"):
        compile_file(path)


def test_unknown_activation_refused(K, tmp_path):
    model = K.Sequential([K.Input((4,)), K.layers.Dense(3, activation="log_softmax")])
    path = tmp_path / "m.keras"
    model.save(str(path))
    with pytest.raises(UnsupportedError, match="log_softmax"):
        compile_file(path)


def test_hard_sigmoid_needs_the_generation(K, tmp_path):
    model = K.Sequential([K.Input((4,)), K.layers.Dense(3, activation="hard_sigmoid")])
    path = tmp_path / "m.h5"
    model.save(str(path))
    records = load_model(str(path))
    records = dataclasses.replace(records, keras_version="unknown")
    with pytest.raises(UnsupportedError, match="hard_sigmoid"):
        build_graph(records)


# ------------------------------------------------------------- whole model
def mlp_every_activation(K):
    """Each Dense with a different activation, plus activation layers."""
    k3 = K.__name__ != "tf_keras"
    names = K3_NAMES[1:-1] if k3 else K2_NAMES[1:-1]
    inp = K.Input((16,)) if k3 else K.layers.InputLayer(input_shape=(16,))
    layers = [inp]
    for i, name in enumerate(names):
        layers.append(K.layers.Dense(16 + i % 3, activation=name))
        if i % 4 == 1:
            layers.append(K.layers.Activation(names[-1 - i]))
    layers += [K.layers.LeakyReLU(), K.layers.Dense(12), K.layers.ReLU(max_value=2.0, threshold=0.1),
               K.layers.Dense(10), K.layers.ELU(0.5), K.layers.Dense(8, activation="softmax")]
    return K.Sequential(layers)


@pytest.mark.parametrize("fmt", ["k3_h5", "k3_keras", "k2_h5"])
def test_mlp_every_activation(tmp_path, fmt):
    gen, suffix = fmt.split("_")
    Kx = keras_module(gen)
    model = mlp_every_activation(Kx)
    seeded_weights(model, 5)
    x = np.random.default_rng(6).standard_normal((32, 16)).astype(np.float32)
    path = tmp_path / f"mlp.{suffix}"
    err, compiled, got = compare(model, path, keras=Kx, inputs=x)
    assert err <= RTOL, (fmt, err)
    expected = keras_predict(model, x)
    assert (got.argmax(-1) == expected.argmax(-1)).all()
    kinds = {getattr(op, "activation", Activation()).kind for op in compiled.graph.ops}
    assert {"sigmoid", "tanh", "gelu", "elu", "selu", "softplus", "relu"} <= kinds


@pytest.mark.slow
def test_mlp_every_activation_in_qemu(tmp_path):
    """The same object on a second CPU model (QEMU, Cortex-M4F), bit for bit."""
    from test_qemu import build_and_run
    K3 = keras_module("k3")
    model = mlp_every_activation(K3)
    seeded_weights(model, 5)
    path = tmp_path / "mlp.h5"
    model.save(str(path))
    x = np.random.default_rng(6).standard_normal((6, 16)).astype(np.float32)
    qemu_out, obj = build_and_run(tmp_path, path, "acts", x)
    machine = Machine(obj)
    unicorn_out = np.stack([machine.run(v).output for v in x])
    assert np.array_equal(qemu_out.view(np.uint32), unicorn_out.view(np.uint32))
