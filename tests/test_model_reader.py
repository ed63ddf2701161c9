"""ml4f.model: reading Keras 2 / Keras 3 model files without TensorFlow.

Fixtures are created at test time with Keras 3 and tf_keras (one build per model per session);
every array read must equal ``layer.get_weights()`` of the saved model bit for bit.
"""
from __future__ import annotations

import base64
import io
import json
import marshal
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from ml4f.errors import InvalidModelError, ML4FError, ModelFormatError, UnsupportedError
from ml4f.model import h5_weights, keras_zip, load_model
import ml4f
from ml4f.graph.registry import LAYER_KINDS
from ml4f.model.classes import BUILTIN_LAYER_CLASSES, CODE_LAYER_CLASSES
from ml4f.model.keras_zip import to_snake_case

try:
    from . import keras_models as km
except ImportError:
    import keras_models as km

FORMATS = tuple(km.FORMATS)
ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------------------------
# Models (build functions take the Keras module: keras or tf_keras)
# --------------------------------------------------------------------------------------------

def dense_model(K):
    L = K.layers
    return K.Sequential([
        K.Input((8,), name="inp"),
        L.Dense(6, activation="relu", name="fc1"),
        L.Dropout(0.25, name="drop"),
        L.Dense(5, use_bias=False, name="fc_nobias"),
        L.ReLU(max_value=6.0, name="relu6"),
        L.Dense(4, name="fc2"),
        L.Softmax(name="softmax"),
    ], name="dense_net")


def conv1d_model(K):
    L = K.layers
    return K.Sequential([
        K.Input((16, 3), name="inp"),
        L.Conv1D(4, 3, padding="same", activation="relu", name="conv"),
        L.MaxPooling1D(2, name="maxpool"),
        L.Conv1D(5, 3, use_bias=False, name="conv_nobias"),
        L.AveragePooling1D(2, name="avgpool"),
        L.Flatten(name="flat"),
        L.Dense(3, name="fc"),
        L.Activation("softmax", name="act"),
    ], name="cnn1d")


def conv2d_model(K):
    L = K.layers
    return K.Sequential([
        K.Input((12, 12, 3), name="inp"),
        L.Conv2D(4, 3, name="conv"),
        L.BatchNormalization(name="bn"),
        L.ReLU(name="relu"),
        L.DepthwiseConv2D(3, depth_multiplier=2, padding="same", name="dw"),
        L.BatchNormalization(center=False, name="bn_nocenter"),
        L.SeparableConv2D(5, 3, name="sep"),
        L.BatchNormalization(scale=False, name="bn_noscale"),
        L.MaxPooling2D(2, name="maxpool"),
        L.DepthwiseConv2D(1, use_bias=False, name="dw_nobias"),
        L.SeparableConv2D(6, 1, use_bias=False, name="sep_nobias"),
        L.Conv2D(6, 1, use_bias=False, name="conv_nobias"),
        L.AveragePooling2D(2, name="avgpool"),
        L.BatchNormalization(center=False, scale=False, name="bn_plain"),
        L.Reshape((4, 6), name="reshape"),
        L.GlobalAveragePooling1D(name="gap"),
        L.Dense(3, name="fc"),
        L.Activation("softmax", name="act"),
    ], name="cnn2d")


def nested_model(K):
    """Two levels of nesting; leaf names repeat in different nested models."""
    L = K.layers
    inner2 = K.Sequential([L.Dense(5, name="fc_deep"), L.BatchNormalization(name="bn")],
                          name="inner2")
    inner = K.Sequential([L.Dense(6, activation="relu", name="fc"), inner2,
                          L.Dense(6, name="fc_out")], name="inner")
    other = K.Sequential([L.Dense(4, name="fc"), L.BatchNormalization(name="bn")], name="other")
    return K.Sequential([K.Input((8,), name="inp"), L.Dense(7, name="fc"), inner, other,
                         L.Softmax(name="softmax")], name="outer")


def nested_first_model(K):
    """The outer model starts with a nested Sequential that owns the Input."""
    L = K.layers
    head = K.Sequential([K.Input((6,), name="inp"), L.Dense(4, name="fc")], name="head")
    model = K.Sequential([head, L.Dense(3, name="fc")], name="outer")
    if not model.built:
        model.build((None, 6))
    return model


def functional_chain(K):
    L = K.layers
    x = K.Input((8, 8, 2), name="inp")
    y = L.Conv2D(3, 3, name="conv")(x)
    y = L.BatchNormalization(name="bn")(y)
    y = L.ReLU(name="relu")(y)
    y = L.Flatten(name="flat")(y)
    y = L.Dense(4, name="fc")(y)
    return K.Model(x, y, name="chain")


def functional_residual(K):
    L = K.layers
    x = K.Input((6, 6, 4), name="inp")
    a = L.Conv2D(4, 3, padding="same", name="conv_a")(x)
    a = L.BatchNormalization(name="bn_a")(a)
    a = L.ReLU(name="relu_a")(a)
    b = L.Conv2D(4, 1, use_bias=False, name="conv_b")(x)
    s = L.Add(name="add")([a, b])
    c = L.Concatenate(name="cat")([x, s])
    p = L.MaxPooling2D(2, name="pool")(c)
    f = L.Flatten(name="flat")(p)
    head = K.Sequential([L.Dense(5, name="fc"), L.Dense(3, name="fc_out")], name="head")
    y = L.Softmax(name="softmax")(head(f))
    return K.Model(x, y, name="residual")


def recurrent_model(K):
    """Layers whose weights belong to a sub-layer (cell, wrapped layer), also nested."""
    L = K.layers
    inner = K.Sequential([L.GRU(3, return_sequences=True, name="gru"),
                          L.TimeDistributed(L.Dense(2, name="fc"), name="td")], name="inner")
    return K.Sequential([K.Input((5, 4), name="inp"),
                         L.LSTM(4, return_sequences=True, name="lstm"), inner,
                         L.SimpleRNN(3, name="rnn")], name="recurrent")


def bidirectional_model(K):
    """Weights in two sub-layers: forward then backward in get_weights() order."""
    L = K.layers
    x = K.Input((5, 4), name="inp")
    y = L.Bidirectional(L.GRU(3, return_sequences=True, name="gru"), name="bi")(x)
    y = L.Bidirectional(L.LSTM(2, name="lstm"), merge_mode="sum", name="bi2")(y)
    return K.Model(x, y, name="bidirectional")


def multi_sublayer_model(K):
    L = K.layers
    x = K.Input((5, 4), name="inp")
    y = L.Bidirectional(L.GRU(3, return_sequences=True, name="gru"), name="bi")(x)
    y = L.MultiHeadAttention(2, 3, name="mha")(y, y)
    return K.Model(x, y, name="multi_sub")


RESIDUAL_INBOUND = {
    "inp": [], "conv_a": ["inp"], "bn_a": ["conv_a"], "relu_a": ["bn_a"], "conv_b": ["inp"],
    "add": ["relu_a", "conv_b"], "cat": ["inp", "add"], "pool": ["cat"], "flat": ["pool"],
    "head/fc": ["flat"], "head/fc_out": ["head/fc"], "softmax": ["head/fc_out"],
}

MODELS = {
    "dense": dense_model, "conv1d": conv1d_model, "conv2d": conv2d_model,
    "nested": nested_model, "nested_first": nested_first_model,
    "chain": functional_chain, "residual": functional_residual, "recurrent": recurrent_model,
    "bidirectional": bidirectional_model,
}


def lambda_model(K):
    L = K.layers
    return K.Sequential([K.Input((4,), name="inp"), L.Dense(3, name="fc"),
                         L.Lambda(lambda t: t * 2.0, name="twice"), L.Dense(2, name="fc2")],
                        name="with_lambda")


def custom_model(K):
    class Doubler(K.layers.Layer):
        def call(self, x):
            return x * 2.0

    return K.Sequential([K.Input((4,), name="inp"), Doubler(name="twice"),
                         K.layers.Dense(2, name="fc")], name="with_custom")


def shadowing_model(K):
    """A user class that is called 'Dense' but is not Keras's Dense."""
    class Dense(K.layers.Dense):
        pass

    return K.Sequential([K.Input((4,), name="inp"), Dense(2, name="fake")], name="shadow")


def two_input_model(K):
    L = K.layers
    a, b = K.Input((4,), name="a"), K.Input((4,), name="b")
    return K.Model([a, b], L.Dense(2, name="fc")(L.Add(name="add")([a, b])), name="two_in")


def two_output_model(K):
    L = K.layers
    x = K.Input((4,), name="inp")
    return K.Model(x, [L.Dense(2, name="fc_a")(x), L.Dense(3, name="fc_b")(x)], name="two_out")


def state_output_model(K):
    """Uses output 1 (the state) of a multi-output LSTM."""
    L = K.layers
    x = K.Input((5, 3), name="inp")
    _, h, _ = L.LSTM(4, return_state=True, name="lstm")(x)
    return K.Model(x, L.Dense(2, name="fc")(h), name="state")


def nested_functional_model(K):
    L = K.layers
    i = K.Input((4,), name="inner_in")
    inner = K.Model(i, L.Dense(3, name="inner_fc")(i), name="inner_model")
    x = K.Input((4,), name="inp")
    return K.Model(x, L.Dense(2, name="fc")(inner(x)), name="outer_model")


def float64_model(K):
    return K.Sequential([K.Input((4,), name="inp"), K.layers.Dense(2, dtype="float64", name="fc")])


def mixed_model(K):
    return K.Sequential([K.Input((4,), name="inp"),
                         K.layers.Dense(2, dtype="mixed_float16", name="fc")])


REFUSED = {
    "lambda": lambda_model, "custom": custom_model, "two_in": two_input_model,
    "two_out": two_output_model, "state": state_output_model,
    "nested_functional": nested_functional_model, "float64": float64_model,
    "mixed": mixed_model,
}
OTHER = {"multi_sub": multi_sublayer_model}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """saved(name) -> {format: km.Saved}; each model is built once per module."""
    cache: dict[str, dict] = {}

    def get(name: str) -> dict:
        if name not in cache:
            fn = MODELS.get(name) or REFUSED.get(name) or OTHER[name]
            cache[name] = km.build_and_save(fn, tmp_path_factory.mktemp(name), name)
        return cache[name]

    return get


def copy_to(src: Path, dst_dir: Path, name: str | None = None) -> Path:
    dst = dst_dir / (name or src.name)
    shutil.copyfile(src, dst)
    return dst


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return (a.dtype == np.float32 and b.dtype == np.float32 and a.shape == b.shape
            and np.array_equal(a.view(np.uint32), b.view(np.uint32)))


def assert_weights_equal(model, keras_model) -> None:
    """Every leaf's arrays equal layer.get_weights() bit for bit; other layers have none."""
    expected = km.leaf_weights(keras_model)
    got = {layer.name: layer.weights for layer in model.layers}
    for path, arrays in expected.items():
        assert path in got, f"{path} missing; read {list(got)}"
        assert len(got[path]) == len(arrays), path
        for i, (a, b) in enumerate(zip(got[path], arrays)):
            assert same_bits(a, b), f"{path} weight {i}"
    for path in set(got) - set(expected):
        assert got[path] == [], path                     # only InputLayers are extra


def rewrite_keras(src: Path, dst: Path, config=None, weights_fn=None, drop=()) -> Path:
    """Copy a .keras archive, optionally replacing config.json or editing model.weights.h5."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            if item.filename in drop:
                continue
            data = zin.read(item.filename)
            if item.filename == "config.json" and config is not None:
                data = json.dumps(config).encode()
            if item.filename == "model.weights.h5" and weights_fn is not None:
                buf = io.BytesIO(data)
                with h5py.File(buf, "r+") as f:
                    weights_fn(f)
                data = buf.getvalue()
            zout.writestr(item, data)
    return dst


def keras_config(path: Path) -> dict:
    with zipfile.ZipFile(path) as z:
        return json.loads(z.read("config.json"))


def set_h5_config(path: Path, config: dict) -> None:
    with h5py.File(path, "r+") as f:
        f.attrs["model_config"] = json.dumps(config)


def h5_config(path: Path) -> dict:
    with h5py.File(path, "r") as f:
        return json.loads(f.attrs["model_config"])


# --------------------------------------------------------------------------------------------
# Reading: weights bit for bit, names, edges, shapes
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", list(MODELS))
def test_weights_equal_keras(saved, name, fmt):
    s = saved(name)[fmt]
    model = load_model(s.path)
    assert_weights_equal(model, s.model)
    assert model.format == ("h5" if fmt.endswith("h5") else "keras")
    assert model.keras_version.startswith("3." if fmt.startswith("k3") else "2.")
    assert model.path == str(s.path)
    assert model.name == s.model.name
    assert model.input_shape == tuple(s.model.input_shape[1:])


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", ["dense", "conv1d", "conv2d", "nested"])
def test_sequential_structure(saved, name, fmt):
    s = saved(name)[fmt]
    model = load_model(s.path)
    names = [layer.name for layer in model.layers]
    assert names == ["inp"] + [n for n in km.leaf_layers(s.model) if n != "inp"]
    assert model.layers[0].class_name == "InputLayer" and model.layers[0].inbound == []
    for prev, layer in zip(model.layers, model.layers[1:]):
        assert layer.inbound == [prev.name]
    assert model.inputs == ["inp"] and model.outputs == [names[-1]]
    for layer in model.layers[1:]:
        assert layer.class_name == type(km.leaf_layers(s.model)[layer.name]).__name__
        assert layer.config["name"] == layer.name.split("/")[-1]


@pytest.mark.parametrize("fmt", FORMATS)
def test_nested_path_names(saved, fmt):
    model = load_model(saved("nested")[fmt].path)
    assert [layer.name for layer in model.layers] == [
        "inp", "fc", "inner/fc", "inner/inner2/fc_deep", "inner/inner2/bn", "inner/fc_out",
        "other/fc", "other/bn", "softmax"]
    bn = model.layer("inner/inner2/bn")
    assert bn.class_name == "BatchNormalization" and len(bn.weights) == 4
    assert [w.shape for w in model.layer("other/fc").weights] == [(6, 4), (4,)]


@pytest.mark.parametrize("fmt", FORMATS)
def test_nested_first_input_shape(saved, fmt):
    model = load_model(saved("nested_first")[fmt].path)
    assert model.input_shape == (6,)
    assert model.layers[0].class_name == "InputLayer"
    assert [layer.name for layer in model.layers[1:]] == ["head/fc", "fc"]
    assert model.layer("head/fc").inbound == [model.layers[0].name]
    assert model.layer("fc").inbound == ["head/fc"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_functional_chain(saved, fmt):
    model = load_model(saved("chain")[fmt].path)
    assert [(layer.name, layer.inbound) for layer in model.layers] == [
        ("inp", []), ("conv", ["inp"]), ("bn", ["conv"]), ("relu", ["bn"]),
        ("flat", ["relu"]), ("fc", ["flat"])]
    assert model.inputs == ["inp"] and model.outputs == ["fc"]
    assert model.input_shape == (8, 8, 2)


@pytest.mark.parametrize("fmt", FORMATS)
def test_functional_residual_dag(saved, fmt):
    model = load_model(saved("residual")[fmt].path)
    assert {layer.name: layer.inbound for layer in model.layers} == RESIDUAL_INBOUND
    position = {layer.name: i for i, layer in enumerate(model.layers)}
    for layer in model.layers:                                     # topological order
        assert all(position[src] < position[layer.name] for src in layer.inbound)
    assert model.inputs == ["inp"] and model.outputs == ["softmax"]
    assert model.input_shape == (6, 6, 4)
    assert model.layer("add").class_name == "Add"
    assert model.layer("cat").class_name == "Concatenate"


@pytest.mark.parametrize("fmt", ["k2_h5", "k3_h5"])
def test_sequential_without_input_layer(saved, fmt, tmp_path):
    """Old Keras 2 files state the input shape on the first layer; an InputLayer is made up."""
    s = saved("dense")[fmt]
    path = copy_to(s.path, tmp_path)
    config = h5_config(path)
    layers = config["config"]["layers"]
    assert layers[0]["class_name"] == "InputLayer"
    del layers[0]
    if fmt == "k2_h5":
        layers[0]["config"]["batch_input_shape"] = [None, 8]
    else:
        layers[0]["build_config"] = {"input_shape": [None, 8]}
    set_h5_config(path, config)
    model = load_model(path)
    first = model.layers[0]
    assert first.class_name == "InputLayer" and first.name == "fc1_input" and first.weights == []
    assert model.inputs == ["fc1_input"] and model.input_shape == (8,)
    assert model.layer("fc1").inbound == ["fc1_input"]
    assert_weights_equal(model, s.model)


def test_format_detected_by_content(saved, tmp_path):
    for fmt, s in saved("dense").items():
        path = copy_to(s.path, tmp_path, f"{fmt}.model")           # misleading extension
        assert load_model(path).format == ("h5" if fmt.endswith("h5") else "keras")
    swapped = copy_to(saved("dense")["k3_keras"].path, tmp_path, "archive.h5")
    assert load_model(swapped).format == "keras"


@pytest.mark.unit
def test_snake_case_keys():
    assert [to_snake_case(c) for c in ("Conv2D", "DepthwiseConv2D", "ReLU",
                                       "BatchNormalization", "MaxPooling2D", "InputLayer",
                                       "SeparableConv1D", "PReLU", "GlobalAveragePooling2D")] == [
        "conv2d", "depthwise_conv2d", "re_lu", "batch_normalization", "max_pooling2d",
        "input_layer", "separable_conv1d", "p_re_lu", "global_average_pooling2d"]


def test_builtin_table_covers_keras():
    """Every public Keras layer class is either in the table or refused as code."""
    import inspect

    for generation in ("k3", "k2"):
        K = km.keras_module(generation)
        for obj in vars(K.layers).values():
            if inspect.isclass(obj) and issubclass(obj, K.layers.Layer):
                assert obj.__name__ in BUILTIN_LAYER_CLASSES | CODE_LAYER_CLASSES, obj


def test_reader_imports_no_framework(saved):
    """Reading needs h5py + NumPy only: no TensorFlow / Keras import, and it is fast."""
    paths = [str(s.path) for name in ("dense", "conv2d", "nested", "residual")
             for s in saved(name).values()]
    code = (
        "import sys, time\n"
        "t = time.perf_counter()\n"
        "from ml4f.model import load_model\n"
        "for p in sys.argv[1:]:\n"
        "    load_model(p)\n"
        "heavy = [m for m in ('tensorflow', 'keras', 'tf_keras', 'jax', 'torch', 'scipy')\n"
        "         if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "print(time.perf_counter() - t)\n")
    out = subprocess.run([sys.executable, "-c", code, *paths], cwd=ROOT, capture_output=True,
                         text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    assert float(out.stdout) < 5.0


# --------------------------------------------------------------------------------------------
# LayerKinds.check
# --------------------------------------------------------------------------------------------

@pytest.fixture
def no_weight_reads(monkeypatch):
    """Fail the test if any weight array is read."""
    def forbidden(*args, **kwargs):
        raise AssertionError("a weight was read")

    monkeypatch.setattr(h5_weights, "dataset_array", forbidden)
    monkeypatch.setattr(keras_zip, "dataset_array", forbidden)


class Checking:
    """Layer kinds that only check (weights unchecked): the reader's view of a table."""

    def __init__(self, check):
        self.check = check

    def weight_names(self, class_name, config):
        return None

    def integer_weights(self, class_name):
        return frozenset()


@pytest.mark.parametrize("fmt", FORMATS)
def test_check_layer_sees_every_layer_before_weights(saved, fmt, no_weight_reads):
    calls = []

    def check(name, class_name, config):
        calls.append((name, class_name, config["name"]))
        if class_name == "Dense":
            raise UnsupportedError(f"units={config['units']} not allowed", key="units",
                                   value=config["units"])

    path = saved("nested")[fmt].path
    with pytest.raises(UnsupportedError) as info:
        load_model(path, Checking(check), isolate=False)      # calls seen in this process
    assert [c[0] for c in calls] == ["inp", "fc", "inner/fc", "inner/inner2/fc_deep",
                                     "inner/inner2/bn", "inner/fc_out", "other/fc", "other/bn",
                                     "softmax"]
    assert all(c[0].split("/")[-1] == c[2] for c in calls)
    error = info.value
    assert error.path == str(path) and error.layer == "fc" and error.layer_class == "Dense"
    assert error.key == "units" and error.value == 7
    assert "(and 4 more problems)" in str(error) and "\n" not in str(error)
    assert len(error.problems) == 5
    assert str(path) in str(error) and "layer 'fc' (Dense)" in str(error)


@pytest.mark.parametrize("fmt", FORMATS)
def test_check_layer_passing(saved, fmt):
    seen = []
    model = load_model(saved("residual")[fmt].path,
                       Checking(lambda n, c, cfg: seen.append(n)), isolate=False)
    assert seen == [layer.name for layer in model.layers]


def test_check_layer_problems_join_refusals(saved, no_weight_reads):
    def check(name, class_name, config):
        if class_name == "Dense":
            raise UnsupportedError("no Dense today")

    with pytest.raises(UnsupportedError) as info:
        load_model(saved("lambda")["k3_keras"].path, Checking(check))
    assert info.value.layer == "twice" and info.value.layer_class == "Lambda"
    assert "(and 2 more problems)" in str(info.value)


# --------------------------------------------------------------------------------------------
# Refusals (before any weight is read)
# --------------------------------------------------------------------------------------------

@pytest.fixture
def no_unmarshal(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("code from the file was decoded")

    for name in ("loads", "load"):
        monkeypatch.setattr(marshal, name, forbidden)
    for name in ("b64decode", "decodebytes", "standard_b64decode", "urlsafe_b64decode"):
        monkeypatch.setattr(base64, name, forbidden)


def refusal(path, cls=UnsupportedError, kinds=None) -> ML4FError:
    with pytest.raises(cls) as info:
        # in this process: the fixtures' patches (no decoding, no weight reads) would also
        # catch the imports of a fresh child process
        load_model(path, kinds, isolate=False)
    error = info.value
    assert error.path == str(path)
    assert str(path) in str(error) and "\n" not in str(error)
    return error


@pytest.mark.parametrize("fmt", FORMATS)
def test_lambda_refused_without_decoding(saved, fmt, no_unmarshal, no_weight_reads):
    error = refusal(saved("lambda")[fmt].path)
    assert error.layer == "twice" and error.layer_class == "Lambda"
    assert "Lambda" in str(error) and "layer 'twice' (Lambda)" in str(error)


@pytest.mark.parametrize("cls", ["TFOpLambda", "SlicingOpLambda"])
def test_tf_op_layers_refused(saved, cls, tmp_path, no_unmarshal, no_weight_reads):
    path = copy_to(saved("dense")["k2_h5"].path, tmp_path)
    config = h5_config(path)
    config["config"]["layers"][2] = {"class_name": cls, "config": {
        "name": "tf.math.multiply", "dtype": "float32", "function": "math.multiply"},
        "inbound_nodes": [["fc1", 0, 0, {"y": 2.0}]]}
    set_h5_config(path, config)
    error = refusal(path)
    assert error.layer == "tf.math.multiply" and error.layer_class == cls


@pytest.mark.parametrize("fmt", FORMATS)
def test_custom_layer_refused(saved, fmt, no_weight_reads):
    error = refusal(saved("custom")[fmt].path)
    assert error.layer == "twice" and "Doubler" in str(error) and "custom" in str(error)


@pytest.mark.parametrize("fmt", ["k3_keras", "k2_keras"])
def test_custom_class_named_like_builtin_refused(fmt, tmp_path, no_weight_reads):
    path = km.save_all_formats(shadowing_model, tmp_path, "shadow", formats=[fmt])[fmt]
    error = refusal(path)
    assert error.layer == "fake" and error.key == "module"


def test_module_named_in_config_is_not_imported(saved, tmp_path, monkeypatch, no_weight_reads):
    marker = tmp_path / "imported"
    (tmp_path / "ml4f_trap_module.py").write_text(
        f"open({str(marker)!r}, 'w').close()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    src = saved("dense")["k3_keras"].path
    config = keras_config(src)
    config["config"]["layers"][1]["module"] = "ml4f_trap_module"
    path = rewrite_keras(src, tmp_path / "trap.keras", config=config)
    error = refusal(path)
    assert error.layer == "fc1" and error.key == "module" and error.value == "ml4f_trap_module"
    assert "ml4f_trap_module" not in sys.modules and not marker.exists()


def test_custom_object_inside_config_refused(saved, tmp_path, no_weight_reads):
    src = saved("dense")["k3_keras"].path
    config = keras_config(src)
    config["config"]["layers"][1]["config"]["kernel_initializer"] = {
        "module": "my_package.init", "class_name": "MyInit", "config": {},
        "registered_name": "MyInit"}
    error = refusal(rewrite_keras(src, tmp_path / "init.keras", config=config))
    assert error.layer == "fc1" and error.key == "kernel_initializer"


@pytest.mark.parametrize("fmt", FORMATS)
def test_two_inputs_refused(saved, fmt):
    error = refusal(saved("two_in")[fmt].path)
    assert "multi-input models are not supported" in str(error)


@pytest.mark.parametrize("fmt", FORMATS)
def test_two_outputs_refused(saved, fmt):
    assert "multi-output models are not supported" in str(refusal(saved("two_out")[fmt].path))


@pytest.mark.parametrize("fmt", FORMATS)
def test_second_output_of_layer_refused(saved, fmt, no_weight_reads):
    error = refusal(saved("state")[fmt].path)
    assert error.layer == "fc" and error.key == "tensor_index" and error.value == 1
    assert "output 1 of layer 'lstm'" in str(error)


@pytest.mark.parametrize("fmt", FORMATS)
def test_nested_functional_refused(saved, fmt, no_weight_reads):
    error = refusal(saved("nested_functional")[fmt].path)
    assert error.layer == "inner_model" and "nested" in str(error)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name, dtype", [("float64", "float64"), ("mixed", "mixed_float16")])
def test_non_float32_dtype_refused(saved, name, dtype, fmt, no_weight_reads):
    error = refusal(saved(name)[fmt].path)
    assert error.layer == "fc" and error.key == "dtype" and error.value == dtype
    assert dtype in str(error)


def test_functional_inside_sequential_refused(tmp_path, no_weight_reads):
    def seq_of_functional(K):
        i = K.Input((4,), name="inner_in")
        inner = K.Model(i, K.layers.Dense(3, name="inner_fc")(i), name="inner_model")
        return K.Sequential([K.Input((4,), name="inp"), inner, K.layers.Dense(2, name="fc")])

    paths = km.save_all_formats(seq_of_functional, tmp_path, "sf", formats=["k3_keras", "k2_h5"])
    for path in paths.values():
        error = refusal(path)
        assert error.layer == "inner_model" and error.layer_class == "Functional"


def test_shared_layer_refused(tmp_path):
    def shared(K):
        x = K.Input((4,), name="inp")
        fc = K.layers.Dense(4, name="fc")
        return K.Model(x, fc(fc(x)), name="shared")

    for path in km.save_all_formats(shared, tmp_path, "shared", formats=["k3_h5", "k2_keras"]).values():
        assert "shared layers are not supported" in str(refusal(path))


def test_unknown_model_class_refused(saved, tmp_path):
    path = copy_to(saved("dense")["k3_h5"].path, tmp_path)
    config = h5_config(path)
    config["class_name"] = "MyModel"
    set_h5_config(path, config)
    assert "MyModel" in str(refusal(path))


# --------------------------------------------------------------------------------------------
# Bad files
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
def test_truncated_files(saved, fmt, tmp_path):
    data = saved("conv2d")[fmt].path.read_bytes()
    for cut in (1, 7, 100, 1000, len(data) // 2, len(data) - 200, len(data) - 1):
        path = tmp_path / f"cut{cut}"
        path.write_bytes(data[:cut])
        refusal(path, ModelFormatError)


@pytest.mark.unit
def test_random_bytes(tmp_path):
    rng = np.random.default_rng(1)
    for size in (3, 100, 5000):
        path = tmp_path / f"random{size}.h5"
        path.write_bytes(rng.integers(0, 256, size, dtype=np.uint8).tobytes())
        assert "not a Keras model file" in str(refusal(path, ModelFormatError))
    fake_h5 = tmp_path / "fake.h5"
    fake_h5.write_bytes(b"\x89HDF\r\n\x1a\n" + rng.integers(0, 256, 3000, dtype=np.uint8).tobytes())
    refusal(fake_h5, ModelFormatError)
    fake_zip = tmp_path / "fake.keras"
    fake_zip.write_bytes(b"PK\x03\x04" + rng.integers(0, 256, 3000, dtype=np.uint8).tobytes())
    refusal(fake_zip, ModelFormatError)


@pytest.mark.unit
def test_empty_missing_and_directories(tmp_path):
    empty = tmp_path / "empty.h5"
    empty.write_bytes(b"")
    assert "empty" in str(refusal(empty, ModelFormatError))
    assert "not found" in str(refusal(tmp_path / "missing.keras", ModelFormatError))
    plain = tmp_path / "somedir"
    plain.mkdir()
    assert "directory" in str(refusal(plain, ModelFormatError))
    saved_model = tmp_path / "exported"
    saved_model.mkdir()
    (saved_model / "saved_model.pb").write_bytes(b"\x08\x01")
    assert "SavedModel" in str(refusal(saved_model, ModelFormatError))


@pytest.mark.unit
def test_hdf5_without_model_config(tmp_path):
    path = tmp_path / "plain.h5"
    with h5py.File(path, "w") as f:
        f["data"] = np.zeros(3, np.float32)
    assert "model_config" in str(refusal(path, ModelFormatError))


@pytest.mark.parametrize("generation", ["k2", "k3"])
def test_weights_only_h5(generation, tmp_path):
    model = km.build(dense_model, generation)
    path = tmp_path / ("w.h5" if generation == "k2" else "w.weights.h5")
    model.save_weights(str(path))
    assert "weights only" in str(refusal(path, ModelFormatError))


def test_broken_keras_archives(saved, tmp_path):
    src = saved("dense")["k3_keras"].path
    no_config = rewrite_keras(src, tmp_path / "a.keras", drop=("config.json",))
    assert "config.json" in str(refusal(no_config, ModelFormatError))
    no_weights = rewrite_keras(src, tmp_path / "b.keras", drop=("model.weights.h5",))
    assert "model.weights.h5" in str(refusal(no_weights, ModelFormatError))
    other = tmp_path / "c.keras"
    with zipfile.ZipFile(other, "w") as z:
        z.writestr("readme.txt", "hello")
    refusal(other, ModelFormatError)
    bad_json = tmp_path / "d.keras"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(bad_json, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            zout.writestr(item, b"{not json" if item.filename == "config.json" else data)
    refusal(bad_json, ModelFormatError)
    cut_weights = tmp_path / "e.keras"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(cut_weights, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            zout.writestr(item, data[:len(data) // 2] if item.filename.endswith(".h5") else data)
    refusal(cut_weights, ModelFormatError)


def test_malformed_configs(saved, tmp_path):
    src = saved("residual")["k3_h5"].path
    for i, edit in enumerate([
        lambda c: c.update(config=[]),
        lambda c: c["config"].update(layers="x"),
        lambda c: c["config"]["layers"][1].update(class_name=None),
        lambda c: c["config"]["layers"][1]["inbound_nodes"][0]["args"][0]["config"].update(
            keras_history=["nowhere", 0, 0]),
        lambda c: c["config"].update(output_layers=["nowhere", 0, 0]),
        lambda c: c["config"]["layers"][1].update(inbound_nodes=[]),
    ]):
        path = copy_to(src, tmp_path, f"m{i}.h5")
        config = h5_config(path)
        edit(config)
        set_h5_config(path, config)
        refusal(path, ModelFormatError)


# --------------------------------------------------------------------------------------------
# Damaged weights
# --------------------------------------------------------------------------------------------

def _h5_kernel(f: h5py.File, layer: str) -> h5py.Dataset:
    group = f["model_weights"][layer]
    name = h5_weights.attr_strings(group, "weight_names")[0]
    return group[name]


@pytest.mark.parametrize("value, word", [(np.nan, "NaN"), (np.inf, "infinite")])
@pytest.mark.parametrize("fmt", FORMATS)
def test_non_finite_weights(saved, fmt, value, word, tmp_path):
    src = saved("dense")[fmt].path
    if fmt.endswith("h5"):
        path = copy_to(src, tmp_path)
        with h5py.File(path, "r+") as f:
            _h5_kernel(f, "fc2")[1, 2] = value
    else:
        def poison(f):
            f["layers/dense_2/vars/0"][1, 2] = value
        path = rewrite_keras(src, tmp_path / "bad.keras", weights_fn=poison)
    error = refusal(path, InvalidModelError, LAYER_KINDS)       # the table names the arrays
    assert error.layer == "fc2" and word in str(error)
    assert "weight 0" in str(error) and "kernel" in str(error)


@pytest.mark.parametrize("fmt", ["k2_h5", "k3_h5"])
def test_h5_weight_count_and_dtype(saved, fmt, tmp_path):
    src = saved("dense")[fmt].path
    path = copy_to(src, tmp_path, "count.h5")
    with h5py.File(path, "r+") as f:
        group = f["model_weights"]["fc2"]
        group.attrs["weight_names"] = np.array(
            h5_weights.attr_strings(group, "weight_names")[:1], dtype=object)
    error = refusal(path, ModelFormatError, LAYER_KINDS)       # the table knows how many
    assert error.layer == "fc2" and "1 weight arrays" in str(error)
    path = copy_to(src, tmp_path, "f64.h5")
    with h5py.File(path, "r+") as f:
        group = f["model_weights"]["fc2"]
        name = h5_weights.attr_strings(group, "weight_names")[0]
        data = group[name][()]
        del group[name]
        group[name] = data.astype(np.float64)
    error = refusal(path, ModelFormatError)
    assert error.layer == "fc2" and "float64" in str(error)
    path = copy_to(src, tmp_path, "shape.h5")
    with h5py.File(path, "r+") as f:
        group = f["model_weights"]["fc2"]
        name = h5_weights.attr_strings(group, "weight_names")[1]
        del group[name]
        group[name] = np.ones(3, np.float32)
    with pytest.raises(UnsupportedError) as info:           # the converter checks shapes
        ml4f.compile_file(path, validate=False)
    assert info.value.layer == "fc2" and "bias has shape (3,), expected (4,)" in str(info.value)
    path = copy_to(src, tmp_path, "nogroup.h5")
    with h5py.File(path, "r+") as f:
        del f["model_weights"]["fc2"]
    error = refusal(path, ModelFormatError)
    assert error.layer == "fc2" and "no weights group" in str(error)


@pytest.mark.parametrize("fmt", ["k3_keras", "k2_keras"])
def test_keras_weight_groups_checked(saved, fmt, tmp_path):
    src = saved("conv2d")[fmt].path

    def drop_beta(f):                         # bn_noscale: [beta, mean, var] -> 2 arrays
        del f["layers/batch_normalization_2/vars/2"]

    error = refusal(rewrite_keras(src, tmp_path / "a.keras", weights_fn=drop_beta),
                    ModelFormatError, LAYER_KINDS)
    assert error.layer == "bn_noscale" and "2 weight arrays" in str(error)

    def drop_layer(f):
        del f["layers/dense"]

    error = refusal(rewrite_keras(src, tmp_path / "b.keras", weights_fn=drop_layer),
                    ModelFormatError)
    assert "layers/dense" in str(error)

    def rename(f):
        f["layers/conv2d/vars"].attrs["name"] = "someone_else"

    error = refusal(rewrite_keras(src, tmp_path / "c.keras", weights_fn=rename),
                    ModelFormatError)
    assert error.layer == "conv" and "someone_else" in str(error)

    def external(f):
        del f["layers/dense/vars/0"]
        f["layers/dense/vars/0"] = h5py.ExternalLink("/etc/passwd", "/x")

    error = refusal(rewrite_keras(src, tmp_path / "d.keras", weights_fn=external),
                    ModelFormatError)
    assert "ExternalLink" in str(error)


def test_keras_vars_sorted_numerically(saved, tmp_path):
    """vars/10 comes after vars/9 (not after vars/1)."""
    def more_vars(f):
        group = f["layers/lstm/cell/vars"]
        for i in range(len(group), 12):
            group[str(i)] = np.full((2,), i, np.float32)

    path = rewrite_keras(saved("recurrent")["k3_keras"].path, tmp_path / "more.keras",
                         weights_fn=more_vars)
    weights = load_model(path).layer("lstm").weights
    assert [float(w.ravel()[0]) for w in weights[3:]] == [float(i) for i in range(3, 12)]


@pytest.mark.parametrize("fmt", FORMATS)
def test_several_sublayers(saved, fmt):
    """MultiHeadAttention: the .h5 keeps get_weights() order, .keras does not (Bidirectional:
    its order, forward then backward, is known)."""
    s = saved("multi_sub")[fmt]
    if fmt.endswith("keras"):
        error = refusal(s.path)
        assert error.layer == "mha" and "several sub-objects" in str(error)
        return
    assert_weights_equal(load_model(s.path), s.model)


def test_h5_bytes_attributes(saved, tmp_path):
    """Older writers store model_config and weight names as fixed-length byte strings."""
    s = saved("conv1d")["k2_h5"]
    path = copy_to(s.path, tmp_path)
    with h5py.File(path, "r+") as f:
        f.attrs["model_config"] = np.bytes_(json.dumps(h5_config(s.path)).encode())
        f.attrs["keras_version"] = np.bytes_(b"2.2.4")
        for group in f["model_weights"].values():
            names = h5_weights.attr_strings(group, "weight_names")
            if names:
                group.attrs["weight_names"] = np.array([n.encode() for n in names], dtype="S")
    model = load_model(path)
    assert model.keras_version == "2.2.4"
    assert_weights_equal(model, s.model)
