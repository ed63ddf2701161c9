"""`ml4f compile --arduino-library DIR`: a model as an Arduino library.

    DIR/library.properties
    DIR/src/NAME.h, DIR/src/NAME.c     the header and the object as a const array
    DIR/src/ml4f.h, DIR/src/ml4f.c     the C runtime
    DIR/examples/NAME/NAME.ino         a sketch that runs the model once

With DIR ending in `.zip` the same files go into a ZIP archive holding one folder,
which the Arduino IDE installs with Sketch > Include Library > Add .ZIP Library.
The files are byte-identical for identical inputs (fixed ZIP timestamps, sorted entries).
"""
from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

from . import __version__
from .errors import UsageError
from .firmware import c_array_file, c_identifier, header_file, runtime_sources

LIBRARY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\- ]*$")
ZIP_TIME = (1980, 1, 1, 0, 0, 0)

EXAMPLE = """\
// Runs the {n} model once on an input of zeros and prints its outputs.
// Replace the input with your data: {N}_INPUT_ELEMS floats, channels last.
#include <{n}.h>

static {n}_arena_t arena;
static float input[{N}_INPUT_ELEMS];
static float output[{N}_OUTPUT_ELEMS];

void setup() {{
  Serial.begin(115200);
  {n}_predict(input, output, &arena);
  for (unsigned i = 0; i < {N}_OUTPUT_ELEMS; i++) {{
    Serial.print(output[i], 6);
    Serial.print(i + 1 < {N}_OUTPUT_ELEMS ? " " : "\\n");
  }}
}}

void loop() {{}}
"""


def library_files(library: str, name: str, compiled) -> dict:
    """{relative path: bytes} of the library named `library` holding model `name`."""
    if not LIBRARY_NAME.match(library):
        raise UsageError(f"--arduino-library: {library!r} is not a valid Arduino library name "
                         "(letters, digits, '_', '.', '-' and spaces, starting with a letter or digit)")
    n = c_identifier(name)
    weights = "float16" if compiled.report["options"]["float16"] else "float32"
    properties = "\n".join([
        f"name={library}",
        f"version={__version__}",
        "author=ml4f",
        "maintainer=ml4f",
        f"sentence=The Keras model {compiled.report['model_name']} compiled to Cortex-M4F machine code by ml4f.",
        f"paragraph=Include {n}.h and call {n}_predict(). {compiled.header.arena_bytes} B of RAM, "
        f"{len(compiled.object)} B of flash, {weights} weights. Needs a Cortex-M4F, M7 or M33 "
        "with FPU; other boards stop at an #error naming the compiler flags.",
        "category=Data Processing",
        "url=",                     # required by the Arduino IDE; a generated library has none
        "architectures=*",
        f"includes={n}.h",
    ]) + "\n"
    files = {
        "library.properties": properties,
        f"src/{n}.h": header_file(name, compiled.header, compiled.report, compiled.content_hash),
        f"src/{n}.c": c_array_file(name, compiled.object, compiled.content_hash),
        f"examples/{n}/{n}.ino": EXAMPLE.format(n=n, N=n.upper()),
    }
    for path in runtime_sources():
        files[f"src/{path.name}"] = path.read_text()
    return {k: v.encode() for k, v in sorted(files.items())}


def zip_bytes(folder: str, files: dict) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for relative, data in files.items():
            info = zipfile.ZipInfo(f"{folder}/{relative}", date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, data)
    return buf.getvalue()


def library_outputs(dest: str, name: str, compiled) -> dict:
    """{Path: bytes} to write: the library's files below dest, or one ZIP at dest."""
    path = Path(dest)
    if path.suffix.lower() == ".zip":
        folder = path.stem
        return {path: zip_bytes(folder, library_files(folder, name, compiled))}
    return {path / rel: data for rel, data in library_files(path.name, name, compiled).items()}


def library_paths(dest: str, name: str) -> list:
    """What library_outputs writes for model `name`, for removal after a failed compile."""
    path, n = Path(dest), c_identifier(name)
    if path.suffix.lower() == ".zip":
        return [path]
    relative = ["library.properties", f"src/{n}.h", f"src/{n}.c", f"examples/{n}/{n}.ino",
                "src/ml4f.h", "src/ml4f.c"]
    return [path / r for r in relative]
