"""Recognise a model file by its content: HDF5 (legacy ``.h5``) or zip (``.keras``)."""
from __future__ import annotations

import io
import json
import os
import re
import zipfile

from ..errors import InvalidModelError, ModelFormatError
from ..limits import describe

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06")

H5 = "h5"
KERAS = "keras"


def _hdf5_at(data: bytes) -> bool:
    """HDF5 signature at offset 0, 512, 1024, 2048… (a user block may precede it)."""
    offset = 0
    while offset + len(HDF5_SIGNATURE) <= len(data):
        if data[offset:offset + len(HDF5_SIGNATURE)] == HDF5_SIGNATURE:
            return True
        offset = 512 if offset == 0 else offset * 2
    return False


def read_file(path: str, max_bytes: int) -> bytes:
    """The bytes of a model file; :class:`ModelFormatError` for what is not a file,
    :class:`InvalidModelError` for a file larger than `max_bytes`."""
    if os.path.isdir(path):
        entries = set(os.listdir(path))
        if entries & {"saved_model.pb", "saved_model.pbtxt", "keras_metadata.pb"}:
            raise ModelFormatError(
                "is a TensorFlow SavedModel directory, not a Keras model file; save the model "
                "with model.save('model.keras') or model.save('model.h5')", path=path)
        if "model.json" in entries:
            raise ModelFormatError("is a directory (a TensorFlow.js model?), not a Keras .h5 or "
                                   ".keras model file", path=path)
        raise ModelFormatError("is a directory, not a Keras .h5 or .keras model file", path=path)
    if not os.path.exists(path):
        raise ModelFormatError("file not found", path=path)
    if not os.path.isfile(path):
        raise ModelFormatError("is not a regular file", path=path)
    with open(path, "rb") as handle:
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise InvalidModelError(f"file is larger than {describe(max_bytes)}, more than a model "
                                "within --max-bytes can take", path=path, key="max_bytes")
    if not data:
        raise ModelFormatError("file is empty", path=path)
    return data


def detect_format(path: str, data: bytes) -> str:
    """``"h5"`` or ``"keras"`` from a model file's bytes; :class:`ModelFormatError`
    for anything else."""
    head = data[:16]
    if head.startswith(ZIP_SIGNATURES):
        return KERAS
    if _hdf5_at(data):
        return H5
    if zipfile.is_zipfile(io.BytesIO(data)):
        return KERAS
    if head[4:8] == b"TFL3":
        raise ModelFormatError("is a TensorFlow Lite model, not a Keras .h5 or .keras model",
                               path=path)
    text_kind = _text_kind(data[:4096])
    if text_kind == "ini":
        raise ModelFormatError("is an INI file (sections in [brackets], e.g. platformio.ini), not a "
                               "Keras .h5 or .keras model", path=path)
    if text_kind == "json":
        raise ModelFormatError("is a JSON file, not a Keras .h5 or .keras model (a TensorFlow.js "
                               "model.json or a bare configuration?)", path=path)
    raise ModelFormatError("not a Keras model file (neither HDF5 nor a .keras zip archive)",
                           path=path)


INI_SECTION = re.compile(rb"^\s*\[[^\[\]\r\n]+\]\s*$")


def _text_kind(head: bytes) -> str | None:
    """"json" or "ini" for text files often passed by mistake, else None.  A leading '[' is
    both a JSON array and an INI section: a line that is only `[name]` makes it INI."""
    start = head.lstrip()[:1]
    if start == b"{":
        return "json"
    if start == b"[":
        first = head.lstrip().split(b"\n", 1)[0]
        return "ini" if INI_SECTION.match(first) and not first.strip().startswith(b"[[") \
            and not _is_json(first) else "json"
    if any(INI_SECTION.match(line) for line in head.splitlines()[:20]) and b"=" in head:
        return "ini"
    return None


def _is_json(line: bytes) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True
