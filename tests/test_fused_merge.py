"""Merges fused into the store of the convolution, depthwise or dense layer
that computes one operand: every mode, the producer as the first or second
operand, with an activation after the merge, written over the other operand;
kernels against the reference and Keras models against TensorFlow."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from keras_models import keras_module
from ml4f import reference
from ml4f.backend import compile_graph
from ml4f.emulator import Machine
from ml4f.graph.ops import RELU, Activation, Dense
from ml4f.graph.ops.base import RESIDUAL_MODES
from ml4f.validate import as_seen_by_code, error, single_op_graph
from test_differential_tf import seeded_weights
from test_kernels import conv_op, depthwise_op
from tf_oracle import compare

RTOL = 1e-5


def _with_residual(op, mode, act):
    return dataclasses.replace(op, inputs=op.inputs + ["r"], in_shapes=op.in_shapes + [op.out_shape],
                               residual=mode, activation=act)


def _producers(rng):
    dense = Dense("fc", "Dense", ["x"], "y", [(3, 20)], (3, 13),
                  kernel=rng.uniform(-1, 1, (20, 13)).astype(np.float32),
                  bias=rng.uniform(-1, 1, 13).astype(np.float32))
    return [conv_op(rng, 7, 9, 5, 11, (3, 3), (1, 1), "same"),
            depthwise_op(rng, 8, 6, 7, 2, (3, 3), (2, 1), "same"),
            dense]


@pytest.mark.unit
@pytest.mark.parametrize("mode", sorted(RESIDUAL_MODES))
@pytest.mark.parametrize("float16", [False, True])
def test_fused_residual_kernels_match_the_reference(mode, float16):
    rng = np.random.default_rng(len(mode) + 7 * float16)
    for op in _producers(rng):
        for act in (Activation(), RELU, Activation("relu", max_value=0.5)):
            g = single_op_graph(_with_residual(op, mode, act))
            m = Machine(compile_graph(g, float16=float16).object)
            for _ in range(2):
                x = rng.standard_normal(g.input_shape).astype(np.float32)
                ref = reference.run_graph(as_seen_by_code(g, float16), x)
                assert error(m.run(x).output, ref) <= RTOL, (op.kind, mode, act)


def _fused(compiled):
    """The ops with a fused merge, also inside streamed regions."""
    ops = [inner for op in compiled.graph.ops for inner in getattr(op, "ops", [op])]
    return [op for op in ops if getattr(op, "residual", "")]


@pytest.mark.parametrize("layer, order", [("Add", 0), ("Subtract", 0), ("Subtract", 1),
                                          ("Multiply", 1), ("Average", 0), ("Maximum", 1),
                                          ("Minimum", 0)])
def test_residual_blocks_against_tensorflow(tmp_path, layer, order):
    K = keras_module("k3")
    L = K.layers
    inp = K.Input((10, 9, 6))
    x = L.Conv2D(8, 3, padding="same", activation="relu")(inp)
    y = L.Conv2D(8, 3, padding="same")(x)
    merged = getattr(L, layer)()([x, y] if order == 0 else [y, x])
    out = L.Activation("relu")(merged)
    out = L.GlobalAveragePooling2D()(out)
    model = K.Model(inp, L.Dense(4)(out))
    seeded_weights(model, len(layer) + order)
    err, compiled, _ = compare(model, tmp_path / "m.h5", keras=K)
    assert err <= RTOL
    assert [op.residual for op in _fused(compiled)] and "merge" not in \
        [op.kind for op in compiled.graph.ops]


@pytest.mark.parametrize("suffix, gen", [(".h5", "k3"), (".keras", "k3"), (".h5", "k2")])
def test_projection_block_and_residual_mlp(tmp_path, suffix, gen):
    """A projection shortcut (both operands from convolutions: the later one
    computes the sum) and a dense residual MLP with a depthwise branch."""
    K = keras_module(gen)
    L = K.layers
    inp = K.Input((12, 12, 4))
    x = L.Conv2D(8, 3, strides=2, padding="same", activation="relu")(inp)
    y = L.Conv2D(8, 3, padding="same")(x)
    s = L.Conv2D(8, 1)(x)
    x = L.Activation("relu")(L.Add()([s, y]))
    d = L.DepthwiseConv2D(3, padding="same")(x)
    x = L.Add()([x, d])
    f = L.Flatten()(x)
    h = L.Dense(16, activation="relu")(f)
    h = L.Add()([h, L.Dense(16)(h)])
    model = K.Model(inp, L.Dense(3)(h))
    seeded_weights(model, 5)
    err, compiled, _ = compare(model, tmp_path / f"m{suffix}", keras=K)
    assert err <= RTOL
    assert len(_fused(compiled)) == 3


@pytest.mark.unit
@pytest.mark.parametrize("pair_rows", [False, True])
def test_fused_residual_resident_depthwise(monkeypatch, pair_rows):
    """The depthwise resident-weight scheme (one row or pairs of rows) with
    every merge mode fused, one and two values per pixel."""
    from test_kernels import force_resident
    force_resident(monkeypatch, pair_rows)
    rng = np.random.default_rng(17)
    for mode in sorted(RESIDUAL_MODES):
        for m, act in ((1, RELU), (2, Activation("relu", max_value=0.5)), (1, Activation())):
            op = depthwise_op(rng, 9, 11, 3, m, (3, 3), (1, 1), "same")
            g = single_op_graph(_with_residual(op, mode, act))
            low = compile_graph(g)
            plan = next(L.plan for L in low.generated.layers if L.op.kind == "depthwise")
            assert plan.scheme == "resident" and (plan.pair_p > 0) == pair_rows, plan
            mach = Machine(low.object)
            x = rng.standard_normal(g.input_shape).astype(np.float32)
            ref = reference.run_graph(as_seen_by_code(g, False), x)
            assert error(mach.run(x).output, ref) <= RTOL, (mode, m, act, pair_rows)
