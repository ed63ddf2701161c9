"""Build ML4F objects from hand-written Thumb assembly (GNU as), for tests.

The code is assembled on its own and placed at `header_size` by
`container.build_object`; it must therefore be position independent (no
relocations), which is checked.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import numpy as np

from ml4f.container import build_object

AS = shutil.which("arm-none-eabi-as")
OBJCOPY = shutil.which("arm-none-eabi-objcopy")
READELF = shutil.which("arm-none-eabi-readelf")
HAVE_BINUTILS = bool(AS and OBJCOPY and READELF)

AS_FLAGS = ["-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16", "-mthumb", "-mfloat-abi=hard"]
PRELUDE = ".syntax unified\n.thumb\n.text\n"


def assemble(source: str) -> bytes:
    """Assemble `source` (the prelude `.syntax unified / .thumb / .text` is added)
    and return the `.text` bytes, padded to a word boundary."""
    if not HAVE_BINUTILS:
        raise RuntimeError("arm-none-eabi binutils not installed")
    with tempfile.TemporaryDirectory() as d:
        src, obj, binf = (os.path.join(d, n) for n in ("a.s", "a.o", "a.bin"))
        with open(src, "w") as f:
            f.write(PRELUDE + source + "\n")
        r = subprocess.run([AS, *AS_FLAGS, "-o", obj, src], capture_output=True, text=True)
        if r.returncode:
            raise RuntimeError("assembly failed:\n" + r.stderr)
        rel = subprocess.run([READELF, "-r", obj], capture_output=True, text=True).stdout
        if "R_ARM" in rel:
            raise RuntimeError("code is not position independent:\n" + rel)
        subprocess.run([OBJCOPY, "-O", "binary", "-j", ".text", obj, binf], check=True)
        with open(binf, "rb") as f:
            code = f.read()
    return code + b"\0" * (-len(code) % 4)


def f32(values) -> bytes:
    return np.asarray(values, dtype="<f4").tobytes()


def asm_object(source: str, *, input_shape=(4,), output_shape=(4,), arena_bytes=None,
               input_offset=8, output_offset=None, weights: bytes = b"",
               test_input=None, test_output=None) -> bytes:
    """An ML4F object whose model function is `source`.

    Default arena: 8 bytes of scratch, then the input, then the output."""
    n_in = int(np.prod(input_shape))
    n_out = int(np.prod(output_shape))
    if output_offset is None:
        output_offset = input_offset + 4 * n_in
    if arena_bytes is None:
        arena_bytes = max(input_offset + 4 * n_in, output_offset + 4 * n_out)
    return build_object(input_shape=input_shape, output_shape=output_shape,
                        code=assemble(source), weights=weights, arena_bytes=arena_bytes,
                        input_offset=input_offset, output_offset=output_offset,
                        test_input=b"" if test_input is None else f32(test_input),
                        test_output=b"" if test_output is None else f32(test_output))


def wrap(body: str, *, save_core: str = "r4-r7, lr", save_fp: str | None = None) -> str:
    """An AAPCS-clean function around `body`: r0 = object, r1 = arena on entry."""
    push_fp = f"  vpush {{{save_fp}}}\n" if save_fp else ""
    pop_fp = f"  vpop {{{save_fp}}}\n" if save_fp else ""
    return (f"  push {{{save_core}}}\n{push_fp}{body}\n{pop_fp}"
            f"  pop {{{save_core.replace('lr', 'pc')}}}\n")


# Copies the input (n floats at arena+8) to the output (right after it), doubled.
DOUBLE_SOURCE = """
  push {r4, lr}
  ldr r2, [r0, #32]         @ input_offset
  ldr r3, [r0, #40]         @ output_offset
  add r2, r1                @ input pointer
  add r3, r1                @ output pointer
  ldr r4, [r0, #64]         @ input_shape[0] = n
1:
  vldmia r2!, {s0}
  vadd.f32 s0, s0, s0
  vstmia r3!, {s0}
  subs r4, #1
  bne 1b
  pop {r4, pc}
"""


def double_object(n: int = 4, **kw) -> bytes:
    return asm_object(DOUBLE_SOURCE, input_shape=(n,), output_shape=(n,), **kw)
