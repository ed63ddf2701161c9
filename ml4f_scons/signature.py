"""What a compiled model depends on besides its file and options: the compiler's own code.

Version numbers are not enough: an updated checkout or a local edit changes the
compiler without changing `ml4f.__version__`.  The digest covers the content of
every Python file of the ml4f package, so SCons recompiles the models when any
of them changes, and the PlatformIO plugin can tell an outdated installed copy
from the library's own.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os


def source_digest(package_dir: str) -> str:
    """A hash of the names and contents of the package's .py files (16 hex digits)."""
    h = hashlib.sha256()
    for root, dirs, files in os.walk(package_dir):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(f for f in files if f.endswith(".py")):
            path = os.path.join(root, name)
            h.update(os.path.relpath(path, package_dir).replace(os.sep, "/").encode() + b"\0")
            with open(path, "rb") as fh:
                h.update(fh.read())
            h.update(b"\0")
    return h.hexdigest()[:16]


def package_dir(name: str = "ml4f") -> str | None:
    """The directory the package would be imported from, without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return list(spec.submodule_search_locations)[0]


def compiler_digest() -> str:
    where = package_dir()
    return source_digest(where) if where else "unavailable"
