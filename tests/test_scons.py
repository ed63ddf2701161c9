"""The ml4f_scons Tool under the real `scons`: the bare-metal example built with
arm-none-eabi-gcc and run in QEMU (predictions equal to Keras's), rebuild and
clean behaviour, build lines, errors."""
from __future__ import annotations

import re
import textwrap

import numpy as np
import pytest

from build_integration.support import (MODELS, copy_example, keras_predict, parse_lines,
                                       print_comparison, require, retouch_h5, scons)

OUTPUTS = (".bin", ".h", ".S")


def compiled_models(output: str) -> list:
    """Names of the models the build compiled (one result line each)."""
    return re.findall(r"^ML4F (\w+) \(", output, re.MULTILINE)


@pytest.fixture
def baremetal(tmp_path):
    require("arm-none-eabi-gcc", "qemu-system-arm")
    return copy_example("scons-baremetal", tmp_path)


@pytest.mark.slow
def test_baremetal_example_runs_in_qemu_like_keras(baremetal):
    build = scons(["-Q", "-j4"], baremetal)
    assert sorted(compiled_models(build.output)) == ["digits", "gesture", "resnet8"]
    assert re.search(r"^ML4F digits \(\.\./models/digits\.h5\): flash [\d,]+ B, arena 1,288 B, "
                     r"[\d,]+ cycles = [\d.]+ ms at 64 MHz \(float32 weights\)$", build.output, re.M)
    assert "Linking build/firmware.elf" in build.output
    for name in ("digits", "gesture"):
        for suffix in OUTPUTS + (".o",):
            assert (baremetal / "build" / f"{name}{suffix}").is_file()

    run = scons(["-Q", "run"], baremetal)
    digits = parse_lines(r"^digits (?P<i>\d+): (?P<cls>\d+)  p =(?P<values>.*)$", run.stdout)
    gestures = parse_lines(r"^gesture (?P<i>\d+): (?P<cls>\w+)  p =(?P<values>.*)$", run.stdout)
    assert len(digits) == 8 and len(gestures) == 8, run.output

    x_digits = np.load(MODELS / "digits_test_x.npy")[:8]
    want = keras_predict(MODELS / "digits.h5", x_digits)
    got = np.stack([v for _, v in digits])
    print_comparison("digits.h5 in QEMU (scons run) and in Keras", range(8), got, want)
    np.testing.assert_allclose(got, want, atol=2e-6)
    assert [int(m["cls"]) for m, _ in digits] == list(want.argmax(-1))

    x_gesture = np.load(MODELS / "gesture_test_x.npy")[:8]
    want = keras_predict(MODELS / "gesture.keras", x_gesture)
    got = np.stack([v for _, v in gestures])
    print_comparison("gesture.keras in QEMU (scons run) and in Keras", range(8), got, want)
    np.testing.assert_allclose(got, want, atol=2e-6)
    labels = ["rest", "shake", "circle", "tap"]
    assert [m["cls"] for m, _ in gestures] == [labels[i] for i in want.argmax(-1)]

    # ResNet-8 under its 96 KB arena budget: streamed regions on the real firmware path
    resnet = parse_lines(r"^resnet8 (?P<i>\d+): (?P<cls>\d+)  p =(?P<values>.*)$", run.stdout)
    arena = int(re.search(r"^resnet8 \(arena (\d+) B\)$", run.stdout, re.M).group(1))
    assert arena <= 96 * 1024 and len(resnet) == 2
    x_resnet = np.load(MODELS / "resnet8_test_x.npy")
    want = keras_predict(MODELS.parent.parent / "benchmarks" / "models" / "resnet8.h5", x_resnet)
    got = np.stack([v for _, v in resnet])
    print_comparison("resnet8.h5 in QEMU (scons run) and in Keras", range(2), got, want)
    np.testing.assert_allclose(got, want, atol=2e-6)
    assert [int(m["cls"]) for m, _ in resnet] == list(want.argmax(-1))


@pytest.mark.slow
def test_baremetal_rebuilds_exactly_when_needed_and_cleans(baremetal):
    scons(["-Q", "-j4"], baremetal)
    elf = baremetal / "build" / "firmware.elf"

    again = scons(["-Q"], baremetal)
    assert compiled_models(again.output) == []
    assert "is up to date" in again.output

    option = scons(["-Q", "float16=yes"], baremetal)       # an option of the digits model only
    assert compiled_models(option.output) == ["digits"]
    assert "(float16 weights)" in option.output and "Linking" in option.output

    retouch_h5(baremetal.parent / "models" / "digits.h5")  # new content, same model
    content = scons(["-Q", "float16=yes"], baremetal)
    assert compiled_models(content.output) == ["digits"]

    touched = baremetal.parent / "models" / "gesture.keras"
    touched.touch()                                         # same content: nothing to do
    assert compiled_models(scons(["-Q", "float16=yes"], baremetal).output) == []

    clean = scons(["-Q", "-c", "float16=yes"], baremetal)
    assert "Removed build/digits.bin" in clean.output
    left = sorted(p.name for p in (baremetal / "build").iterdir())
    assert left == [] and not elf.exists()


SCONSTRUCT = """\
import ml4f_scons
env = Environment(tools=["ml4f_scons"], toolpath=[ml4f_scons.TOOLPATH])
env.Replace(ML4F_VALIDATE=False, **{{k[5:]: v for k, v in ARGUMENTS.items() if k.startswith("env__")}})
{body}
"""


def project(tmp_path, body: str, models=("digits.h5",)):
    for name in models:
        (tmp_path / name).write_bytes((MODELS / name).read_bytes())
    (tmp_path / "SConstruct").write_text(SCONSTRUCT.format(body=textwrap.dedent(body)))
    return tmp_path


def test_emitter_names_three_outputs_next_to_the_target(tmp_path):
    p = project(tmp_path, """\
        print("nodes", [str(n) for n in env.ML4F("out/digits", "digits.h5")])
        print("nodes", [str(n) for n in env.ML4F("other/gesture.bin", "digits.h5")])
        print("nodes", [str(n) for n in env.ML4F("digits.h5")])
    """)
    out = scons(["-Q", "-n"], p).stdout
    assert "nodes ['out/digits.bin', 'out/digits.h', 'out/digits.S']" in out
    assert "nodes ['other/gesture.bin', 'other/gesture.h', 'other/gesture.S']" in out
    assert "nodes ['digits.bin', 'digits.h', 'digits.S']" in out


def test_build_line_is_the_cli_command_or_comstr(tmp_path):
    p = project(tmp_path, 'env.ML4F("out/digits", "digits.h5")')
    default = scons(["-Q", "env__ML4F_FLOAT16=yes"], p).stdout
    assert default.splitlines()[0] == "ml4f compile digits.h5 -o out -b digits --float16 --no-validate"
    custom = scons(["-Q", "env__ML4FCOMSTR=MODEL $ML4F_MODEL -> $TARGET"], p).stdout
    assert custom.splitlines()[0] == "MODEL digits.h5 -> out/digits.bin"
    assert scons(["-Q", "-s", "env__ML4F_OPTIMIZE=speed"], p).stdout == ""   # -s: silent


def test_options_and_compiler_version_are_in_the_signature(tmp_path):
    p = project(tmp_path, 'env.ML4F("out/digits", "digits.h5")')
    assert compiled_models(scons(["-Q"], p).stdout) == ["digits"]
    assert compiled_models(scons(["-Q"], p).stdout) == []
    for change in ("env__ML4F_OPTIMIZE=size", "env__ML4F_TEST_DATA=yes", "env__ML4F_VERSION=99.0"):
        assert compiled_models(scons(["-Q", change], p).stdout) == ["digits"], change
    assert compiled_models(scons(["-Q", "env__ML4F_VERSION=99.0"], p).stdout) == []


def test_parallel_builds_compile_every_model_once(tmp_path):
    body = "\n".join(f'env.ML4F("out/m{i}", "digits.h5", ML4F_OPTIMIZE="{opt}")'
                     for i, opt in enumerate(["size", "balanced", "speed", "balanced"]))
    p = project(tmp_path, body)
    out = scons(["-Q", "-j4"], p).stdout
    assert sorted(compiled_models(out)) == ["m0", "m1", "m2", "m3"]
    assert (p / "out" / "m1.bin").read_bytes() == (p / "out" / "m3.bin").read_bytes()
    assert scons(["-Q", "-j4"], p).stdout.strip() == "scons: `.' is up to date."


def test_broken_model_fails_with_one_line_and_leaves_no_outputs(tmp_path):
    p = project(tmp_path, 'env.ML4F("out/digits", "digits.h5")')
    scons(["-Q"], p)
    assert all((p / "out" / f"digits{s}").exists() for s in OUTPUTS)
    (p / "digits.h5").write_bytes(b"not a model")             # a model that compiled before
    failed = scons(["-Q"], p, check=False)
    assert failed.returncode != 0
    errors = [line for line in failed.stderr.splitlines() if line.strip()]
    assert errors == ["scons: *** [out/digits.bin] digits.h5: not a Keras model file "
                      "(neither HDF5 nor a .keras zip archive)"]
    assert "Traceback" not in failed.output
    assert not any((p / "out" / f"digits{s}").exists() for s in OUTPUTS)


def test_model_too_big_for_the_target_fails_the_build(tmp_path):
    p = project(tmp_path, 'env.ML4F("out/digits", "digits.h5", ML4F_MAX_RAM=1024, ML4F_BOARD="tiny")')
    failed = scons(["-Q"], p, check=False)
    assert failed.returncode != 0
    assert ("scons: *** [out/digits.bin] digits.h5: the model's arena (1,288 B) does not fit the RAM "
            "of tiny (1,024 B)") in failed.stderr
    assert not (p / "out" / "digits.bin").exists()
