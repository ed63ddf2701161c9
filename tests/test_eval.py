"""`ml4f eval`: the compiled code in the emulator, scored on labelled data, with
Keras (TensorFlow) as the ground truth; every dataset format; bad datasets."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

from keras_models import keras_module
from test_cli import DIGITS, EXAMPLES, ml4f

X = EXAMPLES / "digits_test_x.npy"
Y = EXAMPLES / "digits_test_y.npy"


def keras_digits():
    K = keras_module("k3")
    model = K.models.load_model(DIGITS, compile=False)
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def all_digits():
    """The 1,797 8x8 digits of scikit-learn (train and test): enough samples for
    a confusion matrix with errors in it."""
    from sklearn.datasets import load_digits
    d = load_digits()
    return (d.images / 16.0).astype(np.float32)[..., None], d.target.astype(np.int64)


def confusion(labels, predicted, n=10):
    m = np.zeros((n, n), np.int64)
    np.add.at(m, (labels, predicted), 1)
    return m.tolist()


def test_accuracy_on_the_shipped_test_set_is_keras_evaluate(tmp_path):
    x, y = np.load(X), np.load(Y)
    _, keras_accuracy = keras_digits().evaluate(x, y, verbose=0)
    r = ml4f("eval", DIGITS, "--data", X, Y, "--float16")
    assert r.returncode == 0, r.stderr
    shown = float(re.search(r"^  accuracy (\d\.\d{4}) \((\d+)/32\)$", r.stdout, re.M).group(1))
    assert shown == round(float(keras_accuracy), 4)
    # the float16 comparison is shown, with its own numbers
    assert re.search(r"float16 weights change \d+ of 32 predictions against float32 weights",
                     r.stdout), r.stdout
    assert "float64 reference: 0 of 32 predictions differ" in r.stdout
    j = json.loads(ml4f("eval", DIGITS, "--data", X, Y, "--json").stdout)
    assert j["accuracy"] == pytest.approx(float(keras_accuracy), abs=1e-6)
    predicted = keras_digits().predict(x, verbose=0).argmax(axis=1)
    assert j["confusion"] == confusion(y, predicted)


def test_confusion_matrix_and_per_class_scores_match_keras_predictions(tmp_path):
    x, y = all_digits()
    np.savez(tmp_path / "digits.npz", x=x, y=y)
    r = ml4f("eval", DIGITS, "--data", tmp_path / "digits.npz", "--json", "--float16")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    predicted = keras_digits().predict(x, verbose=0).argmax(axis=1)
    expected = confusion(y, predicted)
    assert j["confusion"] == expected
    assert 0 < j["samples"] - j["correct"] == int(np.sum(predicted != y))    # errors to find
    for c in j["classes"]:
        tp = expected[c["class"]][c["class"]]
        assert c["support"] == int(np.sum(y == c["class"]))
        assert c["recall"] == pytest.approx(tp / c["support"])
        assert c["precision"] == pytest.approx(tp / int(np.sum(predicted == c["class"])))
    assert j["reference"]["differing_predictions"] == 0
    assert j["reference"]["max_error"] < 1e-5
    f32 = j["float32"]
    assert f32["max_abs_difference"] > 0          # float16 weights really were run
    assert f32["correct"] == int(np.sum(predicted == y))


def test_dataset_formats_agree(tmp_path):
    x, y = np.load(X), np.load(Y)
    np.savez(tmp_path / "d.npz", x=x, y=np.eye(10, dtype=np.float32)[y])     # one-hot
    (tmp_path / "ml4f.json").write_text(json.dumps(     # the original ML4F format: one-hot rows
        {"x": x[..., 0].tolist(), "y": np.eye(10, dtype=int)[y].tolist()}))
    (tmp_path / "index.json").write_text(json.dumps({"x": x.tolist(), "y": y.tolist()}))
    results = []
    for data in ([X, Y], [tmp_path / "d.npz"], [tmp_path / "ml4f.json"], [tmp_path / "index.json"]):
        r = ml4f("eval", DIGITS, "--data", *data, "--json")
        assert r.returncode == 0, (data, r.stderr)
        j = json.loads(r.stdout)
        results.append((j["correct"], j["confusion"]))
    assert all(res == results[0] for res in results)


def test_eval_of_a_compiled_object(tmp_path):
    assert ml4f("compile", DIGITS, "-o", tmp_path, "-b", "d16", "--float16").returncode == 0
    r = ml4f("eval", DIGITS, "--data", X, Y, "--object", tmp_path / "d16.bin", "--float16",
             "--json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert j["weights"] == "float16" and j["reference"]["max_error"] < 1e-5
    assert "float32" in j
    # an object of another model is refused in one line
    gesture = EXAMPLES / "gesture.h5"
    assert ml4f("compile", gesture, "-o", tmp_path, "-b", "g").returncode == 0
    r = ml4f("eval", DIGITS, "--data", X, Y, "--object", tmp_path / "g.bin")
    assert r.returncode == 1 and "g.bin" in r.stderr and "do not match" in r.stderr, r.stderr


def _write_npy_pair(tmp_path, x, y):
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    return [tmp_path / "x.npy", tmp_path / "y.npy"], "y.npy"


def _shape_mismatch(tmp_path):
    return _write_npy_pair(tmp_path, np.zeros((4, 7, 7), np.float32), np.zeros(4, np.int32))[0], \
        "x.npy", "shape mismatch"


def _wrong_dtype(tmp_path):
    data, _ = _write_npy_pair(tmp_path, np.zeros((4, 8, 8, 1), np.float32),
                              np.array(["a", "b", "c", "d"]))
    return data, "y.npy", "wrong dtype"


def _fractional_labels(tmp_path):
    data, _ = _write_npy_pair(tmp_path, np.zeros((4, 8, 8, 1), np.float32),
                              np.array([0.0, 1.5, 2.0, 3.0]))
    return data, "y.npy", "not a class index"


def _nan(tmp_path):
    x = np.zeros((4, 8, 8, 1), np.float32)
    x[2, 3, 3, 0] = np.nan
    data, _ = _write_npy_pair(tmp_path, x, np.zeros(4, np.int32))
    return data, "x.npy", "NaN in input sample 2"


def _out_of_range(tmp_path):
    data, _ = _write_npy_pair(tmp_path, np.zeros((4, 8, 8, 1), np.float32),
                              np.array([0, 1, 10, 3]))
    return data, "y.npy", "out of range"


def _empty(tmp_path):
    (tmp_path / "empty.npz").write_bytes(b"")
    return [tmp_path / "empty.npz"], "empty.npz", "empty file"


def _no_samples(tmp_path):
    np.savez(tmp_path / "none.npz", x=np.zeros((0, 8, 8, 1), np.float32), y=np.zeros(0, np.int32))
    return [tmp_path / "none.npz"], "none.npz", "no samples"


def _count_mismatch(tmp_path):
    data, _ = _write_npy_pair(tmp_path, np.zeros((4, 8, 8, 1), np.float32), np.zeros(3, np.int32))
    return data, "y.npy", "4 input samples but 3 labels"


def _missing_key(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 8, 8, 1), np.float32), labels=np.zeros(4))
    return [tmp_path / "d.npz"], "d.npz", "lacks array(s) y"


def _object_array(tmp_path):
    np.save(tmp_path / "x.npy", np.array([None, 1], dtype=object), allow_pickle=True)
    np.save(tmp_path / "y.npy", np.zeros(2, np.int32))
    return [tmp_path / "x.npy", tmp_path / "y.npy"], "x.npy", "object arrays are not accepted"


def _ragged_json(tmp_path):
    (tmp_path / "d.json").write_text(json.dumps({"x": [[1, 2], [3]], "y": [0, 1]}))
    return [tmp_path / "d.json"], "d.json", "same shape"


def _bad_json(tmp_path):
    (tmp_path / "d.json").write_text('{"x": [1, 2')
    return [tmp_path / "d.json"], "d.json", "not readable as JSON"


def _not_one_hot(tmp_path):
    y = np.eye(10)[[0, 1, 2, 3]]
    y[1, 5] = 1
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 8, 8, 1), np.float32), y=y)
    return [tmp_path / "d.npz"], "d.npz", "label 1 is not one-hot"


BAD_DATA = {f.__name__[1:]: f for f in (
    _shape_mismatch, _wrong_dtype, _fractional_labels, _nan, _out_of_range, _empty, _no_samples,
    _count_mismatch, _missing_key, _object_array, _ragged_json, _bad_json, _not_one_hot)}


@pytest.mark.parametrize("case", BAD_DATA)
def test_bad_dataset_fails_in_one_line(tmp_path, case):
    data, named, problem = BAD_DATA[case](tmp_path)
    r = ml4f("eval", DIGITS, "--data", *data, "--no-validate")
    assert r.returncode == 1, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert named in lines[0] and problem in lines[0], lines[0]
    assert r.stdout == ""


def test_usage_errors_exit_2(tmp_path):
    r = ml4f("eval", DIGITS, "--data", X, Y, X)
    assert r.returncode == 2 and "--data takes one file" in r.stderr
    assert ml4f("eval", DIGITS).returncode == 2
