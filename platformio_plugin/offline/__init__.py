"""Prepare a PlatformIO core directory so that `pio run` needs no registry.

    python -m platformio_plugin.offline CORE_DIR [--mirror DIR]

Writes into CORE_DIR (use it as `[platformio] core_dir` or PLATFORMIO_CORE_DIR):

* packages/tool-scons, the core package every build runs (SCons inside it);
* packages/toolchain-gccarmnoneeabi, the arm-none-eabi GCC on PATH, under its
  own version and under every version the installed platforms ask for;
* with --mirror DIR: every platform and framework archive (or folder) in DIR,
  installed as the package it stands for, with the package.json it needs;
  stand-ins for the upload tools those platforms require and a launcher of
  adafruit-nrfutil for the Adafruit nRF52 core (see standins.py).

Needs only PlatformIO (run it with PlatformIO's Python); it also runs as
`python /path/to/platformio_plugin/offline CORE_DIR` from anywhere.  Then set
PLATFORMIO_SETTING_ENABLE_TELEMETRY=no and PLATFORMIO_DISABLE_UPGRADE_CHECK=true.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile

from . import mirror as _mirror
from . import standins, toolchain
from .packages import versions_asked
from .scons import required_spec, tool_scons_version, write_tool_scons

__all__ = ["prepare", "main", "write_tool_scons", "tool_scons_version", "required_spec"]


def prepare(core_dir: str, mirror: str | None = None, log=print) -> None:
    core_dir = os.path.abspath(core_dir)
    platforms, installed = [], []
    with tempfile.TemporaryDirectory(prefix="ml4f-mirror-") as work:
        items = _mirror.unpack_all(mirror, work) if mirror else []    # a bad archive: nothing written
        log(f"tool-scons: {write_tool_scons(core_dir)}")
        for item in (i for i in items if i.is_platform):
            log(f"platform {item.manifest['name']} {item.manifest['version']}: "
                f"{_mirror.install_platform(core_dir, item)}")
            platforms.append(item.manifest)
        for item in (i for i in items if not i.is_platform):
            for path in _mirror.install_package(core_dir, item, platforms):
                log(f"{item.name}: {path}")
                installed.append(path)
    for path in toolchain.write_toolchains(core_dir, versions_asked(platforms, toolchain.NAME)):
        log(f"{toolchain.NAME}: {path}")
    provided = {os.path.basename(p).split("@")[0] for p in installed}
    for path in standins.write_stand_ins(core_dir, platforms, provided):
        log(f"stand-in: {path}")
    for path in standins.fill_gaps(installed):
        log(f"gap filled: {path}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m platformio_plugin.offline",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("core_dir", help="PlatformIO core directory ([platformio] core_dir)")
    p.add_argument("--mirror", metavar="DIR",
                   help="folder of platform and framework archives to install")
    args = p.parse_args(argv)
    if args.mirror and not os.path.isdir(args.mirror):
        print(f"error: --mirror {args.mirror}: no such directory", file=sys.stderr)
        return 2
    try:
        prepare(args.core_dir, args.mirror)
    except (RuntimeError, ImportError, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0
