"""An object compiled by the `ml4f` CLI, linked into a C program with
arm-none-eabi-gcc (hard float), run under QEMU (netduinoplus2, a Cortex-M4F):
it prints exactly what the Unicorn emulator computes -- a second, independent
CPU model agreeing with the first."""
from __future__ import annotations

import json

import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ml4f.emulator import Machine

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parent / "examples" / "models"
BAREMETAL = HERE.parent / "examples" / "scons-baremetal"     # its start-up code and linker script
CFLAGS = ["-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard", "-mthumb", "-O2",
          "-ffunction-sections", "-fdata-sections", "-Wall", "-Werror"]
LDFLAGS = ["-nostartfiles", "--specs=nano.specs", "--specs=rdimon.specs", "-Wl,--gc-sections"]

pytestmark = pytest.mark.slow


def require(tool):
    if shutil.which(tool) is None:
        pytest.fail(f"{tool} is not installed (CI installs it; see .ci/run)")


def c_floats(values) -> str:
    return ", ".join(f"{float(v)!r}f" if np.isfinite(v) else "0.0f" for v in values)


MAIN_C = """\
#include <stdio.h>
#include <string.h>
#include "{name}.h"

static const float inputs[{n}][{N}_INPUT_ELEMS] = {{
{rows}
}};
static {name}_arena_t arena;

int main(void)
{{
    float out[{N}_OUTPUT_ELEMS];
    for (int i = 0; i < {n}; i++) {{
        {name}_predict(inputs[i], out, &arena);
        printf("out %d class %d", i, {name}_argmax(out, {N}_OUTPUT_ELEMS));
        for (unsigned j = 0; j < {N}_OUTPUT_ELEMS; j++) {{
            unsigned long bits;
            memcpy(&bits, &out[j], sizeof bits);
            printf(" %08lx", bits);
        }}
        printf("\\n");
    }}
    return 0;
}}
"""


def build_and_run(tmp_path: Path, model: Path, name: str, x: np.ndarray, extra=()):
    require("arm-none-eabi-gcc")
    require("qemu-system-arm")
    out = tmp_path / "built"
    cli = subprocess.run([sys.executable, "-m", "ml4f", "compile", str(model), "-o", str(out),
                          "-b", name, *extra], capture_output=True, text=True)
    assert cli.returncode == 0, cli.stderr
    rows = ",\n".join("    {" + c_floats(v.ravel()) + "}" for v in x)
    (tmp_path / "main.c").write_text(MAIN_C.format(name=name, N=name.upper(), n=len(x), rows=rows))
    elf = tmp_path / "fw.elf"
    subprocess.run(["arm-none-eabi-gcc", *CFLAGS, *LDFLAGS, "-T", str(BAREMETAL / "stm32f405.ld"),
                    "-I", str(out), "-I", str(BAREMETAL / "src"), str(BAREMETAL / "src" / "startup.c"),
                    str(tmp_path / "main.c"),
                    str(out / f"{name}.S"), "-o", str(elf)], check=True)
    run = subprocess.run(["qemu-system-arm", "-M", "netduinoplus2", "-nographic", "-monitor", "none",
                          "-serial", "none", "-semihosting-config", "enable=on,target=native",
                          "-kernel", str(elf)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, (run.returncode, run.stdout, run.stderr)
    outputs = []
    for line in run.stdout.splitlines():
        parts = line.split()
        if parts and parts[0] == "out":
            bits = [int(h, 16) for h in parts[4:]]
            outputs.append(np.array(struct.unpack(f"<{len(bits)}f", struct.pack(f"<{len(bits)}I", *bits)),
                                    np.float32))
    assert len(outputs) == len(x), run.stdout
    return np.stack(outputs), (out / f"{name}.bin").read_bytes()


@pytest.mark.parametrize("extra", [(), ("--float16",)], ids=["f32", "f16"])
def test_digits_in_qemu_matches_unicorn(tmp_path, extra):
    x = np.load(EXAMPLES / "digits_test_x.npy")[:12]
    qemu_out, obj = build_and_run(tmp_path, EXAMPLES / "digits.h5", "digits", x, extra)
    machine = Machine(obj)
    unicorn_out = np.stack([machine.run(v).output for v in x])
    assert np.array_equal(qemu_out.view(np.uint32), unicorn_out.view(np.uint32))
    labels = np.load(EXAMPLES / "digits_test_y.npy")[:12]
    assert (qemu_out.argmax(-1) == labels).mean() >= 0.9


@pytest.mark.parametrize("extra", [(), ("--optimize", "speed")], ids=["balanced", "speed"])
def test_streamed_resnet8_in_qemu_matches_unicorn(tmp_path, extra):
    """ResNet-8 as compiled by default: a region streamed row by row (rings in
    the arena, repeated rows, a fused residual over its operand) and outputs
    over their inputs behind the read front; in --optimize speed every 3x3
    stride-1 layer of the region a Winograd convolution whose windows wrap
    around rings without repeated rows; bit for bit on both CPU models."""
    model = HERE.parent / "benchmarks" / "models" / "resnet8.h5"
    x = np.random.default_rng(8).uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
    qemu_out, obj = build_and_run(tmp_path, model, "resnet8", x, extra)
    text = (tmp_path / "built" / "resnet8.json").read_text()
    assert '"streamed": [\n' in text and '"op": "stream"' in text
    if extra:
        region = json.loads(text)["arena"]["streamed"][0]
        assert sum(op.get("algorithm") == "winograd" for op in region["inner"]) >= 4
        assert any(ring["repeated_rows"] == 0 for ring in region["rings"].values())
    machine = Machine(obj)
    unicorn_out = np.stack([machine.run(v).output for v in x])
    assert np.array_equal(qemu_out.view(np.uint32), unicorn_out.view(np.uint32))


def test_winograd_object_in_qemu_matches_unicorn(tmp_path):
    """The CIFAR-sized CNN in --optimize speed: its third convolution runs as a
    Winograd convolution (scratch in the arena, subroutines, the transforms), and
    its second inside the streamed region (tile rows from rings), bit for bit on
    both CPU models, in float32 and float16."""
    model = HERE.parent / "benchmarks" / "models" / "cifar_cnn.h5"
    x = np.random.default_rng(9).uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
    for extra in (("--optimize", "speed"), ("--optimize", "speed", "--float16")):
        where = tmp_path / extra[-1].strip("-")
        where.mkdir()
        qemu_out, obj = build_and_run(where, model, "cifar", x, extra)
        report = json.loads((where / "built" / "cifar.json").read_text())
        assert any(L.get("algorithm") == "winograd" for L in report["layers"])
        assert "conv2" in [op["name"] for r in report["arena"]["streamed"] for op in r["inner"]
                           if op.get("algorithm") == "winograd"]
        machine = Machine(obj)
        unicorn_out = np.stack([machine.run(v).output for v in x])
        assert np.array_equal(qemu_out.view(np.uint32), unicorn_out.view(np.uint32))


@pytest.mark.parametrize("extra", [(), ("--arena-goal", "fast", "--optimize", "speed")],
                         ids=["streamed", "op-by-op"])
def test_pointwise_block_in_qemu_matches_unicorn(tmp_path, extra):
    """MobileNet's depthwise -> 1x1 (8 -> 16) -> depthwise block: by default
    streamed (the 1x1 in the conv kernel's resident scheme, a row per call),
    op by op as channel passes over groups of rows; bit for bit on both CPU
    models."""
    from keras_models import keras_module
    from test_differential_conv_pool import _mobilenet_block
    K = keras_module("k3")
    model = _mobilenet_block(K, 24, 24, 8, 16, "relu")
    rng = np.random.default_rng(4)
    model.set_weights([rng.uniform(0.5, 1.5, w.shape).astype(np.float32) * np.sign(
        rng.uniform(-1, 1, w.shape)).astype(np.float32) if "variance" not in v.name
        else rng.uniform(0.5, 1.5, w.shape).astype(np.float32)
        for w, v in zip(model.get_weights(), model.weights)])
    path = tmp_path / "block.keras"
    model.save(str(path))
    x = rng.uniform(-1, 1, (2, 24, 24, 8)).astype(np.float32)
    qemu_out, obj = build_and_run(tmp_path, path, "block", x, extra)
    kernels = json.loads((tmp_path / "built" / "block.json").read_text())["layers"]
    scheme = "scheme='resident'" if not extra else "scheme=passes"
    assert any(scheme in str(L["kernel"]) for L in kernels), kernels
    machine = Machine(obj)
    unicorn_out = np.stack([machine.run(v).output.ravel() for v in x])
    assert np.array_equal(qemu_out.view(np.uint32), unicorn_out.view(np.uint32))
