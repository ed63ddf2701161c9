"""cmake/ML4F.cmake in a real CMake build of a QEMU firmware: it runs like Keras, and it is
recompiled exactly when the model's content, an option or the compiler changes."""
from __future__ import annotations

import re
import shutil
import sys

import numpy as np
import pytest

from build_integration.support import (ARM_FLAGS, MODELS, QEMU, REPO, keras_predict, require,
                                       retouch_h5, run)

BAREMETAL = REPO / "examples" / "scons-baremetal"
pytestmark = pytest.mark.slow

CMAKELISTS = """\
cmake_minimum_required(VERSION 3.13)
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)
set(CMAKE_C_COMPILER arm-none-eabi-gcc)
set(CMAKE_ASM_COMPILER arm-none-eabi-gcc)
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
project(gesture_fw C ASM)

set(ML4F_PYTHON "{python}")
include("{repo}/cmake/ML4F.cmake")

set(FLAGS {flags})
add_compile_options(${{FLAGS}} -O2)
add_link_options(${{FLAGS}} -nostartfiles --specs=nano.specs --specs=rdimon.specs -u _printf_float
                 -T {baremetal}/stm32f405.ld)
add_executable(firmware.elf main.c {baremetal}/src/startup.c)
target_include_directories(firmware.elf PRIVATE {baremetal}/src)
ml4f_add_model(firmware.elf models/gesture.h5 {options})
"""

MAIN_C = """\
#include <stdio.h>
#include "gesture.h"

static const float windows[%(n)d][GESTURE_INPUT_ELEMS] = { %(rows)s };
static gesture_arena_t arena;

int main(void)
{
    float out[GESTURE_OUTPUT_ELEMS];
    for (int i = 0; i < %(n)d; i++) {
        gesture_predict(windows[i], out, &arena);
        printf("out %%d: %%.6f %%.6f %%.6f %%.6f\\n", i, out[0], out[1], out[2], out[3]);
    }
    return 0;
}
"""


def project(path, options=""):
    (path / "models").mkdir(parents=True, exist_ok=True)
    if not (path / "models" / "gesture.h5").exists():
        shutil.copy(MODELS / "gesture.h5", path / "models" / "gesture.h5")
    x = np.load(MODELS / "gesture_test_x.npy")[:4]
    rows = ", ".join("{" + ", ".join(f"{float(v)!r}f" for v in w.ravel()) + "}" for w in x)
    (path / "main.c").write_text(MAIN_C % {"n": len(x), "rows": rows})
    (path / "CMakeLists.txt").write_text(CMAKELISTS.format(
        python=sys.executable, repo=REPO, baremetal=BAREMETAL, flags=" ".join(ARM_FLAGS),
        options=options))
    return x


def build(source, build_dir):
    run(["cmake", "-S", source, "-B", build_dir])
    return run(["cmake", "--build", build_dir, "--", "VERBOSE=1"]).output


def compiled(output: str) -> bool:
    return bool(re.search(r"^gesture: .*gesture\.h5 \(\d+ ops", output, re.MULTILINE))


def test_cmake_build_runs_like_keras_and_recompiles_only_when_needed(tmp_path):
    require("cmake", "arm-none-eabi-gcc", "qemu-system-arm")
    src, out = tmp_path / "src", tmp_path / "build"
    x = project(src)
    first = build(src, out)
    assert compiled(first), first
    result = run([*QEMU, out / "firmware.elf"], timeout=60)
    got = np.array([[float(v) for v in line.split(":")[1].split()]
                    for line in result.stdout.splitlines() if line.startswith("out ")], np.float32)
    want = keras_predict(MODELS / "gesture.h5", x)
    np.testing.assert_allclose(got, want, atol=2e-6)

    elf_time = (out / "firmware.elf").stat().st_mtime_ns
    again = build(src, out)
    assert not compiled(again) and (out / "firmware.elf").stat().st_mtime_ns == elf_time

    (src / "models" / "gesture.h5").touch()                  # same content: nothing to do
    touched = build(src, out)
    assert not compiled(touched) and (out / "firmware.elf").stat().st_mtime_ns == elf_time, touched

    retouch_h5(src / "models" / "gesture.h5")                # new content, same model
    changed = build(src, out)
    assert compiled(changed) and (out / "firmware.elf").stat().st_mtime_ns != elf_time
    assert re.search(r"main\.c\.o", changed)                  # includes the header with the new hash

    project(src, options="FLOAT16")                          # an option
    optioned = build(src, out)
    assert compiled(optioned)
    assert '"float16"' in (out / "ml4f" / "gesture.h").read_text()
    assert not compiled(build(src, out))


def test_cmake_c_array_form(tmp_path):
    require("cmake", "arm-none-eabi-gcc", "qemu-system-arm")
    src, out = tmp_path / "src", tmp_path / "build"
    x = project(src, options="C_ARRAY NAME gesture")
    assert compiled(build(src, out))
    assert (out / "ml4f" / "gesture.c").exists() and not (out / "ml4f" / "gesture.S").exists()
    result = run([*QEMU, out / "firmware.elf"], timeout=60)
    assert len([line for line in result.stdout.splitlines() if line.startswith("out ")]) == len(x)
