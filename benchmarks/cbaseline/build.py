"""Compile and link a generated model with the baseline kernels (arm-none-eabi-gcc)."""
from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
GCC = "arm-none-eabi-gcc"
TARGET = ["-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard", "-mthumb"]
COMMON = ["-O3", "-std=c99", "-Wall", "-Werror", "-ffunction-sections", "-fdata-sections"]

# Variants of the baseline: name -> extra compiler flags.  "no-fma" keeps every
# multiply and add separate (VMUL + VADD, the arithmetic of the compiled objects);
# "fma" contracts a*b + c into VFMA, GCC's default in GNU C modes (ISO C modes such
# as -std=c99 default to off, hence the explicit flag).
VARIANTS = {
    "no-fma": ["-ffp-contract=off"],
    "fma": ["-ffp-contract=fast"],
}


class ToolchainMissing(RuntimeError):
    """arm-none-eabi-gcc (with newlib) is not installed."""


@dataclass
class Built:
    elf: Path
    flags: list[str]


def available() -> bool:
    return shutil.which(GCC) is not None


def flags(variant: str) -> list[str]:
    return COMMON + TARGET + VARIANTS[variant]


def build(c_source: str, workdir: Path, variant: str, entries: list[str]) -> Built:
    """model.c + kernels.c -> model.elf in `workdir` (kept alive: `entries`)."""
    if not available():
        raise ToolchainMissing(f"{GCC} not found")
    workdir.mkdir(parents=True, exist_ok=True)
    model_c = workdir / "model.c"
    model_c.write_text(c_source)
    cflags = flags(variant)
    objs = []
    # separate translation units and no LTO: the kernels stay generic, as in a library
    for src in (HERE / "kernels.c", model_c):
        obj = workdir / (src.stem + ".o")
        _run([GCC, *cflags, "-I", str(HERE), "-c", str(src), "-o", str(obj)])
        objs.append(str(obj))
    elf = workdir / "model.elf"
    keep = [f"-Wl,-u,{name}" for name in entries]
    _run([GCC, *TARGET, "-nostartfiles", "-specs=nano.specs", "-specs=nosys.specs",
          "-T", str(HERE / "link.ld"), "-Wl,--gc-sections", *keep, *objs, "-lm", "-o", str(elf)])
    return Built(elf, cflags)


def _run(cmd: list[str]) -> None:
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{res.stderr}")
