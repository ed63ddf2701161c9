"""Families of modules that register themselves in a table when imported.

Converters, ops, references and kernels each live in one package with a module
per family; importing the package imports every module in it (in name order,
so registration is deterministic), and a new family is a new file, not an edit
of an `__init__`.
"""
from __future__ import annotations

import importlib
import pkgutil


def load_family(package: str, path) -> None:
    """Import every module of `package` (whose `__path__` is `path`)."""
    for info in pkgutil.iter_modules(path):
        if not info.name.startswith("_"):
            importlib.import_module(f"{package}.{info.name}")
