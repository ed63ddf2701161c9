"""The forms a compiled model takes in a firmware: NAME.S (.incbin), NAME.c (`--c-array`, for
toolchains without .incbin) and an Arduino library (`--arduino-library`); the header's check
that the target can run the object; the sizes and names the header promises."""
from __future__ import annotations

import struct
import sys
import zipfile

import numpy as np
import pytest

from build_integration.support import ARM_FLAGS, MODELS, QEMU, REPO, require, run

BAREMETAL = REPO / "examples" / "scons-baremetal"      # its start-up code and linker script
RUNTIME = REPO / "runtime"
LINK = ["-O2", "-nostartfiles", "--specs=nano.specs", "--specs=rdimon.specs", "-Wl,--gc-sections",
        "-T", BAREMETAL / "stm32f405.ld", "-I", BAREMETAL / "src", BAREMETAL / "src" / "startup.c"]


def ml4f(*args, check=True):
    return run([sys.executable, "-m", "ml4f", *map(str, args)], check=check)


MAIN_C = """\
#include <stdio.h>
#include <string.h>
#include "digits.h"

static const float inputs[%(n)d][DIGITS_INPUT_ELEMS] = { %(rows)s };
static digits_arena_t arena;

int main(void)
{
    float out[DIGITS_OUTPUT_ELEMS];
    for (int i = 0; i < %(n)d; i++) {
        digits_predict(inputs[i], out, &arena);
        printf("out %%d", i);
        for (unsigned j = 0; j < DIGITS_OUTPUT_ELEMS; j++) {
            unsigned long bits;
            memcpy(&bits, &out[j], sizeof bits);
            printf(" %%08lx", bits);
        }
        printf("\\n");
    }
    return 0;
}
"""


def qemu_outputs(elf) -> np.ndarray:
    result = run([*QEMU, elf], timeout=60)
    rows = [line.split()[2:] for line in result.stdout.splitlines() if line.startswith("out ")]
    words = np.array([[int(h, 16) for h in row] for row in rows], np.uint32)
    return words.view(np.float32)


def symbol(elf, name):
    """(writable?, address, bytes) of a symbol as linked."""
    from elftools.elf.constants import SH_FLAGS
    from elftools.elf.elffile import ELFFile
    with open(elf, "rb") as fh:
        f = ELFFile(fh)
        [sym] = [s for s in f.get_section_by_name(".symtab").iter_symbols() if s.name == name]
        section = f.get_section(sym["st_shndx"])
        offset = sym["st_value"] - section["sh_addr"]
        writable = bool(section["sh_flags"] & SH_FLAGS.SHF_WRITE)
        return writable, sym["st_value"], section.data()[offset:offset + sym["st_size"]]


@pytest.mark.slow
def test_c_array_object_runs_in_qemu_like_the_incbin_one(tmp_path):
    require("arm-none-eabi-gcc", "qemu-system-arm")
    x = np.load(MODELS / "digits_test_x.npy")[:6].reshape(6, -1)
    rows = ", ".join("{" + ", ".join(f"{float(v)!r}f" for v in row) + "}" for row in x)
    main = tmp_path / "main.c"
    main.write_text(MAIN_C % {"n": len(x), "rows": rows})
    outputs = {}
    for form, flags in (("S", []), ("c", ["--c-array"])):
        out = tmp_path / form
        ml4f("compile", MODELS / "digits.h5", "-o", out, "-q", *flags)
        linked = sorted(p.name for p in out.iterdir())
        assert linked == sorted(["digits.bin", "digits.h", "digits.json", f"digits.{form}"])
        elf = tmp_path / f"{form}.elf"
        run(["arm-none-eabi-gcc", *ARM_FLAGS, *LINK, "-I", out, main, out / f"digits.{form}",
             "-o", elf])
        writable, address, data = symbol(elf, "digits_model")
        assert address % 16 == 0 and not writable and 0x08000000 <= address < 0x08100000   # flash
        assert data == (out / "digits.bin").read_bytes()
        outputs[form] = qemu_outputs(elf)
    assert len(outputs["c"]) == len(x)
    assert np.array_equal(outputs["c"].view(np.uint32), outputs["S"].view(np.uint32))
    assert (outputs["c"].argmax(-1) == np.load(MODELS / "digits_test_y.npy")[:6]).mean() >= 0.8


def test_c_array_is_deterministic_and_replaces_a_stale_S(tmp_path):
    ml4f("compile", MODELS / "gesture.h5", "-o", tmp_path, "-n", "-q")
    assert (tmp_path / "gesture.S").exists()
    ml4f("compile", MODELS / "gesture.h5", "-o", tmp_path, "-n", "-q", "--c-array")
    first = (tmp_path / "gesture.c").read_bytes()
    assert not (tmp_path / "gesture.S").exists()           # two objects named gesture_model otherwise
    ml4f("compile", MODELS / "gesture.h5", "-o", tmp_path, "-n", "-q", "--c-array")
    assert (tmp_path / "gesture.c").read_bytes() == first
    text = first.decode()
    assert "const uint32_t gesture_model[" in text and "__attribute__((aligned(16)))" in text
    words = [int(w, 16) for w in __import__("re").findall(r"0x([0-9a-f]{8})u", text)]
    assert struct.pack(f"<{len(words)}I", *words) == (tmp_path / "gesture.bin").read_bytes()


# ---- the Arduino library ----------------------------------------------------------------------

def test_arduino_library_folder_and_zip(tmp_path):
    ml4f("compile", MODELS / "gesture.h5", "-n", "-q", "--arduino-library", tmp_path / "gesture_model")
    lib = tmp_path / "gesture_model"
    files = sorted(str(p.relative_to(lib)) for p in lib.rglob("*") if p.is_file())
    assert files == ["examples/gesture/gesture.ino", "library.properties", "src/gesture.c",
                     "src/gesture.h", "src/ml4f.c", "src/ml4f.h"]
    props = dict(line.split("=", 1) for line in (lib / "library.properties").read_text().splitlines())
    for key in ("name", "version", "author", "maintainer", "sentence", "paragraph", "category",
                "architectures"):
        assert props.get(key), key
    assert "url" in props                       # the Arduino IDE refuses a library without the key
    assert props["name"] == "gesture_model" and props["includes"] == "gesture.h"
    assert (lib / "src" / "ml4f.c").read_bytes() == (RUNTIME / "ml4f.c").read_bytes()

    zipped = tmp_path / "gesture_model.zip"
    ml4f("compile", MODELS / "gesture.h5", "-n", "-q", "--arduino-library", zipped)
    first = zipped.read_bytes()
    with zipfile.ZipFile(zipped) as z:
        names = sorted(z.namelist())
        assert names == sorted(f"gesture_model/{f}" for f in files)    # one folder, as the IDE wants
        assert z.read("gesture_model/src/gesture.c") == (lib / "src" / "gesture.c").read_bytes()
    ml4f("compile", MODELS / "gesture.h5", "-n", "-q", "--arduino-library", zipped)
    assert zipped.read_bytes() == first                             # deterministic
    bad = ml4f("compile", MODELS / "gesture.h5", "-n", "-q", "--arduino-library", tmp_path / "_bad!",
               check=False)
    assert bad.returncode == 2 and "not a valid Arduino library name" in bad.stderr

    broken = tmp_path / "gesture.h5"                  # the model is now damaged: no stale library
    broken.write_bytes(b"\x89HDF\r\n\x1a\n truncated")
    for dest in (lib, zipped):
        failed = ml4f("compile", broken, "-q", "--arduino-library", dest, check=False)
        assert failed.returncode == 1 and len(failed.stderr.splitlines()) == 1
    assert not zipped.exists() and not (lib / "src" / "gesture.c").exists()
    assert not (lib / "library.properties").exists()


@pytest.mark.slow
def test_arduino_library_builds_as_a_library_and_runs_in_qemu(tmp_path):
    """PlatformIO reads library.properties like the Arduino IDE: the library, found through
    lib_extra_dirs by its header, compiles and runs the model in QEMU (no .S anywhere)."""
    require("arm-none-eabi-gcc", "qemu-system-arm")
    from build_integration.support import pio
    from platformio_plugin.offline import write_tool_scons
    core = tmp_path / "core"
    write_tool_scons(str(core))
    ml4f("compile", MODELS / "digits.h5", "-q", "--arduino-library", tmp_path / "libs" / "digits_model")
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    x = np.load(MODELS / "digits_test_x.npy")[:3].reshape(3, -1)
    rows = ", ".join("{" + ", ".join(f"{float(v)!r}f" for v in row) + "}" for row in x)
    (project / "src" / "main.c").write_text(MAIN_C % {"n": len(x), "rows": rows})
    (project / "platformio.ini").write_text(
        f"[env:qemu]\nplatform = symlink://{REPO / 'platformio_plugin' / 'platform-cm4qemu'}\n"
        f"board = netduinoplus2\nlib_extra_dirs = {tmp_path / 'libs'}\n"
        "lib_compat_mode = off\n")          # an Arduino library, here without the Arduino framework
    built = pio(["run"], project, core)
    assert "digits_model" in built.output and not list(project.rglob("*.S"))
    got = qemu_outputs(project / ".pio" / "build" / "qemu" / "firmware.elf")
    from ml4f.emulator import Machine
    machine = Machine(ml4f_object(MODELS / "digits.h5", tmp_path))
    want = np.stack([machine.run(row).output for row in x])
    assert np.array_equal(got.view(np.uint32), want.view(np.uint32))


def ml4f_object(model, tmp_path) -> bytes:
    ml4f("compile", model, "-o", tmp_path / "plain", "-q")
    return (tmp_path / "plain" / f"{model.stem}.bin").read_bytes()


# ---- the header: what the target must be, and what it promises -----------------------------

TARGETS = {
    # flags: None = must build, else a fragment of the #error
    "m4f-hard": (["-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"], None),
    "m4f-softfp": (["-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16", "-mfloat-abi=softfp"], None),
    "m7-hard": (["-mcpu=cortex-m7", "-mfpu=fpv5-sp-d16", "-mfloat-abi=hard"], None),
    "m4-soft": (["-mcpu=cortex-m4", "-mfloat-abi=soft"], "-mfpu=fpv4-sp-d16 -mfloat-abi=hard"),
    "m3": (["-mcpu=cortex-m3"], "-mcpu=cortex-m3"),
    "m0": (["-mcpu=cortex-m0"], "-mcpu=cortex-m0"),
}


@pytest.mark.parametrize("target", list(TARGETS))
def test_header_stops_builds_for_cores_that_cannot_run_the_object(tmp_path, target):
    require("arm-none-eabi-gcc")
    ml4f("compile", MODELS / "gesture.h5", "-o", tmp_path, "-n", "-q")
    src = tmp_path / "use.c"
    src.write_text('#include "gesture.h"\nstatic gesture_arena_t a;\n'
                   "int f(const float *x) { return gesture_predict_class(x, &a); }\n")
    flags, error = TARGETS[target]
    result = run(["arm-none-eabi-gcc", "-mthumb", *flags, "-I", tmp_path, "-c", src, "-o",
                  tmp_path / "use.o"], check=False)
    if error is None:
        assert result.returncode == 0, result.output
    else:
        assert result.returncode != 0 and "#error" in result.output and error in result.output
        assert "gesture.h: the ML4F object needs" in result.output
        escape = run(["arm-none-eabi-gcc", "-mthumb", *flags, "-DML4F_NO_TARGET_CHECK", "-I", tmp_path,
                      "-c", src, "-o", tmp_path / "use.o"], check=False)
        assert escape.returncode == 0, escape.output


def test_object_bytes_equal_the_flash_figure_and_the_file(tmp_path):
    out = ml4f("compile", MODELS / "gesture.h5", "-o", tmp_path, "-n").stdout
    header = (tmp_path / "gesture.h").read_text()
    size = len((tmp_path / "gesture.bin").read_bytes())
    assert f"#define GESTURE_OBJECT_BYTES {size}u" in header
    assert f"object {size:,} B" in out
    from ml4f_scons.action import summary_line
    import json
    report = json.loads((tmp_path / "gesture.json").read_text())
    assert f"flash {size:,} B" in summary_line("gesture", "gesture.h5", report)


def test_file_names_that_are_not_c_identifiers(tmp_path):
    model = tmp_path / "8x8-digits.h5"
    model.write_bytes((MODELS / "digits.h5").read_bytes())
    ml4f("compile", model, "-o", tmp_path / "out", "-n", "-q")
    header = (tmp_path / "out" / "m_8x8_digits.h").read_text()
    assert "extern const uint32_t m_8x8_digits_model[];" in header
    assert "#define M_8X8_DIGITS_ARENA_BYTES" in header
    assert '.global m_8x8_digits_model' in (tmp_path / "out" / "m_8x8_digits.S").read_text()
