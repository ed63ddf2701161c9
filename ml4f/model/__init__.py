"""Read Keras model files (legacy ``.h5`` of Keras 2 and 3, ``.keras`` archives) without
TensorFlow: only h5py, json, zipfile and NumPy.  Nothing from the file is ever executed.

    from ml4f.model import load_model
    model = load_model("model.keras", check_layer=None)

``check_layer(name, class_name, config)`` is called for every layer (InputLayer included)
before any weight is read; an :class:`~ml4f.errors.ML4FError` it raises is collected together
with the reader's own refusals and reported as one error.
"""
from __future__ import annotations

import os
import zipfile
import zlib
from contextlib import contextmanager
from typing import Iterator

from ..errors import ML4FError, ModelFormatError
from .config import CheckLayer, Structure, parse_config, raise_problems, run_layer_checks
from .detect import H5, KERAS, detect_format
from .records import Layer, Model

__all__ = ["load_model", "Model", "Layer"]

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


def _check(structure: Structure, check_layer: CheckLayer | None, path: str) -> None:
    run_layer_checks(structure, check_layer)
    with _reading(path, "the model"):
        raise_problems(structure.problems)


def _model(path: str, fmt: str, version: str, structure: Structure) -> Model:
    return Model(path=path, format=fmt, keras_version=version, name=structure.name,
                 input_shape=structure.input_shape, layers=structure.layers,
                 inputs=structure.inputs, outputs=structure.outputs)


def _load_h5(path: str, check_layer: CheckLayer | None) -> Model:
    import h5py

    from . import h5_weights

    with _reading(path, "the HDF5 file"):
        handle = h5py.File(path, "r")
    try:
        with _reading(path, "the model configuration"):
            config, version = h5_weights.read_config(handle)
            structure = parse_config(config)
        _check(structure, check_layer, path)
        with _reading(path, "the weights"):
            h5_weights.read_weights(handle, structure)
    finally:
        with _reading(path, "the HDF5 file"):
            handle.close()
    return _model(path, H5, version, structure)


def _load_keras(path: str, check_layer: CheckLayer | None) -> Model:
    from . import keras_zip

    with _reading(path, "the .keras archive"):
        archive = keras_zip.KerasArchive(path)
    with _reading(path, "the model configuration"):
        structure = parse_config(archive.config)
    _check(structure, check_layer, path)
    with _reading(path, "the weights (model.weights.h5)"):
        with archive.open_weights() as weights:
            keras_zip.read_weights(weights, structure)
    return _model(path, KERAS, archive.keras_version, structure)


def load_model(path, check_layer: CheckLayer | None = None) -> Model:
    """Read a Keras model file (format detected from its content) into a :class:`Model`.

    Raises :class:`~ml4f.errors.ModelFormatError` for unreadable files,
    :class:`~ml4f.errors.UnsupportedError` for refused layers and structures and
    :class:`~ml4f.errors.InvalidModelError` for non-finite weights; ``error.path`` is the file.
    """
    path = os.fspath(path)
    with _reading(path, "the file"):
        fmt = detect_format(path)
    if fmt == H5:
        return _load_h5(path, check_layer)
    return _load_keras(path, check_layer)
