"""Stand-ins for packages a platform requires but a build never runs, and for gaps in archives.

* Upload tools (type "uploader"): empty packages that satisfy the package
  manager; `pio run -t upload` then fails because the tool is not there.
* `tool-adafruit-nrfutil`: the Adafruit nRF52 build ends by packing a DFU zip
  with it, so this one is real: a launcher of the `adafruit-nrfutil` PyPI
  package (installed into the package folder when PlatformIO's Python lacks it).
* Frameworks a core requires but a sketch rarely uses (REQUIRED_UNUSED): empty;
  a sketch that includes their headers fails to compile.
* GAPS: files a builder links unconditionally that an archive lacks: an empty
  `libarm_cortexM4lf_math.a` (CMSIS-DSP, linked by the Adafruit core) lets a
  sketch that calls no CMSIS-DSP function link, and one that does fail to link
  with undefined references.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys

from .packages import install_dir, package_dir, versions_asked

REQUIRED_UNUSED = {
    "framework-cmsis-dsp": "CMSIS-DSP (empty stand-in: STM32duino requires the package; "
                           "a sketch including arm_math.h does not compile)",
    "tool-sreccat": "srec_cat (empty stand-in: nordicnrf52 requires it to merge the SoftDevice "
                    "of the Nordic nRF5 core; the Adafruit core does not use it)",
    "tool-adafruit-nrfutil": "adafruit-nrfutil: a launcher of the PyPI package, which packs the "
                             "Adafruit core's DFU zip",
}

#: package -> (file inside it, what it is); written only when the archive lacks the file
GAPS = {
    "framework-cmsis": [
        ("CMSIS/DSP/Lib/GCC/libarm_cortexM4lf_math.a",
         "empty archive: the Adafruit core links -larm_cortexM4lf_math; calls into CMSIS-DSP "
         "fail to link"),
    ],
}
EMPTY_AR = b"!<arch>\n"

NRFUTIL = "tool-adafruit-nrfutil"
NRFUTIL_LAUNCHER = """\
# adafruit-nrfutil.py: what the nordicnrf52 platform runs to pack a DFU zip.
# It is the adafruit-nrfutil package from PyPI (beside this file, or in the Python running it).
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "site"))
try:
    from nordicsemi.__main__ import cli
except ImportError as e:
    sys.exit(f"adafruit-nrfutil is not installed ({e}): {sys.executable} -m pip install adafruit-nrfutil")

if __name__ == "__main__":
    sys.argv[0] = "adafruit-nrfutil"
    cli()
"""


def stand_in_names(platforms: list, provided: set) -> list:
    names = set()
    for manifest in platforms:
        for name in manifest.get("packages", {}):
            if name in provided or name.startswith("toolchain-"):
                continue
            # build tools (cmake, ninja, linker scripts) are left out: a build that needs
            # them asks PlatformIO for them and fails there, loudly
            if manifest["packages"][name].get("type") == "uploader" or name in REQUIRED_UNUSED:
                names.add(name)
    return sorted(names)


def write_stand_ins(core_dir: str, platforms: list, provided: set) -> list:
    written = []
    for name in stand_in_names(platforms, provided):
        for version, who in versions_asked(platforms, name).items():
            what = REQUIRED_UNUSED.get(name) or (
                f"stand-in for {name}: empty, as a build does not run it; uploading or debugging "
                "with it needs the real tool")
            manifest = {"name": name, "version": version,
                        "description": f"{what} (declared as {version} because {who} asks for it)"}
            dest = install_dir(package_dir(core_dir, name, version), "tool", name, version,
                               manifest=manifest)
            if name == NRFUTIL:
                _nrfutil(dest)
            written.append(dest)
    return written


def _nrfutil(dest: str) -> None:
    with open(os.path.join(dest, "adafruit-nrfutil.py"), "w") as fh:
        fh.write(NRFUTIL_LAUNCHER)
    if importlib.util.find_spec("nordicsemi") is None:
        site = os.path.join(dest, "site")
        command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "--target",
                   site, "adafruit-nrfutil"]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            shutil.rmtree(site, ignore_errors=True)
            print(f"warning: {' '.join(command)} failed; Adafruit nRF52 builds need adafruit-nrfutil",
                  file=sys.stderr)


def fill_gaps(package_dirs: list) -> list:
    """Write the GAPS files missing from installed packages; returns what was written."""
    written = []
    for path in package_dirs:
        name = os.path.basename(path).split("@")[0]
        for relative, _why in GAPS.get(name, []):
            target = os.path.join(path, relative)
            if not os.path.exists(target):
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with open(target, "wb") as fh:
                    fh.write(EMPTY_AR)
                written.append(target)
    return written
