"""Read Keras model files (legacy ``.h5`` of Keras 2 and 3, ``.keras`` archives) without
TensorFlow: only h5py, json, zipfile and NumPy.  Nothing from the file is ever executed.

    from ml4f.model import load_model
    model = load_model("model.keras", kinds=None)

``kinds`` (see :class:`~ml4f.model.structure.LayerKinds`; the compiler passes its converter
table) is asked about every layer (InputLayer included) before any weight is read: an
:class:`~ml4f.errors.ML4FError` its ``check`` raises is collected together with the reader's
own refusals and reported as one error; its ``weight_names`` say how many arrays each layer
must have.  The file is read once; its SHA-256 is ``Model.sha256``.

The reading runs in a child process with a time limit (``limits.timeout``; see child.py):
a damaged file that makes libhdf5 spin or crash ends as one error naming the file.  Every
size (the file, archive members, the configuration, each weight array and all of them) is
checked against ``limits`` (see ml4f.limits) before it is read or inflated.
"""
from __future__ import annotations

import hashlib
import io
import os
import zipfile
import zlib
from contextlib import contextmanager
from typing import Iterator

from ..errors import ML4FError, ModelFormatError
from ..limits import Limits
from .child import run_in_child
from .detect import H5, KERAS, detect_format, read_file
from .records import Layer, Model
from .structure import (
    LayerKinds,
    Structure,
    parse_config,
    raise_problems,
    run_layer_checks,
)

__all__ = ["load_model", "Model", "Layer", "LayerKinds"]

_READ_ERRORS = (OSError, ValueError, KeyError, IndexError, TypeError, AttributeError, EOFError,
                RuntimeError, OverflowError, MemoryError, UnicodeError, zipfile.BadZipFile,
                zlib.error)


def _describe(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    if len(text) > 160:
        text = text[:157] + "..."
    return text


@contextmanager
def _reading(path: str, what: str) -> Iterator[None]:
    """Turn every failure while reading into an ML4F error that names the file."""
    try:
        yield
    except ML4FError as error:
        raise error.with_path(path)
    except _READ_ERRORS as error:
        raise ModelFormatError(f"cannot read {what}, the file is damaged or truncated "
                               f"({_describe(error)})", path=path) from None


def _check(structure: Structure, kinds: LayerKinds | None, path: str) -> None:
    run_layer_checks(structure, kinds)
    with _reading(path, "the model"):
        raise_problems(structure.problems)


def _model(path: str, fmt: str, version: str, structure: Structure, data: bytes) -> Model:
    return Model(path=path, format=fmt, keras_version=version, name=structure.name,
                 input_shape=structure.input_shape, layers=structure.layers,
                 inputs=structure.inputs, outputs=structure.outputs,
                 sha256=hashlib.sha256(data).hexdigest())


def _load_h5(path: str, data: bytes, kinds: LayerKinds | None, limits: Limits) -> Model:
    import h5py

    from . import h5_weights

    with _reading(path, "the HDF5 file"):
        handle = h5py.File(io.BytesIO(data), "r")
    try:
        with _reading(path, "the model configuration"):
            config, version = h5_weights.read_config(handle, limits)
            structure = parse_config(config)
        _check(structure, kinds, path)
        with _reading(path, "the weights"):
            h5_weights.read_weights(handle, structure, kinds, limits)
    finally:
        with _reading(path, "the HDF5 file"):
            handle.close()
    return _model(path, H5, version, structure, data)


def _load_keras(path: str, data: bytes, kinds: LayerKinds | None, limits: Limits) -> Model:
    from . import keras_zip

    with _reading(path, "the .keras archive"):
        archive = keras_zip.KerasArchive(io.BytesIO(data), limits)
    with _reading(path, "the model configuration"):
        structure = parse_config(archive.config)
    _check(structure, kinds, path)
    with _reading(path, "the weights (model.weights.h5)"):
        with archive.open_weights() as weights:
            keras_zip.read_weights(weights, structure, kinds, limits)
    return _model(path, KERAS, archive.keras_version, structure, data)


def load_model(path, kinds: LayerKinds | None = None, *, limits: Limits | None = None,
               isolate: bool = True) -> Model:
    """Read a Keras model file (format detected from its content) into a :class:`Model`.

    Raises :class:`~ml4f.errors.ModelFormatError` for unreadable files (also when reading
    takes more than ``limits.timeout`` seconds), :class:`~ml4f.errors.UnsupportedError` for
    refused layers and structures and :class:`~ml4f.errors.InvalidModelError` for
    non-finite weights or sizes over ``limits``; ``error.path`` is the file.  With
    ``isolate=False`` the file is read in this process, without a time limit (tests).
    """
    path = os.fspath(path)
    limits = limits or Limits()
    if not isolate:
        return _load(path, kinds, limits)
    from . import keras_zip  # noqa: F401  (h5py imported once here, not in every child)
    return run_in_child(_load, path, kinds, limits, timeout=limits.timeout, path=path)


def _load(path: str, kinds: LayerKinds | None, limits: Limits) -> Model:
    with _reading(path, "the file"):
        data = read_file(path, limits.file_bytes)
        fmt = detect_format(path, data)
    if fmt == H5:
        return _load_h5(path, data, kinds, limits)
    return _load_keras(path, data, kinds, limits)
