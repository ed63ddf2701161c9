"""Typed errors.  Every failure a user can cause ends in one of these.

`str(error)` is the single line the CLI prints: it names the file, the layer
(path name and Keras class) and the offending option where they are known.
"""
from __future__ import annotations


class ML4FError(Exception):
    """Base class: a problem with the input or the options, reported in one line."""

    def __init__(self, message: str, *, path: str | None = None, layer: str | None = None,
                 layer_class: str | None = None, key: str | None = None,
                 value: object = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.layer = layer
        self.layer_class = layer_class
        self.key = key
        self.value = value

    def with_path(self, path: str) -> "ML4FError":
        if self.path is None:
            self.path = path
        return self

    def __str__(self) -> str:
        parts = []
        if self.path:
            parts.append(str(self.path))
        if self.layer:
            cls = f" ({self.layer_class})" if self.layer_class else ""
            parts.append(f"layer '{self.layer}'{cls}")
        parts.append(self.message)
        return ": ".join(parts).replace("\n", " ")

    def as_dict(self) -> dict:
        return {"error": type(self).__name__, "message": self.message, "path": self.path,
                "layer": self.layer, "class": self.layer_class, "key": self.key,
                "value": None if self.value is None else repr(self.value)}


class ModelFormatError(ML4FError):
    """The file is not a readable Keras model (truncated, not HDF5/zip, missing parts)."""


class UnsupportedError(ML4FError):
    """The model uses a layer kind, option or structure this compiler does not compile."""


class InvalidModelError(ML4FError):
    """The model is readable but its contents are wrong (NaN weights, bad shapes)."""


class UsageError(ML4FError):
    """Contradictory or invalid options."""


class CodegenError(ML4FError):
    """The code generator could not produce code (e.g. a limit of the target was hit)."""


class AssemblyError(ML4FError):
    """An instruction cannot be encoded (operand out of range, branch too far)."""


class EmulationError(ML4FError):
    """The generated code misbehaved in the emulator (fault, ABI violation, stray write)."""


class ValidationError(ML4FError):
    """The generated code's output differs from the reference beyond the tolerance."""


class BudgetError(ML4FError):
    """The model cannot be compiled within the memory budget asked for (--max-arena)."""


class OutputError(ML4FError):
    """The output files cannot be written (a file where a directory should be, no
    permission, disk full)."""
