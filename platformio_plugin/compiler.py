"""Makes sure the ml4f compiler is importable by the Python that runs PlatformIO's SCons."""
from __future__ import annotations

import importlib
import importlib.util
import json
import os
import subprocess
import sys


def library_version(library_dir: str) -> str | None:
    try:
        with open(os.path.join(library_dir, "library.json")) as fh:
            return json.load(fh).get("version")
    except (OSError, ValueError):
        return None


def install_command(env, library_dir: str) -> list:
    python = env.subst("$PYTHONEXE") or sys.executable
    return [python, "-m", "pip", "install", "--quiet", library_dir]


def ensure_compiler(env, library_dir: str) -> None:
    """Install ml4f from the library's own folder when PlatformIO's Python lacks it.

    Cheap when it is there (a module lookup).  When the installation fails the
    models' build steps report it with the command to run, so the build fails
    with that message instead of here."""
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
    wanted = library_version(library_dir)
    try:
        import ml4f
    except ImportError:
        return
    if wanted and ml4f.__version__ != wanted:
        print(f"ML4F: warning: PlatformIO's Python has ml4f {ml4f.__version__}, this library is "
              f"{wanted}; update with: {env['ML4F_INSTALL_HINT'].replace('$$', '$')}", flush=True)
