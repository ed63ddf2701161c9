"""The C side: runtime/ml4f.{h,c} and the generated NAME.h, compiled with strict warnings for
C and C++, and run in QEMU against the Unicorn emulator."""
from __future__ import annotations

import re
import struct
import sys

import numpy as np
import pytest

from build_integration.support import ARM_FLAGS, MODELS, QEMU, REPO, require, run

RUNTIME = REPO / "runtime"
BAREMETAL = REPO / "examples" / "scons-baremetal"       # its start-up code and linker script
STRICT_C = ["-std=c99", "-pedantic", "-Wall", "-Wextra", "-Wconversion", "-Wcast-align", "-Werror"]
STRICT_CXX = ["-std=c++11", "-Wall", "-Wextra", "-Wcast-align", "-Werror", "-fno-exceptions", "-fno-rtti"]


def ml4f_compile(model, out, name, *flags):
    run([sys.executable, "-m", "ml4f", "compile", model, "-o", out, "-b", name, "-q", *flags])


# ---- the generated header --------------------------------------------------------------------

def test_header_is_deterministic_and_hashes_model_options_and_version():
    import ml4f
    from ml4f.firmware import asm_file, header_file

    def files(**options):
        c = ml4f.compile_file(MODELS / "gesture.h5", validate=False, **options)
        return header_file("gesture", c.header, c.report, c.content_hash), \
            asm_file("gesture", "gesture.bin", c.content_hash), c.content_hash

    h1, s1, hash1 = files()
    h2, s2, hash2 = files()
    h3, _, hash3 = files(float16=True)
    assert (h1, s1) == (h2, s2) and hash1 == hash2 != hash3
    assert f'#define GESTURE_CONTENT_HASH "{hash1}"' in h1 and hash1 in s1
    assert not re.search(r"\b20\d\d-\d\d-\d\d\b|\d\d:\d\d:\d\d", h1 + s1)     # no timestamps
    assert '#define GESTURE_WEIGHT_TYPE "float16"' in h3
    for needed in ("#ifndef ML4F_MODEL_GESTURE_H", 'extern "C" {', "extern const uint32_t gesture_model[];",
                   "#define GESTURE_ARENA_BYTES 1344u", "#define GESTURE_INPUT_ELEMS 150u",
                   "#define GESTURE_OUTPUT_ELEMS 4u", "#define GESTURE_INPUT_SHAPE { 50, 3 }",
                   "static inline void gesture_invoke(void *arena)",
                   "static inline void gesture_predict(const float *in, float *out, void *arena)",
                   "static inline int gesture_argmax(const float *v, unsigned n)"):
        assert needed in h1, needed
    assert ".balign 16" in s1 and '.incbin "gesture.bin"' in s1 and '"a", %progbits' in s1


@pytest.mark.slow
@pytest.mark.parametrize("language", ["c", "c++"])
def test_headers_compile_with_strict_warnings(tmp_path, language):
    require("arm-none-eabi-gcc")
    ml4f_compile(MODELS / "gesture.h5", tmp_path, "gesture", "--no-validate")
    src = tmp_path / ("use.c" if language == "c" else "use.cpp")
    src.write_text('#include "gesture.h"\n#include "ml4f.h"\n'
                   "static gesture_arena_t arena;\n"
                   "int classify(const float *in) { return gesture_predict_class(in, &arena); }\n"
                   "int check(void) { return ml4f_is_valid_header("
                   "(const ml4f_header_t *)(const void *)gesture_model); }\n")
    compiler, flags = ("arm-none-eabi-gcc", STRICT_C) if language == "c" else ("arm-none-eabi-g++", STRICT_CXX)
    run([compiler, *ARM_FLAGS, *flags, "-I", tmp_path, "-I", RUNTIME, "-c", src, "-o", tmp_path / "use.o"])
    run(["arm-none-eabi-gcc", *ARM_FLAGS, *STRICT_C, "-DML4F_WITH_MALLOC", "-c", RUNTIME / "ml4f.c",
         "-o", tmp_path / "ml4f.o"])


# ---- the runtime in QEMU ----------------------------------------------------------------------

RUNTIME_TEST_C = r"""
#include <stdio.h>
#include <string.h>
#include "ml4f.h"
#include "digits.h"
#include "gesture.h"

static const float inputs[%(n)d][DIGITS_INPUT_ELEMS] = {
%(rows)s
};
static union { digits_arena_t digits; gesture_arena_t gesture; } arena_storage;
#define ARENA ((uint8_t *)&arena_storage)
static uint32_t ram_copy[(DIGITS_OBJECT_BYTES + 15u) / 4u];   /* the object copied to RAM */
static int failures;

static void check(const char *name, int ok)
{
    printf("%%s %%s\n", ok ? "PASS" : "FAIL", name);
    failures += !ok;
}

static void print_bits(const char *what, int i, const float *v, unsigned n)
{
    printf("%%s %%d", what, i);
    for (unsigned j = 0; j < n; j++) {
        unsigned long bits;
        memcpy(&bits, &v[j], sizeof bits);
        printf(" %%08lx", bits);
    }
    printf("\n");
}

int main(void)
{
    const ml4f_header_t *m = (const ml4f_header_t *)(const void *)digits_model;
    const ml4f_header_t *g = (const ml4f_header_t *)(const void *)gesture_model;
    const uint32_t *in = ml4f_input_shape(m), *out = ml4f_output_shape(m);

    check("valid_header", ml4f_is_valid_header(m) && ml4f_is_valid_header(g) && !ml4f_is_valid_header(0));
    check("shapes", in[0] == 8 && in[1] == 8 && in[2] == 1 && in[3] == 0 && out[0] == 10 && out[1] == 0);
    check("elements", ml4f_input_elements(m) == DIGITS_INPUT_ELEMS && ml4f_output_elements(m) == 10 &&
                      ml4f_shape_elements(ml4f_input_shape(g)) == 150);
    check("shape_size", ml4f_shape_size(in, ML4F_TYPE_FLOAT32) == 256 && ml4f_shape_size(in, 2) == 0);
    check("arena_bytes", m->arena_bytes == DIGITS_ARENA_BYTES && g->arena_bytes == GESTURE_ARENA_BYTES);
    check("test_vector", ml4f_test(m, ARENA) == 1);
    check("no_test_vector", ml4f_test(g, ARENA) == 0);

    memcpy(ram_copy, digits_model, DIGITS_OBJECT_BYTES);
    ml4f_header_t *c = (ml4f_header_t *)(void *)ram_copy;
    check("test_vector_in_ram", ml4f_test(c, ARENA) == 1);     /* position independent */
    float *expected = (float *)(void *)((uint8_t *)ram_copy + c->test_output_offset);
    expected[3] += 0.5f;
    check("test_vector_mismatch", ml4f_test(c, ARENA) == ML4F_ERR_MISMATCH);
    c->magic1 ^= 1u;
    float y[DIGITS_OUTPUT_ELEMS];
    check("bad_magic", !ml4f_is_valid_header(c) && ml4f_invoke(c, ARENA) == ML4F_ERR_HEADER &&
                       ml4f_test(c, ARENA) == ML4F_ERR_HEADER &&
                       ml4f_full_invoke_arena(c, ARENA, inputs[0], y) == ML4F_ERR_HEADER &&
                       ml4f_full_invoke_argmax_arena(c, ARENA, inputs[0]) == ML4F_ERR_HEADER &&
                       ml4f_full_invoke(c, inputs[0], y) == ML4F_ERR_HEADER);
    c->magic1 ^= 1u;
    c->output_type = 2u;
    check("bad_type", !ml4f_is_valid_header(c));

    const float ties[] = {1.0f, 3.0f, 3.0f, -2.0f};
    check("argmax", ml4f_argmax(ties, 4) == 1 && ml4f_argmax(ties, 1) == 0 && ml4f_argmax(ties, 0) == -1 &&
                    digits_argmax(ties, 4) == 1 && digits_argmax(ties, 0) == -1);

    int same = 1;
    for (int i = 0; i < %(n)d; i++) {
        float a[DIGITS_OUTPUT_ELEMS], b[DIGITS_OUTPUT_ELEMS], d[DIGITS_OUTPUT_ELEMS];
        digits_predict(inputs[i], a, ARENA);
        same &= ml4f_full_invoke_arena(m, ARENA, inputs[i], b) == ML4F_OK;
        same &= ml4f_full_invoke(m, inputs[i], d) == ML4F_OK;
        same &= memcmp(a, b, sizeof a) == 0 && memcmp(a, d, sizeof a) == 0;
        int k = digits_predict_class(inputs[i], ARENA);
        same &= k == ml4f_full_invoke_argmax_arena(m, ARENA, inputs[i]) &&
                k == ml4f_full_invoke_argmax(m, inputs[i]) && k == ml4f_argmax(a, 10);
        print_bits("out", i, a, DIGITS_OUTPUT_ELEMS);
    }
    check("runtime_equals_header_calls", same);
    printf("TESTS DONE %%d\n", failures);
    return failures;
}
"""


@pytest.mark.slow
def test_runtime_in_qemu(tmp_path):
    require("arm-none-eabi-gcc", "qemu-system-arm")
    from ml4f.emulator import Machine

    ml4f_compile(MODELS / "digits.h5", tmp_path, "digits", "--test-data")
    ml4f_compile(MODELS / "gesture.h5", tmp_path, "gesture", "--no-validate")
    x = np.load(MODELS / "digits_test_x.npy")[:4].reshape(4, -1)
    rows = ",\n".join("    {" + ", ".join(f"{float(v)!r}f" for v in row) + "}" for row in x)
    (tmp_path / "main.c").write_text(RUNTIME_TEST_C % {"n": len(x), "rows": rows})
    objects = []
    for src in (tmp_path / "main.c", RUNTIME / "ml4f.c"):      # ours with strict warnings
        objects.append(tmp_path / (src.stem + ".o"))
        run(["arm-none-eabi-gcc", *ARM_FLAGS, "-O2", *STRICT_C, "-DML4F_WITH_MALLOC", "-I", tmp_path,
             "-I", RUNTIME, "-c", src, "-o", objects[-1]])
    elf = tmp_path / "runtime_test.elf"
    run(["arm-none-eabi-gcc", *ARM_FLAGS, "-O2", "-nostartfiles", "--specs=nano.specs",
         "--specs=rdimon.specs", "-Wl,--gc-sections", "-T", BAREMETAL / "stm32f405.ld", "-I", tmp_path,
         "-I", BAREMETAL / "src", BAREMETAL / "src" / "startup.c", *objects, tmp_path / "digits.S", tmp_path / "gesture.S", "-o", elf])
    result = run([*QEMU, elf], timeout=60, check=False)
    lines = result.stdout.splitlines()
    failed = [line for line in lines if line.startswith("FAIL")]
    assert result.returncode == 0 and not failed and "TESTS DONE 0" in lines, result.output
    assert sum(line.startswith("PASS") for line in lines) == 13

    machine = Machine((tmp_path / "digits.bin").read_bytes())
    for i, row in enumerate(x):
        words = [int(h, 16) for h in next(l for l in lines if l.startswith(f"out {i} ")).split()[2:]]
        qemu_out = np.array(struct.unpack(f"<{len(words)}f", struct.pack(f"<{len(words)}I", *words)),
                            np.float32)
        assert np.array_equal(qemu_out.view(np.uint32), machine.run(row).output.view(np.uint32))
