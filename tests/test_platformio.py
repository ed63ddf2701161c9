"""The ml4f PlatformIO library under a real, offline `pio run` / `pio test`.

PlatformIO never reaches its registry here: the core package tool-scons is
generated into a temporary core directory (platformio_plugin/offline), the
platform is the repository's platform-cm4qemu and the library is the
repository itself, both through `symlink://`.  The shipped example is built
in place with its build and library state redirected to a temporary workspace.
"""
from __future__ import annotations

import json
import re
import sys
import textwrap

import numpy as np
import pytest

from build_integration.support import (EXAMPLES, MODELS, REPO, keras_predict, parse_lines, pio,
                                       print_comparison, require, retouch_h5, run)

EXAMPLE = EXAMPLES / "arduino-gesture"
PLATFORM = REPO / "platformio_plugin" / "platform-cm4qemu"
LABELS = ["rest", "shake", "circle", "tap"]


@pytest.fixture(scope="module")
def core_dir(tmp_path_factory):
    from platformio_plugin.offline import write_tool_scons
    core = tmp_path_factory.mktemp("pio-core")
    write_tool_scons(str(core))
    return core


def compiled_models(output: str) -> list:
    return re.findall(r"^ML4F (\w+) \(", output, re.MULTILINE)


def error_lines(output: str) -> list:
    return [line for line in output.splitlines() if line.startswith("*** [")]


def tree(path):
    return sorted((str(p.relative_to(path)), p.stat().st_size) for p in path.rglob("*"))


# ---- the repository as a PlatformIO library -------------------------------------------------

def test_library_manifest_matches_the_package():
    import ml4f
    manifest = json.loads((REPO / "library.json").read_text())
    assert manifest["name"] == "ml4f" and manifest["version"] == ml4f.__version__
    build = manifest["build"]
    assert (REPO / build["extraScript"]).is_file()
    assert (REPO / build["srcDir"] / "ml4f.c").is_file()
    assert (REPO / build["includeDir"] / manifest["headers"]).is_file()
    for item in manifest["export"]["include"]:
        assert (REPO / item).exists(), item


def test_offline_tool_scons_is_what_this_platformio_requires(tmp_path):
    import SCons
    import semantic_version
    from platformio_plugin.offline import required_spec, tool_scons_version, write_tool_scons
    assert tool_scons_version("4.11.1") == "4.41101.0"
    package = write_tool_scons(str(tmp_path))
    meta = json.loads((tmp_path / "packages" / "tool-scons@4.41101.0" / ".piopm").read_text())
    assert meta["spec"]["owner"] == "platformio" and package.endswith("tool-scons@4.41101.0")
    assert (tmp_path / "packages" / "tool-scons@4.41101.0" / "SCons" / "__init__.py").is_file()
    assert semantic_version.Version(tool_scons_version(SCons.__version__)) in \
        semantic_version.SimpleSpec(required_spec())


# ---- the shipped example, offline environment ----------------------------------------------

@pytest.mark.slow
def test_example_sketch_builds_and_runs_in_qemu_like_keras(core_dir, tmp_path):
    require("arm-none-eabi-gcc", "qemu-system-arm")
    before = tree(EXAMPLE)
    ws = tmp_path / "workspace"
    build = pio(["run", "-e", "emulator"], EXAMPLE, core_dir, ws)
    line = (r"^ML4F gesture \(\.\./models/gesture\.h5\): flash [\d,]+ B, arena 1,344 B, "
            r"[\d,]+ cycles = [\d.]+ ms at 168 MHz \(float32 weights\)$")
    assert re.search(line, build.output, re.MULTILINE), build.output
    assert "[SUCCESS]" in build.output and "Traceback" not in build.output

    executed = pio(["run", "-e", "emulator", "-t", "exec"], EXAMPLE, core_dir, ws)
    assert compiled_models(executed.output) == []        # nothing changed: no recompile
    windows = parse_lines(r"^window (?P<i>\d+): (?P<label>\w+) \[(?P<values>.*)\]$", executed.stdout)
    assert len(windows) == 8, executed.output
    x = np.load(MODELS / "gesture_test_x.npy")
    want = keras_predict(MODELS / "gesture.h5", x)
    got = np.stack([values for _, values in windows])
    print_comparison("gesture.h5: the sketch in QEMU (pio run -t exec) and Keras", range(1, 9), got, want)
    np.testing.assert_allclose(got, want, atol=2e-6)
    assert [m["label"] for m, _ in windows] == [LABELS[i] for i in want.argmax(-1)]
    assert [LABELS[i] for i in want.argmax(-1)] == [LABELS[i] for i in np.load(MODELS / "gesture_test_y.npy")]
    assert tree(EXAMPLE) == before                          # nothing written into the repository


@pytest.mark.slow
def test_example_unit_tests_pass_in_qemu(core_dir, tmp_path):
    require("arm-none-eabi-gcc", "qemu-system-arm")
    tested = pio(["test", "-e", "emulator"], EXAMPLE, core_dir, tmp_path / "workspace")
    assert re.search(r"15 test cases: 15 succeeded", tested.output), tested.output


# ---- a user's project: three lines in platformio.ini ---------------------------------------

USER_MAIN = """\
#include <stdio.h>
#include "digits.h"

static const float eight[DIGITS_INPUT_ELEMS] = { %s };
static digits_arena_t arena;

int main(void)
{
    printf("class %%d\\n", digits_predict_class(eight, &arena));
    return 0;
}
"""


def user_project(tmp_path, model_lines: str, envs: str = ""):
    """An existing bare-metal project, plus the model lines of the README."""
    (tmp_path / "src").mkdir(parents=True)
    (tmp_path / "models").mkdir()
    for name in ("digits.h5", "gesture.h5"):
        (tmp_path / "models" / name).write_bytes((MODELS / name).read_bytes())
    x = np.load(MODELS / "digits_test_x.npy")[0].ravel()
    (tmp_path / "src" / "main.c").write_text(USER_MAIN % ", ".join(f"{float(v)!r}f" for v in x))
    (tmp_path / "platformio.ini").write_text(textwrap.dedent(f"""\
        [env:netduinoplus2]
        platform = symlink://{PLATFORM}
        board = netduinoplus2
        """) + model_lines + envs)
    return tmp_path


@pytest.mark.slow
def test_user_project_with_three_lines_builds_rebuilds_and_cleans(core_dir, tmp_path):
    require("arm-none-eabi-gcc", "qemu-system-arm")
    p = user_project(tmp_path, textwrap.dedent(f"""\
        lib_deps = ml4f=symlink://{REPO}
        custom_ml4f_models = models/*.h5
        custom_ml4f_float16 = yes
        """))
    generated = p / ".pio" / "build" / "netduinoplus2" / "ml4f"
    first = pio(["run", "-t", "exec"], p, core_dir)
    assert sorted(compiled_models(first.output)) == ["digits", "gesture"]
    assert "(float16 weights)" in first.output
    label = int(np.load(MODELS / "digits_test_y.npy")[0])
    assert f"class {label}" in first.stdout

    assert compiled_models(pio(["run"], p, core_dir).output) == []
    retouch_h5(p / "models" / "digits.h5")
    changed = pio(["run"], p, core_dir)
    assert compiled_models(changed.output) == ["digits"]
    assert "Compiling .pio/build/netduinoplus2/src/main.o" in changed.output   # new hash in digits.h

    pio(["run", "-t", "clean"], p, core_dir)
    assert not generated.exists()


@pytest.mark.slow
def test_build_errors_are_one_line_and_leave_nothing_to_link(core_dir, tmp_path):
    require("arm-none-eabi-gcc")
    import keras
    p = user_project(tmp_path, "lib_deps = ml4f=symlink://%s\ncustom_ml4f_models = models/digits.h5\n"
                     % REPO, envs=textwrap.dedent("""\
        [env:unsupported]
        extends = env:netduinoplus2
        custom_ml4f_models = models/digits.h5, models/masked.h5

        [env:tiny]
        extends = env:netduinoplus2
        board_upload.maximum_ram_size = 1024

        [env:options]
        extends = env:netduinoplus2
        custom_ml4f_models = models/missing*.h5
        custom_ml4f_optimize = fastest
        """))
    keras.Sequential([keras.Input((10, 3)), keras.layers.Masking(name="mask"),
                      keras.layers.LSTM(4, name="memory"),
                      keras.layers.Dense(2, name="out")]).save(p / "models" / "masked.h5")
    build = p / ".pio" / "build"

    assert pio(["run", "-e", "netduinoplus2"], p, core_dir).returncode == 0
    (p / "models" / "digits.h5").write_bytes(b"\x89HDF\r\n\x1a\n truncated")   # it built before
    broken = pio(["run", "-e", "netduinoplus2"], p, core_dir, check=False)
    assert broken.returncode != 0 and "Traceback" not in broken.output
    [line] = error_lines(broken.output)
    assert line.startswith("*** [.pio/build/netduinoplus2/ml4f/digits.bin] models/digits.h5: "
                           "cannot read the HDF5 file, the file is damaged or truncated")
    assert not any((build / "netduinoplus2" / "ml4f" / f"digits{s}").exists() for s in (".bin", ".h", ".S"))
    assert "Linking" not in broken.output
    (p / "models" / "digits.h5").write_bytes((MODELS / "digits.h5").read_bytes())

    unsupported = pio(["run", "-e", "unsupported"], p, core_dir, check=False)
    assert unsupported.returncode != 0 and "Traceback" not in unsupported.output
    assert error_lines(unsupported.output) == [
        "*** [.pio/build/unsupported/ml4f/masked.bin] models/masked.h5: layer 'mask' (Masking): "
        "masking is not supported (recurrent layers run over every timestep); remove the "
        "Masking layer to compute every step"]
    assert not (build / "unsupported" / "firmware.elf").exists()
    assert not any((build / "unsupported" / "ml4f").glob("masked.*"))

    tiny = pio(["run", "-e", "tiny"], p, core_dir, check=False)      # the RAM is the budget
    [line] = error_lines(tiny.output)
    assert line.startswith("*** [.pio/build/tiny/ml4f/digits.bin] models/digits.h5: the arena needs "
                           "at least ") and "(peak at op '" in line and line.endswith(
        "), more than the budget of 1,024 B"), line
    assert not (build / "tiny" / "firmware.elf").exists()

    options = pio(["run", "-e", "options"], p, core_dir, check=False)
    assert options.returncode != 0 and "Traceback" not in options.output
    assert error_lines(options.output) == [
        "*** [.pio/build/options/ml4f/platformio.ini-error] platformio.ini [env:options]: "
        "custom_ml4f_models: models/missing*.h5 matches no file; "
        "custom_ml4f_optimize must be size | balanced | speed, not 'fastest'"]


# ---- options that would otherwise be silently ignored, per-model options, fit ---------------

@pytest.mark.slow
def test_misspelt_keys_stop_the_build_naming_the_known_ones(core_dir, tmp_path):
    require("arm-none-eabi-gcc")
    p = user_project(tmp_path, f"lib_deps = ml4f=symlink://{REPO}\ncustom_ml4f_modles = models/digits.h5\n",
                     envs=f"[env:typo]\nplatform = symlink://{PLATFORM}\nboard = netduinoplus2\n"
                          f"lib_deps = ml4f=symlink://{REPO}\ncustom_ml4f_models = models/digits.h5\n"
                          "custom_ml4f_flaot16 = yes\n")
    known = ("custom_ml4f_arena_goal, custom_ml4f_float16, custom_ml4f_max_arena, custom_ml4f_models, "
             "custom_ml4f_optimize, custom_ml4f_shared_arena, custom_ml4f_test_data, custom_ml4f_validate")
    for env, key in (("netduinoplus2", "custom_ml4f_modles"), ("typo", "custom_ml4f_flaot16")):
        result = pio(["run", "-e", env], p, core_dir, check=False)
        assert result.returncode != 0 and "Traceback" not in result.output
        [line] = error_lines(result.output)
        assert line == (f"*** [.pio/build/{env}/ml4f/platformio.ini-error] platformio.ini [env:{env}]: "
                        f"unknown option {key} (known: {known})"), line
        assert "Linking" not in result.output


@pytest.mark.slow
def test_per_model_options(core_dir, tmp_path):
    require("arm-none-eabi-gcc")
    p = user_project(tmp_path, textwrap.dedent(f"""\
        lib_deps = ml4f=symlink://{REPO}
        custom_ml4f_models =
            models/digits.h5
            models/gesture.h5  float16=yes optimize=size
        """), envs=textwrap.dedent("""\
        [env:bad]
        extends = env:netduinoplus2
        custom_ml4f_models = models/digits.h5 float=yes, models/gesture.h5 optimize=fast
        """))
    built = pio(["run", "-e", "netduinoplus2"], p, core_dir)
    lines = {m: line for line in built.output.splitlines() for m in ("digits", "gesture")
             if line.startswith(f"ML4F {m} (")}
    assert lines["digits"].endswith("(float32 weights)") and lines["gesture"].endswith("(float16 weights)")
    gesture = (p / ".pio" / "build" / "netduinoplus2" / "ml4f" / "gesture.h").read_text()
    assert '#define GESTURE_WEIGHT_TYPE "float16"' in gesture
    bad = pio(["run", "-e", "bad"], p, core_dir, check=False)
    [line] = error_lines(bad.output)
    assert ("custom_ml4f_models: models/digits.h5 float=yes: unknown per-model option 'float=yes' "
            "(known: arena_goal=, float16=, max_arena=, name=, optimize=, test_data=, validate=)") in line
    assert "custom_ml4f_models: models/gesture.h5 optimize=fast: optimize must be size | balanced | speed, " \
           "not 'fast'" in line


@pytest.mark.slow
def test_all_models_together_against_the_board(core_dir, tmp_path):
    """Each model fits alone; together they do not (digits 16,304 B + gesture 20,064 B of flash,
    arenas 1,288 B + 1,344 B)."""
    require("arm-none-eabi-gcc")
    p = user_project(tmp_path, f"lib_deps = ml4f=symlink://{REPO}\ncustom_ml4f_models = models/*.h5\n",
                     envs=textwrap.dedent("""\
        [env:flash]
        extends = env:netduinoplus2
        board_upload.maximum_size = 30000

        [env:ram]
        extends = env:netduinoplus2
        board_upload.maximum_ram_size = 2500

        [env:shared]
        extends = env:ram
        custom_ml4f_shared_arena = yes
        """))
    flash = pio(["run", "-e", "flash"], p, core_dir, check=False)
    assert sorted(compiled_models(flash.output)) == ["digits", "gesture"]     # each alone fits
    assert error_lines(flash.output) == [
        "*** [.pio/build/flash/ml4f/all-models.txt] the objects of all models, digits (16,304 B) + "
        "gesture (20,064 B) = 36,368 B, do not fit the flash of netduinoplus2 (30,000 B)"]
    assert "Linking" not in flash.output
    ram = pio(["run", "-e", "ram"], p, core_dir, check=False)
    assert error_lines(ram.output) == [
        "*** [.pio/build/ram/ml4f/all-models.txt] the arenas of all models, digits (1,288 B) + "
        "gesture (1,344 B) = 2,632 B, do not fit the RAM of netduinoplus2 (2,500 B); models run one "
        "after another can share one arena (see custom_ml4f_shared_arena)"]
    shared = pio(["run", "-e", "shared"], p, core_dir, check=False)
    assert "all-models.txt" not in shared.output and "Linking" in shared.output


@pytest.mark.slow
def test_plugin_runs_the_library_s_own_compiler_and_recompiles_when_it_changes(core_dir, tmp_path):
    """An installed copy of ml4f with the same version number as the library (an older
    checkout) must not be the compiler that runs, and a change to the compiler's files
    recompiles the models."""
    import shutil
    require("arm-none-eabi-gcc")
    library = tmp_path / "ml4f-checkout"
    for part in ("ml4f", "ml4f_scons", "platformio_plugin", "runtime"):
        shutil.copytree(REPO / part, library / part, ignore=shutil.ignore_patterns("__pycache__"))
    for part in ("library.json", "pyproject.toml", "setup.py", "README.md"):
        shutil.copy(REPO / part, library / part)
    installed = tmp_path / "site"              # the copy pip installed from the library earlier
    run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", installed, library], timeout=300)
    p = user_project(tmp_path / "project", f"lib_deps = ml4f=symlink://{library}\n"
                     "custom_ml4f_models = models/digits.h5\n")
    env = {"PYTHONPATH": str(installed)}
    first = pio(["run"], p, core_dir, env=env)
    assert compiled_models(first.output) == ["digits"]
    firmware = library / "ml4f" / "firmware.py"        # the checkout is updated, same version
    firmware.write_text(firmware.read_text().replace("do not edit.", "do not edit (updated)."))
    second = pio(["run"], p, core_dir, env=env)
    assert compiled_models(second.output) == ["digits"]
    header = (p / ".pio" / "build" / "netduinoplus2" / "ml4f" / "digits.h").read_text()
    assert "do not edit (updated)." in header
    assert compiled_models(pio(["run"], p, core_dir, env=env).output) == []
