"""Conv1DTranspose / Conv2DTranspose: the sub-pixel kernel against the
reference (unit: odd sizes, strides 1-3, kernels 1-5, output_padding, both
paddings, f32 and f16), compiled Keras layers against TensorFlow over random
configurations, the MACs run are exactly the useful ones, and the options
refused in one line."""
from __future__ import annotations

import numpy as np
import pytest

from keras_models import keras_module
from ml4f import reference
from ml4f.api import compile_file
from ml4f.backend import compile_graph
from ml4f.emulator import Machine
from ml4f.errors import UnsupportedError
from ml4f.graph.ops import Activation
from ml4f.graph.ops.conv import Conv2DTranspose
from ml4f.graph.shapes import deconv_out_and_pad, deconv_runs_back
from ml4f.kernels.conv_transpose import phases
from ml4f.validate import as_seen_by_code, error, single_op_graph
from test_differential_tf import seeded_weights, single_layer_model
from tf_oracle import compare

RTOL = 1e-5
F16_RTOL = 1e-5          # against TensorFlow run on the float16-rounded weights


def random_transpose_op(rng, rank: int) -> Conv2DTranspose:
    """A random op of a configuration Keras can run."""
    while True:
        op = _random_transpose_op(rng, rank)
        h, w, _ = op.in_shape
        oh, ow, _ = op.out_shape
        kh, kw = op.kernel.shape[:2]
        padding = "same" if any(op.crops) else "valid"
        if (deconv_runs_back(h, oh, kh, op.strides[0], padding)
                and deconv_runs_back(w, ow, kw, op.strides[1], padding)):
            return op


def _random_transpose_op(rng, rank: int) -> Conv2DTranspose:
    h = 1 if rank == 1 else int(rng.integers(1, 8))
    w = int(rng.integers(1, 9))
    kh = 1 if rank == 1 else int(rng.integers(1, 6))
    kw = int(rng.integers(1, 6))
    sh = 1 if rank == 1 else int(rng.integers(1, 4))
    sw = int(rng.integers(1, 4))
    padding = str(rng.choice(["valid", "same"]))
    opad = (int(rng.integers(0, sh)), int(rng.integers(0, sw))) if rng.random() < 0.4 else None
    cin, cout = (int(c) for c in rng.choice([1, 2, 3, 5, 8, 13, 17], 2))
    oh, ct = deconv_out_and_pad(h, kh, sh, padding, None if opad is None else opad[0])
    ow, cl = deconv_out_and_pad(w, kw, sw, padding, None if opad is None else opad[1])
    act = Activation(str(rng.choice(["linear", "relu"])))
    return Conv2DTranspose("t", "Conv2DTranspose", ["x"], "y", [(h, w, cin)], (oh, ow, cout),
                           kernel=rng.standard_normal((kh, kw, cin, cout)).astype(np.float32),
                           bias=rng.standard_normal(cout).astype(np.float32) if rng.random() < 0.8
                           else None, strides=(sh, sw), crops=(ct, cl), activation=act)


@pytest.mark.unit
@pytest.mark.parametrize("seed", range(24))
def test_kernel_matches_reference(seed):
    rng = np.random.default_rng(seed)
    op = random_transpose_op(rng, 1 if seed % 4 == 0 else 2)
    g = single_op_graph(op)
    f16 = seed % 3 == 2
    obj = compile_graph(g, float16=f16).object
    x = rng.standard_normal(op.in_shape).astype(np.float32)
    got = Machine(obj).run(x).output
    want = reference.run_graph(as_seen_by_code(g, f16), x)
    assert error(got, want) <= RTOL, (op.in_shape, op.kernel.shape, op.strides, op.crops,
                                      op.out_shape, f16)


@pytest.mark.unit
@pytest.mark.parametrize("seed", range(40))
def test_phases_cover_the_useful_macs_once(seed):
    """The phases' convolutions run exactly op.macs() products (no product by an
    inserted zero) and cover each output position at most once."""
    from ml4f.floors import effective_macs
    from ml4f.kernels.conv_transpose import phase_conv
    op = random_transpose_op(np.random.default_rng(seed), 2)
    oh, ow, _ = op.out_shape
    hit = np.zeros((oh, ow), int)
    macs = 0
    for ph in phases(op):
        if ph.covered:
            macs += effective_macs(phase_conv(op, ph))
            hit[ph.y.first::op.strides[0], ph.x.first::op.strides[1]][:ph.y.count, :ph.x.count] += 1
    assert macs == op.macs()
    assert hit.max() <= 1


def transpose_config(rng, rank: int) -> tuple[tuple, dict]:
    k = tuple(int(rng.integers(1, 6)) for _ in range(rank))
    strides = tuple(int(rng.integers(1, 4)) for _ in range(rank))
    cfg = dict(filters=int(rng.choice([1, 3, 4, 8, 16, 33, 64])), kernel_size=k, strides=strides,
               padding=str(rng.choice(["valid", "same"])),
               activation=str(rng.choice(["linear", "relu", "tanh"])),
               use_bias=bool(rng.random() < 0.8))
    c = int(rng.choice([1, 2, 3, 7, 16, 32, 64]))
    spatial = tuple(int(rng.integers(1, 12 if rank == 2 else 30)) for _ in range(rank))
    if rng.random() < 0.4:
        cfg["output_padding"] = tuple(int(rng.integers(0, s)) for s in strides)
        sizes = [deconv_out_and_pad(n, kk, s, cfg["padding"], p)[0]
                 for n, kk, s, p in zip(spatial, k, strides, cfg["output_padding"])]
        if not all(deconv_runs_back(n, o, kk, s, cfg["padding"])
                   for n, o, kk, s in zip(spatial, sizes, k, strides)):
            del cfg["output_padding"]          # Keras cannot run it (see test_refused_options)
    if c * cfg["filters"] > 1000:
        spatial = tuple(min(d, 5) for d in spatial)
    return spatial + (c,), cfg


@pytest.fixture(scope="module")
def K():
    return keras_module("k3")


def _against_tensorflow(K, tmp_path, seed, rank, suffix):
    rng = np.random.default_rng((1000 if rank == 2 else 2000) + seed)
    shape, cfg = transpose_config(rng, rank)
    layer = (K.layers.Conv2DTranspose if rank == 2 else K.layers.Conv1DTranspose)(**cfg)
    model = single_layer_model(K, shape, layer)
    seeded_weights(model, seed)
    f16 = seed % 4 == 3
    err, compiled, _ = compare(model, tmp_path / f"m{suffix}", seed=seed, keras=K, float16=f16,
                               n_inputs=3)
    assert err <= (F16_RTOL if f16 else RTOL), (shape, cfg, f16, err)
    assert compiled.graph.ops[0].kind == "conv_transpose"


@pytest.mark.parametrize("seed", range(30))
def test_conv2d_transpose_against_tensorflow(K, tmp_path, seed):
    _against_tensorflow(K, tmp_path, seed, 2, ".keras")


@pytest.mark.parametrize("seed", range(16))
def test_conv1d_transpose_against_tensorflow(K, tmp_path, seed):
    _against_tensorflow(K, tmp_path, seed, 1, ".h5")


@pytest.mark.parametrize("gen, suffix", [("k2", ".h5"), ("k3", ".h5")])
def test_both_generations(tmp_path, gen, suffix):
    K = keras_module(gen)
    model = single_layer_model(K, (5, 6, 3), K.layers.Conv2DTranspose(
        7, (3, 4), strides=(2, 3), padding="same", output_padding=(1, 1), activation="relu"))
    seeded_weights(model, 7)
    err, _, _ = compare(model, tmp_path / f"m{suffix}", keras=K)
    assert err <= RTOL


@pytest.mark.parametrize("layer, match", [
    (lambda K: K.layers.Conv2DTranspose(4, 3, dilation_rate=2), "dilation_rate"),
    (lambda K: K.layers.Conv1DTranspose(4, 3, dilation_rate=2), "dilation_rate"),
    (lambda K: K.layers.Conv2DTranspose(4, 3, data_format="channels_first"), "data_format"),
])
def test_refused_options(K, tmp_path, layer, match):
    """One line naming the file, the layer and the option."""
    shape = (9, 3) if "1D" in type(layer(K)).__name__ else (9, 9, 3)
    model = single_layer_model(K, shape, layer(K))
    path = tmp_path / "m.keras"
    model.save(str(path))
    with pytest.raises(UnsupportedError, match=match) as info:
        compile_file(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)
    assert "Transpose" in str(info.value)


@pytest.mark.parametrize("gen, suffix", [("k3", ".keras"), ("k2", ".h5")])
def test_batch_norm_and_relu_fold_into_it(tmp_path, gen, suffix):
    """BatchNormalization folds into the kernel and bias, ReLU into the store,
    also where outputs see no input (stride 3 over a 2-tap kernel: the bias fill)."""
    from test_whole_models_ops import realistic_weights
    K = keras_module(gen)
    model = K.Sequential([K.Input((5, 4, 6)), K.layers.Conv2DTranspose(9, 2, strides=3),
                          K.layers.BatchNormalization(), K.layers.ReLU()])
    realistic_weights(model, 5)
    err, compiled, _ = compare(model, tmp_path / f"m{suffix}", keras=K)
    assert err <= RTOL
    assert [op.kind for op in compiled.graph.ops] == ["conv_transpose"]
    assert compiled.report["layers"][0]["kernel"].endswith("bias_fill=True")
