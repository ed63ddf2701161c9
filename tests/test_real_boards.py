"""The example sketch built for real boards by PlatformIO's real platforms and Arduino cores.

No registry: `python -m platformio_plugin.offline CORE --mirror MIRRORS` installs the
offline copies of the ststm32 and nordicnrf52 platforms, the STM32duino and Adafruit
nRF52 cores and CMSIS, with the system's arm-none-eabi GCC as the toolchain.  Each
firmware must then carry a working model: the object is found in the ELF, 16-byte
aligned, byte-identical to the compiled NAME.bin, and the bytes taken from the linked
image compute what Keras computes.
"""
from __future__ import annotations

import re
import sys

import numpy as np
import pytest

from build_integration.support import (EXAMPLES, MODELS, REPO, keras_predict, mirrors_dir, pio,
                                       print_comparison, require, run)

EXAMPLE = EXAMPLES / "arduino-gesture"
pytestmark = pytest.mark.slow

BOARDS = {
    # env: (what the platform's package list must show, the core's own define)
    "blackpill_f411ce": ("framework-arduinoststm32 @ 4.21200.0", "ARDUINO_ARCH_STM32"),
    "adafruit_feather_nrf52840": ("framework-arduinoadafruitnrf52 @ 1.10700.0", "ARDUINO_NRF52_ADAFRUIT"),
}


@pytest.fixture(scope="module")
def core_dir(tmp_path_factory):
    require("arm-none-eabi-gcc")
    core = tmp_path_factory.mktemp("pio-core-real")
    out = run([sys.executable, "-m", "platformio_plugin.offline", core, "--mirror", mirrors_dir()],
              cwd=core)
    assert "platform ststm32" in out.stdout and "platform nordicnrf52" in out.stdout, out.output
    import json
    release = run(["arm-none-eabi-gcc", "-dumpfullversion"]).stdout.strip()
    for package in core.glob("packages/toolchain-gccarmnoneeabi@*"):      # honest about what it is
        description = json.loads((package / "package.json").read_text())["description"]
        assert f"it is GCC {release} underneath" in description, description
    return core


def model_in_elf(elf_path, symbol: str):
    """(address, bytes) of a data symbol as linked into the firmware image."""
    from elftools.elf.elffile import ELFFile
    with open(elf_path, "rb") as fh:
        elf = ELFFile(fh)
        [sym] = [s for s in elf.get_section_by_name(".symtab").iter_symbols() if s.name == symbol]
        address, size = sym["st_value"], sym["st_size"]
        for section in elf.iter_sections():
            start = section["sh_addr"]
            if section["sh_type"] == "SHT_PROGBITS" and start <= address < start + section["sh_size"]:
                offset = address - start
                return address, section.data()[offset:offset + size]
    raise AssertionError(f"{symbol} is in no section with contents")


def hard_float_abi(elf_path) -> bool:
    """Tag_ABI_VFP_args = VFP registers: the firmware is built for the hard-float ABI."""
    out = run(["arm-none-eabi-readelf", "-A", elf_path]).stdout
    return "Tag_ABI_VFP_args: VFP registers" in out


@pytest.mark.parametrize("env", list(BOARDS))
def test_sketch_builds_for_the_board_and_links_a_working_model(core_dir, tmp_path, env):
    from ml4f.emulator import Machine
    package, define = BOARDS[env]
    ws = tmp_path / "workspace"
    build = pio(["run", "-e", env, "-v"], EXAMPLE, core_dir, ws)
    assert "[SUCCESS]" in build.output and "Traceback" not in build.output
    assert package in build.output and "toolchain-gccarmnoneeabi @" in build.output, build.output
    assert re.search(rf"-D{define}\b", build.output)                # the real core compiled the sketch
    assert re.search(r"^ML4F gesture \(\.\./models/gesture\.h5\): flash [\d,]+ B", build.output,
                     re.MULTILINE), build.output

    elf = ws / "build" / env / "firmware.elf"
    compiled = (ws / "build" / env / "ml4f" / "gesture.bin").read_bytes()
    address, linked = model_in_elf(elf, "gesture_model")
    assert address % 16 == 0
    assert linked == compiled
    assert hard_float_abi(elf)

    x = np.load(MODELS / "gesture_test_x.npy")
    machine = Machine(linked)
    got = np.stack([machine.run(window).output for window in x])
    want = keras_predict(MODELS / "gesture.h5", x)
    print_comparison(f"gesture_model linked by {env}, run in the emulator, and Keras",
                     range(1, len(x) + 1), got, want)
    np.testing.assert_allclose(got, want, atol=2e-6)


def test_offline_core_needs_only_platformio(tmp_path):
    """A Python with PlatformIO and nothing else (no SCons, no ml4f), the command run by its path
    from outside the checkout: `pio run` then builds a bare-metal firmware offline."""
    require("arm-none-eabi-gcc")
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", venv])
    python = venv / "bin" / "python"
    run([python, "-m", "pip", "install", "--quiet", "platformio==6.2.0"], timeout=600)
    assert run([python, "-c", "import SCons"], check=False).returncode != 0
    core = tmp_path / "core"
    out = run([python, REPO / "platformio_plugin" / "offline", core], cwd=tmp_path)
    assert "installed into this folder with pip" in (next(core.glob("packages/tool-scons@*"))
                                                     / "package.json").read_text(), out.output
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / "src" / "main.c").write_text("int main(void) { return 0; }\n")
    (project / "platformio.ini").write_text(
        f"[env:qemu]\nplatform = symlink://{REPO / 'platformio_plugin' / 'platform-cm4qemu'}\n"
        "board = netduinoplus2\n")
    built = pio(["run"], project, core, python=python)
    assert "[SUCCESS]" in built.output
