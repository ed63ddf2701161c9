"""Traps a new user fell into, each now loud: a closed pipe, an INI file given as the model, a
summary that hid the bound it applied, a firmware whose FPU is off."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from build_integration.support import ARM_FLAGS, MODELS, QEMU, REPO, require, run

BAREMETAL = REPO / "examples" / "scons-baremetal"
RUNTIME = REPO / "runtime"


def test_closed_pipe_is_not_an_internal_error(tmp_path):
    """`ml4f compile … | head -1` where head has already gone: no traceback, no 'internal error',
    the files are written."""
    read_end, write_end = os.pipe()
    os.close(read_end)                     # the reader is gone before ml4f prints its summary
    try:
        result = subprocess.run([sys.executable, "-m", "ml4f", "compile", str(MODELS / "gesture.h5"),
                                 "-o", str(tmp_path), "-n"], stdout=write_end, stderr=subprocess.PIPE,
                                text=True, timeout=300)
    finally:
        os.close(write_end)
    assert "internal error" not in result.stderr and "BrokenPipe" not in result.stderr, result.stderr
    assert result.stderr == "" and result.returncode == 141
    assert (tmp_path / "gesture.bin").exists() and (tmp_path / "gesture.h").exists()


@pytest.mark.parametrize("text, kind", [
    ("[env:blackpill]\nplatform = ststm32\n", "is an INI file"),
    ("; settings\n[env]\nboard = nano33ble\n", "is an INI file"),
    ('["a", 1]\n', "is a JSON file"),
    ('{"format": "layers-model"}', "is a JSON file"),
])
def test_text_files_are_named_for_what_they_are(tmp_path, text, kind):
    path = tmp_path / "model.h5"
    path.write_text(text)
    result = run([sys.executable, "-m", "ml4f", "compile", path, "-o", tmp_path / "out"], check=False)
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith(f"ml4f: error: {path}: {kind}"), line
    assert not (tmp_path / "out").exists()


def test_summary_prints_the_bound_it_applied():
    """Where float32 rounding of the reference widens the allowance, the summary names the
    widened bound, not the nominal tolerance it exceeded."""
    from ml4f.report import bound_text
    from ml4f.validate import applied_bound, check
    expected = np.array([1.0, 2.0, 3.0])
    actual = expected * (1 + np.array([0.0, 4e-5, 0.0]))         # error 1.9e-5 at one element
    noisy32 = expected * (1 + np.array([0.0, 3e-6, 0.0]))        # float32 alone: 1.4e-6 there
    error = check(actual, expected, expected32=noisy32, what="t")  # passes: 16 x 1.4e-6 > 1.9e-5
    bound = applied_bound(actual, expected, expected32=noisy32)
    assert error > 1e-5 and bound >= error
    text = bound_text({"tolerance": 1e-5, "bound": bound})
    assert text.startswith(f"bound {bound:.2g}") and text != "tolerance 1e-05"
    assert bound_text({"tolerance": 1e-5, "bound": 1e-5}) == "tolerance 1e-05"
    assert applied_bound(expected, expected) == 1e-5


def test_float16_summary_and_report_carry_the_applied_bound(tmp_path):
    out = run([sys.executable, "-m", "ml4f", "compile", MODELS / "digits.h5", "--float16", "-o",
               tmp_path]).stdout
    import json
    v = json.loads((tmp_path / "digits.json").read_text())["validation"]
    from ml4f.report import bound_text
    assert v["bound"] >= v["tolerance"] and v["max_error"] <= v["bound"]
    assert f"max error {v['max_error']:.2g} ({bound_text(v)})" in out


FPU_OFF_MAIN = r"""
#include <stdio.h>
#include "ml4f.h"
#include "gesture.h"

static gesture_arena_t arena;

int main(void)
{
    printf("fpu %d\n", ml4f_fpu_enabled());
    printf("invoke %d\n", ml4f_invoke((const ml4f_header_t *)(const void *)gesture_model,
                                      (uint8_t *)&arena));
    ml4f_enable_fpu();
    printf("fpu %d\n", ml4f_fpu_enabled());
    printf("invoke %d\n", ml4f_invoke((const ml4f_header_t *)(const void *)gesture_model,
                                      (uint8_t *)&arena));
    return 0;
}
"""


@pytest.mark.slow
@pytest.mark.parametrize("debug", [True, False], ids=["debug", "NDEBUG"])
def test_runtime_refuses_to_run_with_the_fpu_off_in_debug_builds(tmp_path, debug):
    """Start-up code that never enables the FPU: a debug build's ml4f_invoke says so
    (ML4F_ERR_FPU) instead of faulting; with NDEBUG the first VLDR faults (exit 99)."""
    require("arm-none-eabi-gcc", "qemu-system-arm")
    run([sys.executable, "-m", "ml4f", "compile", MODELS / "gesture.h5", "-o", tmp_path, "-n", "-q"])
    (tmp_path / "main.c").write_text(FPU_OFF_MAIN)
    elf = tmp_path / "fw.elf"
    run(["arm-none-eabi-gcc", *ARM_FLAGS, "-O2", "-DSTARTUP_NO_FPU_ENABLE",
         *([] if debug else ["-DNDEBUG"]), "-nostartfiles", "--specs=nano.specs",
         "--specs=rdimon.specs", "-T", BAREMETAL / "stm32f405.ld", "-I", tmp_path, "-I", RUNTIME,
         "-I", BAREMETAL / "src", BAREMETAL / "src" / "startup.c", tmp_path / "main.c",
         RUNTIME / "ml4f.c", tmp_path / "gesture.S", "-o", elf])
    result = run([*QEMU, elf], timeout=60, check=False)
    lines = result.stdout.splitlines()
    if debug:
        assert result.returncode == 0, result.output
        assert lines == ["fpu 0", "invoke -3", "fpu 1", "invoke 0"]
    else:
        assert result.returncode == 99 and lines == ["fpu 0"], result.output


def test_size_budget_is_checked_with_the_final_sizes_and_ends_the_compile():
    """The build's fit check gets the sizes as soon as the code exists (before validation),
    and they are the sizes of the finished object."""
    import ml4f
    seen = []
    compiled = ml4f.compile_file(MODELS / "digits.h5", check_budget=lambda a, f: seen.append((a, f)))
    assert seen == [(compiled.header.arena_bytes, len(compiled.object))]

    class TooBig(Exception):
        pass

    def refuse(arena, flash):
        raise TooBig(f"{arena} {flash}")
    with pytest.raises(TooBig, match=f"^{compiled.header.arena_bytes} {len(compiled.object)}$"):
        ml4f.compile_file(MODELS / "digits.h5", check_budget=refuse)


def test_offline_core_reports_a_broken_archive_in_one_line(tmp_path):
    (tmp_path / "mirror").mkdir()
    (tmp_path / "mirror" / "platform-ststm32.tar.gz").write_bytes(b"not gzip")
    result = run([sys.executable, "-m", "platformio_plugin.offline", tmp_path / "core", "--mirror",
                  tmp_path / "mirror"], check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'mirror' / 'platform-ststm32.tar.gz'}: not a readable tar archive"]
    assert result.stdout == "" and not (tmp_path / "core").exists()
