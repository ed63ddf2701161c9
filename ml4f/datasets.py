"""Labelled datasets for `ml4f eval`: read, check, and hand back (x, labels).

Formats:

- `DATA.npz` with arrays `x` and `y`;
- a pair `X.npy Y.npy`;
- the original ML4F's eval JSON: `{"x": [sample, ...], "y": [label, ...]}` with
  each sample a (nested) list of numbers and each label one-hot (as ML4F
  writes it) or a class index.

Samples are read row-major; each must have as many values as the model's
input (the shapes may differ, as in ML4F's JSON, e.g. 8x8 for an 8x8x1 input).
Labels are class indices or one-hot rows.  Nothing is ever unpickled or
executed: .npy/.npz are read with allow_pickle=False.

Every problem is a DatasetError naming the file and what is wrong with it.
"""
from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ML4FError

MAX_FILE_BYTES = 2 << 30          # refuse, rather than swap on, a dataset over 2 GiB


class DatasetError(ML4FError):
    """The dataset cannot be evaluated: unreadable, malformed or not matching the model."""


@dataclass
class Dataset:
    x: np.ndarray          # float32, (N, input elements)
    labels: np.ndarray     # int64 class indices, (N,)
    source: str            # the file(s), as given


def load(paths: list[str], input_elems: int, classes: int) -> Dataset:
    """Read a dataset for a model with `input_elems` input values and `classes`
    outputs (1: a binary classifier with a 0..1 output)."""
    if not 1 <= len(paths) <= 2:
        raise DatasetError("--data takes one file (.npz or .json) or two (X.npy Y.npy)")
    for p in paths:
        _check_file(p)
    if len(paths) == 2:
        x, y = _npy(paths[0]), _npy(paths[1])
        x_src, y_src = paths[0], paths[1]
    else:
        path = paths[0]
        suffix = Path(path).suffix.lower()
        if suffix == ".npz":
            x, y = _npz(path)
        elif suffix == ".json":
            x, y = _json(path)
        elif suffix == ".npy":
            raise DatasetError("a .npy file holds one array: give the inputs and the labels "
                               "as two files (--data X.npy Y.npy)", path=path)
        else:
            raise DatasetError("unknown dataset format (expected .npz, .json, or X.npy Y.npy)",
                               path=path)
        x_src = y_src = path
    x = _inputs(x, input_elems, x_src)
    labels = _labels(y, classes, y_src)
    if len(labels) != len(x):
        raise DatasetError(f"{len(x)} input samples but {len(labels)} labels", path=y_src)
    return Dataset(x, labels, " ".join(paths))


def _check_file(path: str) -> None:
    try:
        size = os.path.getsize(path)
    except OSError as e:
        raise DatasetError(f"cannot read dataset: {e.strerror}", path=path) from None
    if not os.path.isfile(path):
        raise DatasetError("not a file", path=path)
    if size == 0:
        raise DatasetError("empty file", path=path)
    if size > MAX_FILE_BYTES:
        raise DatasetError(f"dataset file too large ({size:,} bytes; at most "
                           f"{MAX_FILE_BYTES:,})", path=path)


def _npy(path: str) -> np.ndarray:
    try:
        a = np.load(path, allow_pickle=False)
    except ValueError as e:
        if "pickle" in str(e).lower():
            raise DatasetError("wrong dtype: object arrays are not accepted (numbers only)",
                               path=path) from None
        raise DatasetError(f"not a readable .npy file ({e})", path=path) from None
    except (OSError, EOFError) as e:
        raise DatasetError(f"not a readable .npy file ({e})", path=path) from None
    if not isinstance(a, np.ndarray):
        raise DatasetError("not a .npy file (an .npz archive? use --data DATA.npz)", path=path)
    return a


def _npz(path: str):
    try:
        with np.load(path, allow_pickle=False) as z:
            if not isinstance(z, np.lib.npyio.NpzFile):
                raise DatasetError("not an .npz archive", path=path)
            missing = [k for k in ("x", "y") if k not in z.files]
            if missing:
                raise DatasetError(f"the archive lacks array(s) {', '.join(missing)} "
                                   f"(has: {', '.join(z.files) or 'none'}); it needs x and y",
                                   path=path)
            return z["x"], z["y"]
    except ValueError as e:
        if "pickle" in str(e).lower():
            raise DatasetError("wrong dtype: object arrays are not accepted (numbers only)",
                               path=path) from None
        raise DatasetError(f"not a readable .npz archive ({e})", path=path) from None
    except (OSError, EOFError, zipfile.BadZipFile) as e:
        raise DatasetError(f"not a readable .npz archive ({e})", path=path) from None


def _json(path: str):
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise DatasetError(f"not readable as JSON ({e})", path=path) from None
    if not isinstance(data, dict) or "x" not in data or "y" not in data:
        raise DatasetError('expected an object {"x": [samples], "y": [labels]} '
                           "(the ML4F eval format)", path=path)
    arrays = []
    for key in ("x", "y"):
        try:
            arrays.append(np.array(data[key], dtype=np.float64))
        except (ValueError, TypeError):
            raise DatasetError(f'"{key}" must hold numbers only, every entry of the same shape',
                               path=path) from None
    return arrays[0], arrays[1]


def _inputs(x: np.ndarray, elems: int, path: str) -> np.ndarray:
    if x.dtype.kind not in "fiub":
        raise DatasetError(f"wrong dtype: inputs are {x.dtype}, expected numbers (float32)",
                           path=path)
    if x.ndim == 0 or len(x) == 0:
        raise DatasetError("no samples", path=path)
    per = int(np.prod(x.shape[1:], dtype=np.int64)) if x.ndim > 1 else 1
    if per != elems:
        raise DatasetError(f"shape mismatch: each sample has {per} values (inputs shaped "
                           f"{list(x.shape)}), the model takes {elems}", path=path)
    flat = x.reshape(len(x), elems)
    if flat.dtype.kind == "f":
        bad = ~np.isfinite(flat)
        if bad.any():
            i = int(np.argwhere(bad.any(axis=1))[0, 0])
            kind = "NaN" if np.isnan(flat[i]).any() else "infinite value"
            raise DatasetError(f"{kind} in input sample {i}", path=path)
    out = flat.astype(np.float32)
    if not np.isfinite(out).all():
        i = int(np.argwhere(~np.isfinite(out).all(axis=1))[0, 0])
        raise DatasetError(f"input sample {i} is out of float32 range", path=path)
    return out


def _labels(y: np.ndarray, classes: int, path: str) -> np.ndarray:
    if y.dtype.kind not in "fiub":
        raise DatasetError(f"wrong dtype: labels are {y.dtype}, expected class indices or "
                           "one-hot rows", path=path)
    if y.ndim == 0 or len(y) == 0:
        raise DatasetError("no labels", path=path)
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise DatasetError("NaN or infinite value in the labels", path=path)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim == 2:
        if y.shape[1] != max(classes, 2) or classes == 1:
            raise DatasetError(f"shape mismatch: one-hot labels with {y.shape[1]} columns, the "
                               f"model has {classes} outputs", path=path)
        ones = (y == 1).sum(axis=1)
        zeros = (y == 0).sum(axis=1)
        bad = np.flatnonzero((ones != 1) | (ones + zeros != y.shape[1]))
        if bad.size:
            raise DatasetError(f"label {int(bad[0])} is not one-hot (one 1, the rest 0)",
                               path=path)
        return np.argmax(y, axis=1).astype(np.int64)
    if y.ndim != 1:
        raise DatasetError(f"labels shaped {list(y.shape)}: expected one class index per sample "
                           "or one-hot rows", path=path)
    if y.dtype.kind == "f":
        frac = np.flatnonzero(y != np.round(y))
        if frac.size:
            raise DatasetError(f"wrong dtype: label {int(frac[0])} is {y[frac[0]]!r}, not a "
                               "class index", path=path)
    n = max(classes, 2)
    out = np.flatnonzero((y < 0) | (y >= n))
    if out.size:
        i = int(out[0])
        raise DatasetError(f"label {i} is {y[i]:g}, out of range: the model has classes "
                           f"0..{n - 1}", path=path)
    return y.astype(np.int64)
