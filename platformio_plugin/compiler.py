"""Makes sure the ml4f compiler is importable by the Python that runs PlatformIO's SCons, and
that it is this library's own.

PlatformIO's Python needs ml4f's dependencies (numpy, h5py, unicorn): when ml4f
is not importable at all, the library installs itself with pip.  The compiler
that runs is then always the library folder's own code (its folder goes first
on sys.path): an installed copy may be older than the checkout with the same
version number.  The SCons signature holds a digest of the compiler's files
(ml4f_scons.signature), so models recompile when that code changes.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import subprocess
import sys


def install_command(env, library_dir: str) -> list:
    python = env.subst("$PYTHONEXE") or sys.executable
    return [python, "-m", "pip", "install", "--quiet", library_dir]


def ensure_compiler(env, library_dir: str) -> None:
    """Install ml4f (for its dependencies) when PlatformIO's Python lacks it, then make the
    library's own ml4f the one imported.

    When the installation fails the models' build steps report it with the command to run,
    so the build fails with that message instead of here."""
    command = install_command(env, library_dir)
    env["ML4F_INSTALL_HINT"] = " ".join(f'"{c}"' if " " in c else c for c in command
                                        ).replace("$", "$$")
    if importlib.util.find_spec("ml4f") is None:
        print(f"ML4F: installing the ml4f compiler from {library_dir} into {command[0]}", flush=True)
        result = subprocess.run(command)
        importlib.invalidate_caches()
        if result.returncode != 0:
            print("ML4F: the installation failed; see pip's messages above", flush=True)
            return
    use_library_copy(library_dir)


def use_library_copy(library_dir: str) -> None:
    """Import ml4f from the library's folder, not from an installed copy of another day."""
    own = os.path.join(library_dir, "ml4f")
    if not os.path.isfile(os.path.join(own, "__init__.py")):
        return
    if library_dir not in sys.path:
        sys.path.insert(0, library_dir)
    loaded = sys.modules.get("ml4f")
    if loaded is not None and os.path.dirname(os.path.abspath(loaded.__file__)) != os.path.abspath(own):
        for name in [m for m in sys.modules if m == "ml4f" or m.startswith("ml4f.")]:
            del sys.modules[name]           # imported from elsewhere before this script ran
    importlib.invalidate_caches()
