"""The core package tool-scons, which PlatformIO runs every build with.

PlatformIO starts `python <tool-scons>/scons.py` with its own interpreter.  The
package written here carries SCons itself beside that launcher, so it works
whichever Python runs PlatformIO: a copy of the SCons installed next to this
command when it is the release PlatformIO pins, else that release installed
into the package with pip.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

from .packages import declared_version, install_dir, package_dir

LAUNCHER = """\
# launcher used by PlatformIO: python scons.py ...  (SCons lies beside this file)
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from SCons.Script.Main import main

if __name__ == "__main__":
    main()
"""


def tool_scons_version(scons_version: str) -> str:
    """SCons X.Y.Z is packaged by PlatformIO as tool-scons X.(40000 + 100 Y + Z).0."""
    major, minor, patch = (int(p) for p in scons_version.split(".")[:3])
    return f"{major}.{40000 + 100 * minor + patch}.0"


def scons_release(tool_version: str) -> str:
    """tool-scons 4.41101.0 -> SCons 4.11.1 (the inverse of tool_scons_version)."""
    major, packed = (int(p) for p in tool_version.split(".")[:2])
    return f"{major}.{(packed - 40000) // 100}.{packed % 100}"


def required_spec() -> str:
    from platformio.dependencies import get_core_dependencies
    return get_core_dependencies()["tool-scons"]


def _installed_scons():
    """(version, package directory) of an importable SCons, or None."""
    try:
        import SCons
    except ImportError:
        return None
    return SCons.__version__, os.path.dirname(os.path.abspath(SCons.__file__))


def write_tool_scons(core_dir: str) -> str:
    """Write CORE_DIR/packages/tool-scons@VERSION; returns its directory.  Raises RuntimeError
    when the pinned SCons can be neither found nor installed."""
    import semantic_version

    spec = required_spec()
    wanted = semantic_version.SimpleSpec(spec)
    version = declared_version(spec)
    if version is None:
        raise RuntimeError(f"cannot tell which SCons release tool-scons {spec} stands for")
    release = scons_release(version)
    found = _installed_scons()
    dest = package_dir(core_dir, "tool-scons", version)
    tmp_src = dest + ".src"
    shutil.rmtree(tmp_src, ignore_errors=True)
    os.makedirs(tmp_src)
    try:
        if found and semantic_version.Version(tool_scons_version(found[0])) in wanted:
            shutil.copytree(found[1], os.path.join(tmp_src, "SCons"),
                            ignore=shutil.ignore_patterns("__pycache__"))
            origin = f"a copy of the SCons {found[0]} installed in {os.path.dirname(found[1])}"
        else:
            _pip_install_into(tmp_src, f"scons=={release}")
            origin = f"SCons {release} installed into this folder with pip"
        with open(os.path.join(tmp_src, "scons.py"), "w") as fh:
            fh.write(LAUNCHER)
        manifest = {"name": "tool-scons", "version": version,
                    "description": f"SCons {release}: {origin}",
                    "keywords": ["build tools"], "license": "MIT"}
        install_dir(dest, "tool", "tool-scons", version, source=tmp_src, manifest=manifest)
    finally:
        shutil.rmtree(tmp_src, ignore_errors=True)
    return dest


def _pip_install_into(target: str, requirement: str) -> None:
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-compile",
               "--target", target, requirement]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["pip failed"])[-1]
        raise RuntimeError(f"SCons is not installed and `{' '.join(command)}` failed: {last}")
    # pip --target also writes a `bin/scons` script and the dist-info; PlatformIO needs neither
    shutil.rmtree(os.path.join(target, "bin"), ignore_errors=True)
