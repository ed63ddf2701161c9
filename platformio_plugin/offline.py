"""Prepare a PlatformIO core directory for building without PlatformIO's registry.

    python -m platformio_plugin.offline CORE_DIR

PlatformIO runs every build with its core package `tool-scons`, which it would
otherwise download.  This writes a local one into CORE_DIR/packages/tool-scons:
a launcher for the SCons installed next to PlatformIO (pip), plus the metadata
PlatformIO requires of a core package (owner "platformio", the version it asks
for).  Use CORE_DIR as `[platformio] core_dir` or PLATFORMIO_CORE_DIR, and an
offline platform such as platform-cm4qemu; also set
PLATFORMIO_SETTING_ENABLE_TELEMETRY=no and PLATFORMIO_DISABLE_UPGRADE_CHECK=true.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

LAUNCHER = """\
# launcher used by PlatformIO: python scons.py ...  (SCons itself is the pip package)
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


def required_spec() -> str:
    from platformio.dependencies import get_core_dependencies
    return get_core_dependencies()["tool-scons"]


def write_tool_scons(core_dir: str) -> str:
    """Write CORE_DIR/packages/tool-scons; returns its directory.  Raises RuntimeError when
    the installed SCons is not the version this PlatformIO accepts."""
    import SCons
    import semantic_version

    version = tool_scons_version(SCons.__version__)
    spec = required_spec()
    if semantic_version.Version(version) not in semantic_version.SimpleSpec(spec):
        raise RuntimeError(f"SCons {SCons.__version__} is tool-scons {version}, but this PlatformIO "
                           f"requires tool-scons {spec}: install the SCons release it pins")
    package_dir = os.path.join(core_dir, "packages", "tool-scons")
    os.makedirs(package_dir, exist_ok=True)
    manifest = {"name": "tool-scons", "version": version,
                "description": f"SCons {SCons.__version__} (the pip package next to PlatformIO)",
                "keywords": ["build tools"], "license": "MIT"}
    # .piopm is what PlatformIO trusts: without owner "platformio" the package is ignored
    metadata = {"type": "tool", "name": "tool-scons", "version": version,
                "spec": {"owner": "platformio", "id": None, "name": "tool-scons",
                         "requirements": None, "uri": None}}
    files = {"scons.py": LAUNCHER, "package.json": json.dumps(manifest),
             ".piopm": json.dumps(metadata)}
    for name, text in files.items():
        with open(os.path.join(package_dir, name), "w") as fh:
            fh.write(text)
    return package_dir


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m platformio_plugin.offline", description=__doc__.split("\n\n")[0])
    p.add_argument("core_dir", help="PlatformIO core directory ([platformio] core_dir)")
    args = p.parse_args(argv)
    try:
        path = write_tool_scons(os.path.abspath(args.core_dir))
    except (RuntimeError, ImportError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
