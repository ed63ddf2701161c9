"""Shape layers: ZeroPadding1D/2D, Cropping1D/2D, UpSampling1D/2D, Permute,
RepeatVector.

Kernel level: the real machine code of every data-movement op, run in the
emulator, must reproduce the NumPy reference bit for bit (NaN payloads and
-0.0 included) over random shapes, and stay near the Cortex-M4's copy speed.
Differential: random layer options, saved by Keras 3 (.h5, .keras) and Keras 2
(.h5, .keras), compiled and compared with TensorFlow (exact: 0 error)."""
from __future__ import annotations

import numpy as np
import pytest

from keras_models import keras_module
from ml4f import reference
from ml4f.api import compile_file
from ml4f.backend import compile_graph
from ml4f.emulator import Machine
from ml4f.emulator.timing import CycleCounter
from ml4f.errors import UnsupportedError
from ml4f.graph.ops import elems
from ml4f.graph.ops.shape import Crop, Pad, Repeat, Transpose, Upsample
from ml4f.kernels.copy import Move, normalize
from ml4f.validate import single_op_graph
from tf_oracle import compare

FORMATS = [("k3", ".h5"), ("k3", ".keras"), ("k2", ".h5"), ("k2", ".keras")]
SPECIALS = np.array([np.nan, -0.0, np.inf, -np.inf, 1e-40, -3.5], np.float32)


def bits(a) -> np.ndarray:
    return np.ascontiguousarray(a, np.float32).view(np.uint32).ravel()


def run_exact(op, seed=0):
    """Compile `op` alone, run it on a random input holding special values, and
    return (reference bits == emulated bits, compiled pieces)."""
    g = single_op_graph(op)
    arena, gen, obj = compile_graph(g)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(g.input_shape).astype(np.float32).ravel()
    x[:len(SPECIALS)] = SPECIALS[:x.size]
    out = Machine(obj).run(x.reshape(g.input_shape)).output
    expected = reference.run_graph(g, x)
    return np.array_equal(bits(out), bits(expected)), (arena, gen, obj)


def op_cycles(g, gen, obj) -> int:
    """Estimated cycles of the graph's last op (its code range only)."""
    res = Machine(obj, profile=True).run(np.zeros(g.input_shape, np.float32))
    last = gen.layers[-1]
    ranges = {"op": (gen.header_size + last.start, gen.header_size + last.end)}
    return CycleCounter(obj).count(res.block_counts, res.edge_counts, ranges)["op"]


def rank_shape(rng, rank, h, w, c):
    return (w, c) if rank == 1 else (h, w, c)


CHANNELS = [1, 2, 3, 5, 8, 13, 33, 300]


# ------------------------------------------------------------------ kernels
def random_pad(seed):
    rng = np.random.default_rng(seed)
    rank = int(rng.integers(1, 3))
    h, w, c = int(rng.integers(1, 7)) if rank == 2 else 1, int(rng.integers(1, 9)), int(rng.choice(CHANNELS))
    t, b = (int(rng.integers(0, 4)), int(rng.integers(0, 4))) if rank == 2 else (0, 0)
    l, r = int(rng.integers(0, 4)), int(rng.integers(0, 4))
    if not (t or l or b or r):
        l = 1
    return Pad("pad", "ZeroPadding2D", ["x"], "y", [rank_shape(rng, rank, h, w, c)],
               rank_shape(rng, rank, h + t + b, w + l + r, c), pads=(t, l, b, r))


def random_crop(seed):
    rng = np.random.default_rng(seed)
    h, w, c = int(rng.integers(1, 8)), int(rng.integers(2, 10)), int(rng.choice(CHANNELS))
    t, b = int(rng.integers(0, h)), 0
    b = int(rng.integers(0, h - t))
    l = int(rng.integers(0, w - 1))
    r = int(rng.integers(0, w - l))
    return Crop("crop", "Cropping2D", ["x"], "y", [(h, w, c)], (h - t - b, w - l - r, c),
                crops=(t, l, b, r))


def random_upsample(seed):
    rng = np.random.default_rng(seed)
    rank = int(rng.integers(1, 3))
    h, w, c = int(rng.integers(1, 6)) if rank == 2 else 1, int(rng.integers(1, 8)), int(rng.choice(CHANNELS))
    size = (int(rng.integers(1, 4)) if rank == 2 else 1, int(rng.integers(1, 5)))
    return Upsample("up", "UpSampling2D", ["x"], "y", [rank_shape(rng, rank, h, w, c)],
                    rank_shape(rng, rank, h * size[0], w * size[1], c), size=size)


def random_transpose(seed):
    rng = np.random.default_rng(seed)
    rank = int(rng.integers(2, 5))
    shape = tuple(int(d) for d in rng.integers(1, 8, rank))
    if rng.random() < 0.2:
        shape = shape[:-1] + (int(rng.choice([40, 300])),)
        shape = tuple(min(d, 3) for d in shape[:-1]) + shape[-1:]
    perm = tuple(int(p) for p in rng.permutation(rank))
    if perm == tuple(range(rank)):
        perm = perm[::-1]
    return Transpose("perm", "Permute", ["x"], "y", [shape], tuple(shape[p] for p in perm), perm=perm)


def random_repeat(seed):
    rng = np.random.default_rng(seed)
    f, n = int(rng.choice([1, 3, 16, 32, 33, 100, 300])), int(rng.integers(2, 10))
    return Repeat("rep", "RepeatVector", ["x"], "y", [(f,)], (n, f), n=n)


@pytest.mark.parametrize("make,count", [(random_pad, 16), (random_crop, 12), (random_upsample, 14),
                                        (random_transpose, 18), (random_repeat, 8)],
                         ids=lambda v: getattr(v, "__name__", str(v)))
@pytest.mark.unit
def test_copy_kernels_bit_exact(make, count):
    for seed in range(count):
        op = make(seed)
        ok, _ = run_exact(op, seed)
        assert ok, (op.kind, op.in_shapes, op.out_shape, op.__dict__.get("pads"),
                    op.__dict__.get("crops"), op.__dict__.get("size"), op.__dict__.get("perm"))


@pytest.mark.unit
def test_normalize_merges_contiguous_levels():
    # a crop that keeps whole rows is one run; a broadcast level survives
    assert normalize(Move(0, 5, 0, ((4, 8, 8), (2, 4, 4)), 4)) == Move(0, 5, 0, (), 32)
    assert normalize(Move(0, 0, 0, ((3, 0, 6), (2, 0, 3)), 3)) == Move(0, 0, 0, ((6, 0, 3),), 3)
    assert normalize(Move(None, 7, 0, ((3, 99, 5),), 5)) == Move(None, 0, 0, (), 15)
    assert normalize(Move(0, 0, 0, ((0, 1, 1),), 4)) is None


# cycles per output element, Cortex-M4 estimate: the floor of a copy is 2
# (one load and one store per float), fills and broadcasts store more than they load
SPEED = [
    (Pad("p", "ZeroPadding2D", ["x"], "y", [(16, 16, 8)], (18, 18, 8), pads=(1, 1, 1, 1)), 2.15),
    (Pad("p", "ZeroPadding2D", ["x"], "y", [(16, 16, 1)], (18, 18, 1), pads=(1, 1, 1, 1)), 2.6),
    (Crop("c", "Cropping2D", ["x"], "y", [(18, 18, 8)], (16, 16, 8), crops=(1, 1, 1, 1)), 2.3),
    (Upsample("u", "UpSampling2D", ["x"], "y", [(8, 8, 8)], (16, 16, 8), size=(2, 2)), 2.2),
    (Upsample("u", "UpSampling2D", ["x"], "y", [(8, 8, 1)], (16, 16, 1), size=(2, 2)), 2.3),
    (Transpose("t", "Permute", ["x"], "y", [(32, 24)], (24, 32), perm=(1, 0)), 2.8),
    (Transpose("t", "Permute", ["x"], "y", [(16, 16, 8)], (16, 16, 8), perm=(1, 0, 2)), 2.6),
    (Repeat("r", "RepeatVector", ["x"], "y", [(100,)], (10, 100), n=10), 1.3),
]


@pytest.mark.unit
@pytest.mark.parametrize("op,limit", SPEED, ids=[f"{op.kind}{op.in_shape}" for op, _ in SPEED])
def test_copy_kernel_speed(op, limit):
    ok, (arena, gen, obj) = run_exact(op)
    assert ok
    per_elem = op_cycles(single_op_graph(op), gen, obj) / elems(op.out_shape)
    assert per_elem <= limit, per_elem


# ------------------------------------------------------------ vs TensorFlow
def keras_layer(K, seed):
    """(input shape, layer, expected op kinds) for seed: the layers in turn with random options."""
    rng = np.random.default_rng(seed)
    L = K.layers
    c = int(rng.choice([1, 3, 4, 7, 260] if seed % 5 == 0 else [1, 2, 3, 5, 8]))
    h, w = int(rng.integers(1, 7)), int(rng.integers(1, 9))
    kind = seed % 8

    def pair(lo=0, hi=3):
        return (int(rng.integers(lo, hi)), int(rng.integers(lo, hi)))
    if kind == 0:
        pads = (pair(), pair())
        if pads == ((0, 0), (0, 0)):
            pads = ((1, 0), (0, 2))
        return (h, w, c), L.ZeroPadding2D(pads), ["pad"]
    if kind == 1:
        return (w, c), L.ZeroPadding1D(pair(1, 4)), ["pad"]
    if kind == 2:
        h, w = h + 2, w + 3
        crop = ((int(rng.integers(0, 2)), int(rng.integers(0, 2))), pair(0, 2))
        kinds = ["view"] if crop[1] == (0, 0) else ["crop"]
        if crop == ((0, 0), (0, 0)):
            kinds = []
        return (h, w, c), L.Cropping2D(crop), kinds
    if kind == 3:
        return (w + 3, c), L.Cropping1D(pair(0, 2)), None
    if kind == 4:
        size = pair(1, 4)
        return (h, w, c), L.UpSampling2D(size), (["upsample"] if size != (1, 1) else [])
    if kind == 5:
        return (w, c), L.UpSampling1D(int(rng.integers(2, 5))), ["upsample"]
    if kind == 6:
        rank = int(rng.integers(2, 4))
        shape = tuple(int(d) for d in rng.integers(2, 6, rank))
        perm = tuple(int(p) + 1 for p in rng.permutation(rank))
        return shape, L.Permute(perm), None
    return (int(rng.choice([1, 5, 40, 300])),), L.RepeatVector(int(rng.integers(2, 7))), ["repeat"]


@pytest.mark.parametrize("seed", range(40))
def test_shape_layer_vs_tf(tmp_path, seed):
    generation, suffix = FORMATS[seed % len(FORMATS)]
    K = keras_module(generation)
    shape, layer, kinds = keras_layer(K, seed)
    model = K.Sequential([K.Input(shape), layer])
    err, compiled, _ = compare(model, tmp_path / f"m{suffix}", seed=seed, keras=K, n_inputs=3)
    assert err == 0.0, (generation, suffix, shape, layer.get_config(), err)
    if kinds is not None:
        assert [op.kind for op in compiled.graph.ops] == kinds


def test_permute_of_unit_axes_is_free(tmp_path):
    K = keras_module("k3")
    model = K.Sequential([K.Input((1, 6, 4)), K.layers.Permute((2, 1, 3)), K.layers.Flatten(),
                          K.layers.Dense(3)])
    err, compiled, _ = compare(model, tmp_path / "m.h5", keras=K)
    assert err <= 1e-5
    assert [op.kind for op in compiled.graph.ops] == ["dense"]


def test_shape_layers_in_a_chain(tmp_path):
    """Layers feeding each other, with arithmetic in between, in every format."""
    for generation, suffix in FORMATS:
        K = keras_module(generation)
        L = K.layers
        model = K.Sequential([
            K.Input((5, 7, 3)), L.ZeroPadding2D(((1, 2), (0, 1))), L.MaxPooling2D(2),
            L.UpSampling2D((2, 3)), L.Cropping2D(((1, 0), (2, 1))), L.Permute((2, 1, 3)),
            L.Conv2D(4, 2, activation="relu"), L.Flatten(), L.Dense(6), L.RepeatVector(3),
            L.Permute((2, 1)), L.ZeroPadding1D(1), L.Conv1D(2, 3), L.UpSampling1D(2),
            L.Cropping1D((1, 2))])
        rng = np.random.default_rng(1)
        model.set_weights([rng.uniform(-0.5, 0.5, w.shape).astype(np.float32) for w in model.get_weights()])
        err, compiled, _ = compare(model, tmp_path / f"chain_{generation}{suffix}", keras=K, n_inputs=4)
        assert err <= 1e-5, (generation, suffix, err)
        assert "pad" in [op.kind for op in compiled.graph.ops]      # in front of pooling: kept


# ------------------------------------------------- zero padding folded into conv
@pytest.mark.parametrize("seed", range(8))
def test_zero_padding_folds_into_conv(tmp_path, seed):
    rng = np.random.default_rng(seed)
    K = keras_module("k3" if seed % 2 else "k2")
    L = K.layers
    rank = 1 + seed % 2
    padding = str(rng.choice(["valid", "same"]))
    # every window keeps at least one real input (3 taps: at most 2 zeros before and after)
    most = 2 if padding == "valid" else 1
    pads = (int(rng.integers(0, most + 1)), int(rng.integers(1, most + 1)))
    if rank == 2:
        layers = [K.Input((6, 7, 3)), L.ZeroPadding2D((pads, pads[::-1])),
                  L.Conv2D(5, 3, strides=int(rng.integers(1, 3)), padding=padding, activation="relu")]
    else:
        layers = [K.Input((9, 4)), L.ZeroPadding1D(pads), L.Conv1D(3, 3, padding=padding)]
    model = K.Sequential(layers)
    rng2 = np.random.default_rng(seed)
    model.set_weights([rng2.uniform(-0.5, 0.5, w.shape).astype(np.float32) for w in model.get_weights()])
    err, compiled, _ = compare(model, tmp_path / "m.h5", keras=K, seed=seed)
    assert err <= 1e-5
    assert [op.kind for op in compiled.graph.ops] == ["conv2d"], compiled.graph.ops


@pytest.mark.parametrize("kind", ["DepthwiseConv2D", "SeparableConv2D", "DepthwiseConv1D"])
def test_zero_padding_folds_into_depthwise(tmp_path, kind):
    K = keras_module("k3")
    L = K.layers
    if kind.endswith("1D"):
        model = K.Sequential([K.Input((9, 3)), L.ZeroPadding1D((1, 2)), L.DepthwiseConv1D(3, strides=2)])
    else:
        layer = (L.DepthwiseConv2D(3, depth_multiplier=2, padding="same") if kind == "DepthwiseConv2D"
                 else L.SeparableConv2D(4, 3, activation="relu"))
        model = K.Sequential([K.Input((7, 6, 3)), L.ZeroPadding2D(((1, 0), (1, 1))), layer])
    rng = np.random.default_rng(2)
    model.set_weights([rng.uniform(-0.5, 0.5, w.shape).astype(np.float32) for w in model.get_weights()])
    err, compiled, _ = compare(model, tmp_path / "m.h5", keras=K)
    assert err <= 1e-5
    assert "pad" not in [op.kind for op in compiled.graph.ops]


def test_zero_padding_not_folded(tmp_path):
    """Kept where folding would be wrong or impossible: in front of pooling, a
    padded tensor read twice, windows that see padding only."""
    K = keras_module("k3")
    L = K.layers
    inp = K.Input((5, 5, 2))
    p = L.ZeroPadding2D(1)(inp)
    a = L.Conv2D(3, 3)(p)
    b = L.Conv2D(3, 3)(p)
    two_users = K.Model(inp, L.Add()([a, b]))
    wide = K.Sequential([K.Input((4, 4, 2)), L.ZeroPadding2D(3), L.Conv2D(2, 2, strides=2)])
    pool = K.Sequential([K.Input((4, 4, 2)), L.ZeroPadding2D(1), L.MaxPooling2D(2)])
    for i, model in enumerate((two_users, wide, pool)):
        rng = np.random.default_rng(i)
        model.set_weights([rng.uniform(-0.5, 0.5, w.shape).astype(np.float32) for w in model.get_weights()])
        err, compiled, _ = compare(model, tmp_path / f"m{i}.h5", keras=K)
        assert err <= 1e-5
        kinds = [k for op in compiled.graph.ops for k in [op.kind] + [o.kind for o in getattr(op, "ops", [])]]
        assert "pad" in kinds, kinds          # standalone (or inside a streamed region)


# ---------------------------------------------------------------- refusals
@pytest.mark.parametrize("make,key", [
    (lambda L: L.UpSampling2D(2, interpolation="bilinear"), "interpolation"),
    (lambda L: L.ZeroPadding2D(1, data_format="channels_first"), "data_format"),
    (lambda L: L.Cropping2D(1, data_format="channels_first"), "data_format"),
])
def test_unsupported_options_refused(tmp_path, make, key):
    K = keras_module("k3")
    model = K.Sequential([K.Input((4, 5, 3)), make(K.layers)])
    path = tmp_path / "m.h5"
    model.save(str(path))
    with pytest.raises(UnsupportedError) as e:
        compile_file(path)
    assert e.value.key == key and e.value.layer
    assert "\n" not in str(e.value)
