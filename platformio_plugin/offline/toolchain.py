"""toolchain-gccarmnoneeabi: the system's arm-none-eabi GCC as a local PlatformIO package.

PlatformIO's platforms each ask for particular toolchain releases (`~1.120301.0`
for STM32duino, `<1.80000.0` for the Adafruit nRF52 core).  The package is the
same GCC whatever it declares: a `bin/` of links to the arm-none-eabi tools
found on PATH, one package per version a platform asks for, plus one under the
compiler's own version (GCC X.Y.Z is PlatformIO's 1.XXYYZZ.0).  Each package's
description names the GCC release underneath.
"""
from __future__ import annotations

import os
import shutil
import subprocess

from .packages import install_dir, package_dir

NAME = "toolchain-gccarmnoneeabi"
GCC = "arm-none-eabi-gcc"


def find_gcc(path: str | None = None) -> str:
    gcc = shutil.which(GCC, path=path)
    if gcc is None:
        raise RuntimeError(f"{GCC} is not on PATH: install the GNU Arm toolchain first "
                           "(Debian: gcc-arm-none-eabi binutils-arm-none-eabi libnewlib-arm-none-eabi "
                           "libstdc++-arm-none-eabi-newlib)")
    return os.path.abspath(gcc)


def gcc_release(gcc: str) -> str:
    return subprocess.run([gcc, "-dumpfullversion"], capture_output=True, text=True,
                          check=True).stdout.strip()


def own_version(release: str) -> str:
    """GCC 12.2.1 -> 1.120201.0, PlatformIO's numbering of its toolchain packages."""
    major, minor, patch = (int(p) for p in (release.split(".") + ["0", "0"])[:3])
    return f"1.{major * 10000 + minor * 100 + patch}.0"


def write_toolchains(core_dir: str, asked: dict, gcc: str | None = None) -> list:
    """One package per version in `asked` ({version: who asks}) and one for GCC's own version;
    returns their directories."""
    gcc = gcc or find_gcc()
    bindir = os.path.dirname(gcc)
    release = gcc_release(gcc)
    tools = sorted(f for f in os.listdir(bindir) if f.startswith("arm-none-eabi-"))
    versions = dict(asked)
    versions.setdefault(own_version(release), "")
    written = []
    for version, who in sorted(versions.items()):
        declared = (f", declared as {version} because {who} asks for it" if who else "")
        manifest = {
            "name": NAME, "version": version,
            "description": f"GNU Arm Embedded toolchain: GCC {release} from {bindir} "
                           f"(links to the system's arm-none-eabi tools){declared}; "
                           f"it is GCC {release} underneath",
            "keywords": ["toolchain", "gcc", "arm"], "license": "GPL-3.0-or-later",
        }
        dest = package_dir(core_dir, NAME, version)
        install_dir(dest, "tool", NAME, version, manifest=manifest)
        os.makedirs(os.path.join(dest, "bin"))
        for tool in tools:
            os.symlink(os.path.join(bindir, tool), os.path.join(dest, "bin", tool))
        written.append(dest)
    return written
