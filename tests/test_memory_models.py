"""Arena savings against TensorFlow: random chains of convolutions, depthwise
convolutions, pooling and residual adds compiled with the least arena
(streamed regions, at several strip heights, and outputs over their inputs)
and op by op, in float32 and float16; the MLPerf Tiny architectures whose
arenas streaming brings under a Cortex-M4F's RAM, in Keras 2 .h5, Keras 3 .h5
and .keras, against Keras on 8 inputs."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from keras_models import keras_module
from ml4f.backend import compile_graph
from ml4f.emulator import Machine
from ml4f.graph.ops.stream import Stream
from ml4f.validate import error
from test_differential_tf import seeded_weights
from tf_oracle import compare, keras_predict

RTOL = 1e-5
F16_RTOL = 1e-5           # the reference runs on the rounded weights: float16 adds no error here
REPO = __import__("pathlib").Path(__file__).resolve().parents[1]


def random_chain(K, rng):
    """A Keras model: stem conv, then blocks of convs / depthwise / pooling with
    identity residual adds, odd sizes, strides 1-2, same/valid, dilation."""
    L = K.layers
    h, w = int(rng.integers(9, 26)), int(rng.integers(5, 18))
    inp = K.Input((h, w, int(rng.integers(1, 5))))
    x = L.Conv2D(int(rng.integers(3, 9)), 3, padding="same", activation="relu")(inp)
    for _ in range(int(rng.integers(2, 5))):
        r = rng.random()
        c = x.shape[-1]
        if r < 0.3:                                    # residual block
            y = L.Conv2D(c, 3, padding="same", activation="relu")(x)
            y = L.Conv2D(c, int(rng.choice([1, 3])), padding="same")(y)
            x = L.Activation("relu")(L.Add()([x, y]))
        elif r < 0.5:
            x = L.DepthwiseConv2D(3, strides=int(rng.integers(1, 3)), padding="same",
                                  activation="relu")(x)
        elif r < 0.6 and min(x.shape[1:3]) >= 4:
            x = getattr(L, str(rng.choice(["MaxPooling2D", "AveragePooling2D"])))(2)(x)
        else:
            dil = int(rng.integers(1, 3)) if rng.random() < 0.3 else 1
            stride = 1 if dil > 1 else int(rng.integers(1, 3))
            padding = "same" if min(x.shape[1:3]) < 3 * dil else str(rng.choice(["same", "valid"]))
            x = L.Conv2D(int(rng.integers(2, 12)), int(rng.choice([1, 3])), strides=stride,
                         dilation_rate=dil, padding=padding, activation="relu")(x)
    x = L.GlobalAveragePooling2D()(x)
    return K.Model(inp, L.Dense(3)(x))


def _streams(compiled):
    return [op for op in compiled.graph.ops if isinstance(op, Stream)]


@pytest.mark.parametrize("seed", range(10))
def test_random_chains_streamed_and_op_by_op_match_tensorflow(tmp_path, seed):
    rng = np.random.default_rng(seed)
    gen, suffix = [("k3", ".h5"), ("k3", ".keras"), ("k2", ".h5")][seed % 3]
    K = keras_module(gen)
    model = random_chain(K, rng)
    seeded_weights(model, seed)
    x = rng.standard_normal((8,) + tuple(model.input_shape[1:])).astype(np.float32)
    for goal in ("small", "fast"):
        err, compiled, _ = compare(model, tmp_path / f"m{suffix}", keras=K, inputs=x,
                                   arena_goal=goal)
        assert err <= RTOL, (seed, goal, err)
        if goal == "fast":
            assert not _streams(compiled)
        # every arena read of the object hits bytes written in the run (or the input)
        Machine(compiled.object, check_reads=True).run(x[0])
    # the least arena, its regions at other strip heights
    err16, compiled16, _ = compare(model, tmp_path / f"m{suffix}", keras=K, inputs=x,
                                   arena_goal="small", float16=True)
    assert err16 <= F16_RTOL, (seed, err16)
    expected = keras_predict(model, x)
    for strip in (2, 3):
        graph = dataclasses.replace(compiled.graph, ops=[
            dataclasses.replace(op, strip=strip) if isinstance(op, Stream) else op
            for op in compiled.graph.ops])
        machine = Machine(compile_graph(graph).object)
        got = np.stack([machine.run(v).output for v in x])
        assert error(got.reshape(expected.shape), expected) <= RTOL, (seed, strip)


def test_random_chains_exercise_streaming_and_overlaps(tmp_path):
    """Across the seeds above, regions are streamed (poolings among their ops) and
    outputs written over inputs."""
    streamed = overlapping = pooled = 0
    from ml4f.api import compile_file
    from keras_models import save
    for seed in range(10):
        rng = np.random.default_rng(seed)
        K = keras_module("k3")
        model = random_chain(K, rng)
        seeded_weights(model, seed)
        path = save(model, tmp_path / f"m{seed}.h5")
        c = compile_file(path, validate=False, arena_goal="small")
        streamed += bool(_streams(c))
        pooled += any(op.kind == "pool2d" for s in _streams(c) for op in s.ops)
        overlapping += len(c.report["arena"]["overlapping"])
    assert streamed >= 4 and overlapping >= 5 and pooled >= 1


def padded_stem(K):
    """Zero padding the planner cannot fold (before poolings), streamed with its
    neighbours: ResNet's ZeroPadding2D + MaxPooling2D stem and a padded average."""
    L = K.layers
    inp = K.Input((21, 17, 3))
    x = L.Conv2D(8, 3, padding="same", activation="relu")(inp)
    x = L.ZeroPadding2D(((1, 2), (1, 0)))(x)
    x = L.MaxPooling2D(3, strides=2)(x)
    x = L.Conv2D(6, 3, padding="same")(x)
    x = L.ZeroPadding2D(1)(x)
    x = L.AveragePooling2D(2)(x)
    x = L.GlobalAveragePooling2D()(x)
    return K.Model(inp, L.Dense(3)(x))


@pytest.mark.parametrize("gen, suffix", [("k3", ".h5"), ("k3", ".keras"), ("k2", ".h5")])
def test_zero_padding_streams_in_regions(tmp_path, gen, suffix):
    K = keras_module(gen)
    model = padded_stem(K)
    seeded_weights(model, 4)
    x = np.random.default_rng(4).standard_normal((8, 21, 17, 3)).astype(np.float32)
    err, compiled, _ = compare(model, tmp_path / f"m{suffix}", keras=K, inputs=x, arena_goal="small")
    assert err <= RTOL, err
    inner = [op.kind for s in _streams(compiled) for op in s.ops]
    assert "pad" in inner and "pool2d" in inner, inner
    Machine(compiled.object, check_reads=True).run(x[0])


@pytest.mark.slow
def test_streamed_padding_in_qemu_matches_unicorn(tmp_path):
    from keras_models import save
    from test_qemu import build_and_run
    K = keras_module("k3")
    model = padded_stem(K)
    seeded_weights(model, 5)
    path = save(model, tmp_path / "padded.h5")
    x = np.random.default_rng(5).standard_normal((3, 21, 17, 3)).astype(np.float32)
    qemu_out, obj = build_and_run(tmp_path / "fw", path, "padded", x, extra=["--arena-goal", "small"])
    machine = Machine(obj)
    unicorn_out = np.stack([machine.run(v).output for v in x])
    assert np.array_equal(qemu_out.view(np.uint32), unicorn_out.view(np.uint32))


MLPERF = {"resnet8": 98_304, "mobilenet_vww": 131_072, "ds_cnn": 48_000}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MLPERF))
@pytest.mark.parametrize("gen, suffix", [("k3", ".h5"), ("k3", ".keras"), ("k2", ".h5")])
def test_mlperf_tiny_models_fit_and_match_keras(tmp_path, name, gen, suffix):
    import benchmarks.models as bm
    K = keras_module(gen)
    build = getattr(bm, name)
    model = build(K)
    bm.set_weights(model, name)
    x = np.random.default_rng(1).uniform(-1, 1, (8,) + tuple(model.input_shape[1:])).astype(np.float32)
    err, compiled, _ = compare(model, tmp_path / f"{name}{suffix}", keras=K, inputs=x,
                               validate=False)
    assert err <= RTOL, (name, gen, suffix, err)
    assert compiled.report["arena"]["arena_bytes"] <= MLPERF[name]
