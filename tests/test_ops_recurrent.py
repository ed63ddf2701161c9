"""Recurrent layers: the kernel against the reference (every cell and option,
float32 and float16), the refusals, and compiled Keras files against
TensorFlow -- LSTM, GRU and SimpleRNN over random lengths, sizes and every
activation pair, Bidirectional in every merge mode, TimeDistributed around
each supported layer -- in Keras 3 .keras and .h5 and Keras 2 .h5."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from ml4f import reference
from ml4f.backend import compile_graph
from ml4f.emulator import Machine
from ml4f.errors import UnsupportedError
from ml4f.graph.ops import RELU, Activation, Conv2D
from ml4f.graph.ops.frames import Frames
from ml4f.graph.ops.recurrent import GATES, Recurrent
from ml4f.graph.registry import converters
from ml4f.model.records import Layer
from ml4f.plan import plan_arena
from ml4f.validate import as_seen_by_code, error, single_op_graph

RTOL = 1e-5
ACTIVATIONS = ("tanh", "sigmoid", "hard_sigmoid", "relu", "linear")
PAIRS = list(itertools.product(ACTIVATIONS, ACTIVATIONS))       # (activation, recurrent)
FORMATS = [("k3", ".keras"), ("k3", ".h5"), ("k2", ".h5")]
BOUNDED = ("sigmoid", "hard_sigmoid")     # gates in [0, 1]: the state cannot grow
UNBOUNDED_SCALE = 0.3


def _act(name: str) -> Activation:
    return Activation(name, variant="keras3" if name == "hard_sigmoid" else "")


def recurrent_op(rng, cell, steps, n, u, *, seq=False, back=False, rev=False, reset_after=True,
                 bias=True, act="tanh", gate="sigmoid") -> Recurrent:
    g = GATES[cell]
    kernel = (rng.uniform(-1, 1, (n, g * u)) / np.sqrt(n)).astype(np.float32)
    rec = (rng.uniform(-1, 1, (u, g * u)) / np.sqrt(u)).astype(np.float32)
    shape = (2, g * u) if cell == "gru" and reset_after else (g * u,)
    b = rng.uniform(-0.5, 0.5, shape).astype(np.float32) if bias else None
    return Recurrent("r", "LSTM", ["x"], "y", [(steps, n)], (steps, u) if seq else (u,),
                     cell=cell, units=u, kernel=kernel, recurrent_kernel=rec, bias=b,
                     cell_activation=_act(act), gate_activation=_act(gate),
                     reset_after=reset_after, return_sequences=seq, go_backwards=back,
                     reverse_output=rev)


KERNEL_CASES = [
    dict(cell="lstm", steps=5, n=3, u=4),
    dict(cell="lstm", steps=7, n=5, u=17, seq=True, back=True, rev=True),
    dict(cell="lstm", steps=1, n=1, u=1, seq=True),
    dict(cell="lstm", steps=12, n=9, u=40, bias=False, act="relu", gate="hard_sigmoid"),
    dict(cell="gru", steps=5, n=3, u=4),
    dict(cell="gru", steps=6, n=2, u=9, seq=True, reset_after=False),
    dict(cell="gru", steps=4, n=3, u=5, back=True, bias=False),
    dict(cell="gru", steps=8, n=7, u=23, seq=True, reset_after=False, bias=False,
         act="linear", gate="tanh"),
    dict(cell="simple_rnn", steps=5, n=3, u=4),
    dict(cell="simple_rnn", steps=9, n=4, u=33, seq=True, back=True, act="relu"),
    dict(cell="simple_rnn", steps=3, n=20, u=2, bias=False, act="linear"),
]


@pytest.mark.unit
@pytest.mark.parametrize("float16", [False, True], ids=["f32", "f16"])
@pytest.mark.parametrize("case", KERNEL_CASES, ids=lambda c: "-".join(str(v) for v in c.values()))
def test_recurrent_kernel_matches_reference(case, float16):
    rng = np.random.default_rng(sum(ord(ch) for ch in str(case)))
    case = dict(case)
    op = recurrent_op(rng, case.pop("cell"), case.pop("steps"), case.pop("n"), case.pop("u"),
                      **case)
    g = single_op_graph(op)
    obj = compile_graph(g, float16=float16).object
    for _ in range(2):
        x = rng.standard_normal(op.in_shape).astype(np.float32)
        got = Machine(obj).run(x).output
        want = reference.run_graph(as_seen_by_code(g, float16), x)
        assert error(got, want) <= RTOL


@pytest.mark.unit
def test_state_lives_in_the_planned_scratch():
    """h, c and the gates are sized by the op and placed by the planner like a tensor
    live only while the op runs; without return_sequences h is the output itself."""
    rng = np.random.default_rng(0)
    seq = recurrent_op(rng, "lstm", 4, 3, 6, seq=True)
    last = recurrent_op(rng, "lstm", 4, 3, 6)
    assert seq.state_floats() == {"gates": 24, "c": 6, "h": 6}
    assert last.state_floats() == {"gates": 24, "c": 6}
    plan = plan_arena(single_op_graph(seq))
    spans = {t: (plan.offsets[t], plan.offsets[t] + plan.sizes[t]) for t in ("x", "y")}
    off = plan.scratch_offsets()["y"]
    spans["scratch"] = (off, off + seq.scratch_bytes())
    assert plan.sizes["y:scratch"] >= seq.scratch_bytes()
    for a, b in itertools.combinations(spans.values(), 2):      # all live at once
        assert a[1] <= b[0] or b[1] <= a[0]
    assert plan.arena_bytes >= 4 * (4 * 3 + 4 * 6) + seq.scratch_bytes()


def _layer(class_name, **config):
    n, u = 3, 2
    g = {"LSTM": 4, "GRU": 3, "SimpleRNN": 1}.get(class_name, 4)
    weights = [np.zeros((n, g * u), np.float32), np.zeros((u, g * u), np.float32),
               np.zeros((2, g * u) if class_name == "GRU" else (g * u,), np.float32)]
    return Layer("rec", class_name, {"units": u, **config}, weights)


@pytest.mark.unit
@pytest.mark.parametrize("key", ["stateful", "return_state", "time_major"])
@pytest.mark.parametrize("class_name", ["LSTM", "GRU", "SimpleRNN"])
def test_refused_options_are_named(class_name, key):
    layer = _layer(class_name, **{key: True})
    with pytest.raises(UnsupportedError, match=key) as info:
        converters()[class_name].convert(layer, (5, 3), "x", "y")
    assert info.value.layer == "rec" and info.value.key == key


@pytest.mark.unit
def test_gru_reset_after_from_the_bias_shape_when_not_stated():
    """Keras 2 files from before the option existed do not state reset_after (False)."""
    layer = _layer("GRU")
    (op,) = converters()["GRU"].convert(layer, (5, 3), "x", "y").ops
    assert op.reset_after
    layer.weights[2] = np.zeros(6, np.float32)
    (op,) = converters()["GRU"].convert(layer, (5, 3), "x", "y").ops
    assert not op.reset_after
    with pytest.raises(UnsupportedError, match="bias has shape"):
        converters()["GRU"].convert(_layer("GRU", reset_after=False), (5, 3), "x", "y")


@pytest.mark.unit
def test_unsupported_activation_and_masking_refused():
    with pytest.raises(UnsupportedError, match="recurrent_activation 'softsign'"):
        converters()["LSTM"].convert(_layer("LSTM", recurrent_activation="softsign"), (5, 3),
                                     "x", "y")
    with pytest.raises(UnsupportedError, match="masking"):
        converters()["Masking"].convert(Layer("m", "Masking", {"mask_value": 0.0}), (5, 3),
                                        "x", "y")


@pytest.mark.unit
def test_bidirectional_and_time_distributed_refusals():
    inner = {"class_name": "LSTM", "config": {"units": 2}}
    layer = Layer("bi", "Bidirectional", {"layer": inner, "merge_mode": None}, [])
    with pytest.raises(UnsupportedError, match="merge_mode=None"):
        converters()["Bidirectional"].convert(layer, (5, 3), "x", "y")
    dense = Layer("bi", "Bidirectional", {"layer": {"class_name": "Dense", "config": {}}}, [])
    with pytest.raises(UnsupportedError, match="Bidirectional around Dense"):
        converters()["Bidirectional"].convert(dense, (5, 3), "x", "y")
    lstm = Layer("td", "TimeDistributed", {"layer": {"class_name": "LSTM", "config": {}}}, [])
    with pytest.raises(UnsupportedError, match="TimeDistributed around LSTM"):
        converters()["TimeDistributed"].convert(lstm, (5, 8, 1), "x", "y")


@pytest.mark.unit
@pytest.mark.parametrize("float16", [False, True], ids=["f32", "f16"])
def test_frames_kernel_matches_reference(float16):
    """An op run frame by frame: each frame copied into the scratch, the inner kernel
    run there, its result copied out (frames of 37 values: copy chunks and a tail)."""
    rng = np.random.default_rng(4)
    frame, out = (6, 6, 1), (4, 4, 3)
    conv = Conv2D("c", "Conv2D", ["f"], "g", [frame], out,
                  kernel=rng.standard_normal((3, 3, 1, 3)).astype(np.float32),
                  bias=rng.standard_normal(3).astype(np.float32), activation=RELU)
    op = Frames("td", "TimeDistributed", ["x"], "y", [(5,) + frame], (5,) + out, inner=conv)
    g = single_op_graph(op)
    obj = compile_graph(g, float16=float16).object
    x = rng.standard_normal(op.in_shape).astype(np.float32)
    want = reference.run_graph(as_seen_by_code(g, float16), x)
    assert error(Machine(obj).run(x).output, want) <= RTOL
    assert op.scratch_bytes() == 4 * (36 + 48) and op.macs() == 5 * conv.macs()


# ------------------------------------------------------------ against TensorFlow
def seeded_weights(model, seed, f16_biases: bool = False, scale: float = 1.0):
    """Uniform weights scaled by 1/sqrt(fan-in) (rows of the kernels), biases within 0.5;
    recurrent kernels (square in units per gate) at half that scale, so the state
    contracts: with gates outside [0, 1] (tanh, linear) larger ones make the recurrence
    chaotic over long sequences, where float32 rounding alone (TensorFlow's too) moves the
    result by O(1).  f16_biases: biases exactly representable in float16, which the
    compiled code keeps in float32 and the oracle of the float16 comparison rounds when
    they are 2-D (GRU).  scale: of kernels and biases, for gates not bounded to [0, 1]
    (an LSTM with linear or relu gates grows c by |f| per step: overflow at scale 1)."""
    rng = np.random.default_rng(seed)
    weights = []
    for w in model.get_weights():
        if w.ndim >= 2 and not (w.shape[0] == 2 and f16_biases):
            recurrent = w.shape[1] % w.shape[0] == 0 and w.shape[1] // w.shape[0] in (1, 3, 4)
            v = rng.uniform(-1, 1, w.shape) * np.sqrt(3.0 / w.shape[0]) * (0.5 if recurrent else 1)
            v = v * scale
        else:
            v = rng.uniform(-0.5, 0.5, w.shape) * scale
            v = v.astype(np.float16) if f16_biases else v
        weights.append(np.asarray(v, np.float32))
    model.set_weights(weights)


def _check(model, K, tmp_path, name, gen_suffix, **kw):
    from tf_oracle import compare
    _, suffix = gen_suffix
    err, compiled, _ = compare(model, tmp_path / f"{name}{suffix}", keras=K, **kw)
    return err, compiled


def _stack_config(rng):
    steps = int(rng.choice([1, 2, 7, 30, 100, 200]))
    small = steps > 50                       # long sequences with small layers keep tests short
    units = [int(rng.integers(1, 12 if small else 40)) for _ in range(3)]
    return dict(steps=steps, n=int(rng.integers(1, 9)), units=units,
                back=[bool(rng.integers(2)) for _ in range(3)],
                bias=[bool(rng.integers(4)) for _ in range(3)],
                reset_after=bool(rng.integers(2)), last_seq=bool(rng.integers(2)))


@pytest.mark.parametrize("pair", PAIRS, ids=lambda p: f"{p[0]}-{p[1]}")
def test_recurrent_stack_against_tensorflow(tmp_path, pair):
    """LSTM -> GRU -> SimpleRNN with one activation pair, random sizes and options."""
    from keras_models import keras_module
    index = PAIRS.index(pair)
    rng = np.random.default_rng(index)
    cfg = _stack_config(rng)
    fmt = FORMATS[index % 3]
    K = keras_module(fmt[0])
    act, gate = pair
    L = K.layers
    model = K.Sequential([
        K.Input((cfg["steps"], cfg["n"])),
        L.LSTM(cfg["units"][0], activation=act, recurrent_activation=gate, return_sequences=True,
               go_backwards=cfg["back"][0], use_bias=cfg["bias"][0]),
        L.GRU(cfg["units"][1], activation=act, recurrent_activation=gate, return_sequences=True,
              go_backwards=cfg["back"][1], use_bias=cfg["bias"][1],
              reset_after=cfg["reset_after"]),
        L.SimpleRNN(cfg["units"][2], activation=act, return_sequences=cfg["last_seq"],
                    go_backwards=cfg["back"][2], use_bias=cfg["bias"][2]),
    ])
    seeded_weights(model, index, scale=1.0 if gate in BOUNDED else UNBOUNDED_SCALE)
    err, compiled = _check(model, K, tmp_path, "stack", fmt)
    assert err <= RTOL, (pair, cfg, err)
    assert [op.kind for op in compiled.graph.ops] == ["recurrent"] * 3


@pytest.mark.slow
@pytest.mark.parametrize("cell", ["LSTM", "GRU", "SimpleRNN"])
def test_wide_layer_against_tensorflow(tmp_path, cell):
    """300 units, a short sequence (the GEMV's blocks loop over 1200 outputs for LSTM)."""
    from keras_models import keras_module
    K = keras_module("k3")
    model = K.Sequential([K.Input((3, 11)), getattr(K.layers, cell)(300)])
    seeded_weights(model, 5)
    err, _ = _check(model, K, tmp_path, "wide", FORMATS[0], n_inputs=2)
    assert err <= RTOL


@pytest.mark.parametrize("cell", ["LSTM", "GRU"])
def test_error_over_100_timesteps(tmp_path, cell):
    """The final output after 100 steps stays within 1e-5 of TensorFlow: no error growth
    beyond float32 rounding (docs/supported-layers/recurrent.md gives the figures)."""
    from keras_models import keras_module
    K = keras_module("k3")
    model = K.Sequential([K.Input((100, 6)), getattr(K.layers, cell)(24)])
    seeded_weights(model, 7)
    err, _ = _check(model, K, tmp_path, "long", FORMATS[1])
    assert err <= RTOL


@pytest.mark.parametrize("seed", range(4))
def test_recurrent_float16_against_tensorflow(tmp_path, seed):
    from keras_models import keras_module
    fmt = FORMATS[seed % 3]
    K = keras_module(fmt[0])
    rng = np.random.default_rng(100 + seed)
    act, gate = PAIRS[int(rng.integers(len(PAIRS)))]
    model = K.Sequential([
        K.Input((int(rng.integers(1, 40)), 4)),
        K.layers.LSTM(int(rng.integers(1, 30)), return_sequences=True, activation=act,
                      recurrent_activation=gate),
        K.layers.GRU(int(rng.integers(1, 30)), reset_after=bool(seed % 2), activation=act,
                     recurrent_activation=gate),
    ])
    seeded_weights(model, seed, f16_biases=True, scale=1.0 if gate in BOUNDED else UNBOUNDED_SCALE)
    err, _ = _check(model, K, tmp_path, "f16", fmt, float16=True, n_inputs=4)
    assert err <= RTOL, (act, gate, err)


@pytest.mark.parametrize("mode", ["concat", "sum", "mul", "ave"])
@pytest.mark.parametrize("inner", ["LSTM", "GRU", "SimpleRNN"])
def test_bidirectional_against_tensorflow(tmp_path, inner, mode):
    from keras_models import keras_module
    index = ["LSTM", "GRU", "SimpleRNN"].index(inner) * 4 + ["concat", "sum", "mul", "ave"].index(mode)
    fmt = FORMATS[index % 3]
    K = keras_module(fmt[0])
    seq = bool(index % 2)
    layers = [K.Input((int(3 + index), 5)),
              K.layers.Bidirectional(getattr(K.layers, inner)(7, return_sequences=seq),
                                     merge_mode=mode)]
    if seq:
        layers.append(K.layers.Bidirectional(K.layers.LSTM(3)))
    model = K.Sequential(layers)
    seeded_weights(model, index)
    err, compiled = _check(model, K, tmp_path, "bi", fmt)
    assert err <= RTOL, err
    kinds = [op.kind for op in compiled.graph.ops]
    assert kinds[:3] == ["recurrent", "recurrent", "concat" if mode == "concat" else "merge"]


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f[0] + f[1])
def test_time_distributed_against_tensorflow(tmp_path, fmt):
    from keras_models import keras_module
    K = keras_module(fmt[0])
    L = K.layers
    model = K.Sequential([
        K.Input((6, 12, 2)),
        L.TimeDistributed(L.Conv1D(5, 3, padding="same", activation="relu")),
        L.TimeDistributed(L.MaxPooling1D(2)),
        L.TimeDistributed(L.Conv1D(4, 3, strides=2)),
        L.TimeDistributed(L.AveragePooling1D(2)),
        L.TimeDistributed(L.Flatten()),
        L.TimeDistributed(L.Dense(6)),
        L.TimeDistributed(L.Activation("tanh")),
        L.SimpleRNN(4, return_sequences=True),
        L.TimeDistributed(L.Dense(3, activation="softmax")),
    ])
    seeded_weights(model, 3)
    err, compiled = _check(model, K, tmp_path, "td", fmt)
    assert err <= RTOL, err


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f[0] + f[1])
def test_time_distributed_2d_against_tensorflow(tmp_path, fmt):
    """2-D layers frame by frame (Frames ops), activations after them over the sequence."""
    from keras_models import keras_module
    K = keras_module(fmt[0])
    L = K.layers
    model = K.Sequential([
        K.Input((4, 9, 7, 3)),
        L.TimeDistributed(L.Conv2D(6, 3, activation="relu")),
        L.TimeDistributed(L.DepthwiseConv2D(3, padding="same", activation="tanh")),
        L.TimeDistributed(L.MaxPooling2D(2)),
        L.TimeDistributed(L.Conv2D(5, 1, activation="softmax")),
        L.TimeDistributed(L.GlobalAveragePooling2D()),
        L.GRU(4),
    ])
    seeded_weights(model, 4)
    err, compiled = _check(model, K, tmp_path, "td2", fmt)
    assert err <= RTOL, err
    assert [op.kind for op in compiled.graph.ops] == [
        "frames", "frames", "activation", "frames", "frames", "softmax", "frames", "recurrent"]
