"""`ml4f eval`: the compiled machine code, run in the emulator on every sample of
a labelled dataset, scored as a classifier and held against the reference.

One emulator (ml4f.emulator.Machine) per object serves every sample.  The
float64 reference (ml4f.reference) runs the same graph with the weights as the
code sees them (float16-rounded for a float16 object), so "predictions that
differ" counts what the generated code changes, never what float16 changes;
that is the separate float16 comparison, which runs the float32 object too.

A model with one output is a binary classifier (class 1 when the output is
above 0.5, as Keras's binary accuracy); otherwise the class is the argmax
(first index on ties, as NumPy and Keras).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import reference
from .datasets import Dataset, load
from .emulator import Machine
from .errors import ModelFormatError
from .progress import Progress
from .validate import as_seen_by_code, errors


@dataclass
class Target:
    """One object to evaluate and the graph it was compiled from."""
    object: bytes
    graph: object
    float16: bool
    path: str | None = None          # the object's file, when it came from one


def predict(outputs: np.ndarray) -> np.ndarray:
    outputs = outputs.reshape(len(outputs), -1)
    if outputs.shape[1] == 1:
        return (outputs[:, 0] > 0.5).astype(np.int64)
    return np.argmax(outputs, axis=1).astype(np.int64)


def run_object(target: Target, x: np.ndarray, bar=None) -> np.ndarray:
    """The object's outputs for every sample (float32, (N, output elements))."""
    machine = Machine(target.object, path=target.path)
    out = np.empty((len(x), machine.header.output_elems), np.float32)
    for i, sample in enumerate(x):
        if bar:
            bar(i, len(x))
        out[i] = machine.run(sample).output.ravel()
    if bar:
        bar(len(x), len(x))
    return out


def run_reference(target: Target, x: np.ndarray, bar=None) -> np.ndarray:
    graph = as_seen_by_code(target.graph, target.float16)
    out = np.empty((len(x), int(np.prod(graph.output_shape))), np.float64)
    for i, sample in enumerate(x):
        if bar:
            bar(i, len(x))
        out[i] = reference.run_graph(graph, sample).ravel()
    if bar:
        bar(len(x), len(x))
    return out


def scores(labels: np.ndarray, predicted: np.ndarray, classes: int) -> dict:
    """Accuracy, confusion matrix (rows: true class, columns: predicted) and
    per-class precision and recall (None where undefined)."""
    n = max(classes, 2)
    confusion = np.zeros((n, n), np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    per_class = []
    for c in range(n):
        tp = int(confusion[c, c])
        predicted_c, actual_c = int(confusion[:, c].sum()), int(confusion[c, :].sum())
        per_class.append({"class": c, "support": actual_c, "predicted": predicted_c,
                          "precision": tp / predicted_c if predicted_c else None,
                          "recall": tp / actual_c if actual_c else None})
    correct = int(np.trace(confusion))
    return {"samples": int(len(labels)), "correct": correct,
            "accuracy": correct / len(labels), "confusion": confusion.tolist(),
            "classes": per_class}


def agreement(outputs: np.ndarray, ref: np.ndarray) -> dict:
    """How far the code's outputs are from the reference's: predictions that
    differ, the largest error (ml4f.validate's measure) and absolute error."""
    err = max((float(errors(o, r).max()) for o, r in zip(outputs, ref)), default=0.0)
    differ = np.flatnonzero(predict(outputs) != predict(ref.astype(np.float32)))
    return {"differing_predictions": int(differ.size),
            "differing_samples": [int(i) for i in differ[:20]],
            "max_error": err,
            "max_abs_error": float(np.max(np.abs(outputs.astype(np.float64) - ref)))}


def check_target(target: Target, model_path: str) -> None:
    """An object given with --object must take and give what the model does."""
    h = Machine(target.object, path=target.path).header
    g = target.graph
    if tuple(h.input_shape) != tuple(g.input_shape) or tuple(h.output_shape) != tuple(g.output_shape):
        raise ModelFormatError(
            f"object shapes {list(h.input_shape)} -> {list(h.output_shape)} do not match the "
            f"model {model_path} ({list(g.input_shape)} -> {list(g.output_shape)})",
            path=target.path)


def evaluate(main: Target, data: Dataset, float32: Target | None = None, *,
             progress: bool | None = None) -> dict:
    """Run `main` (and `float32`, the float32 object, for the float16 comparison)
    on every sample; return the result as a JSON-ready dict."""
    def bar(label):
        return Progress(label, enabled=progress)

    with bar(f"running the {'float16' if main.float16 else 'float32'} object") as b:
        outputs = run_object(main, data.x, b)
    with bar("running the float64 reference") as b:
        ref = run_reference(main, data.x, b)
    classes = outputs.shape[1]
    predicted = predict(outputs)
    result = {"samples": int(len(data.x)), "data": data.source,
              "weights": "float16" if main.float16 else "float32",
              "outputs": classes, **scores(data.labels, predicted, classes),
              "reference": agreement(outputs, ref)}
    if float32 is not None:
        with bar("running the float32 object") as b:
            out32 = run_object(float32, data.x, b)
        pred32 = predict(out32)
        changed = np.flatnonzero(pred32 != predicted)
        s32 = scores(data.labels, pred32, classes)
        result["float32"] = {
            "accuracy": s32["accuracy"], "correct": s32["correct"],
            "changed_predictions": int(changed.size),
            "changed_samples": [int(i) for i in changed[:20]],
            "max_abs_difference": float(np.max(np.abs(outputs - out32))),
        }
    return result


def _pct(v) -> str:
    return "    –" if v is None else f"{v:.3f}"


def text(result: dict, name: str) -> str:
    """The human summary printed by `ml4f eval`."""
    n = result["samples"]
    lines = [f"{name}: {n:,} samples from {result['data']}, {result['weights']} weights, "
             "run in the emulator",
             f"  accuracy {result['accuracy']:.4f} ({result['correct']:,}/{n:,})"]
    per = result["classes"]
    width = max(5, len(f"{max(c['support'] for c in per):,}") + 1)
    lines.append("  class  precision  recall  support")
    for c in per:
        lines.append(f"  {c['class']:>5}  {_pct(c['precision']):>9}  {_pct(c['recall']):>6}  "
                     f"{c['support']:>7,}")
    conf = result["confusion"]
    cell = max(width, max(len(f"{v:,}") for row in conf for v in row) + 1)
    lines.append("  confusion matrix (rows: true class, columns: predicted class)")
    lines.append("       " + "".join(f"{j:>{cell}}" for j in range(len(conf))))
    for i, row in enumerate(conf):
        lines.append(f"  {i:>5}" + "".join(f"{v:>{cell},}" for v in row))
    r = result["reference"]
    lines.append(f"  float64 reference: {r['differing_predictions']:,} of {n:,} predictions "
                 f"differ; max output error {r['max_error']:.2g} "
                 f"(absolute {r['max_abs_error']:.2g})")
    if "float32" in result:
        f = result["float32"]
        lines.append(f"  float16 weights change {f['changed_predictions']:,} of {n:,} predictions "
                     f"against float32 weights (accuracy {result['accuracy']:.4f} vs "
                     f"{f['accuracy']:.4f}; max output difference {f['max_abs_difference']:.2g})")
    return "\n".join(lines)


def load_dataset(paths: list[str], target: Target) -> Dataset:
    g = target.graph
    return load(paths, int(np.prod(g.input_shape)), int(np.prod(g.output_shape)))


def read_object(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise ModelFormatError(f"cannot read object: {e.strerror}", path=path) from None
