"""What the browser mode does with an upload: compile it, keep the results, run them.

An uploaded model lives only in a temporary directory that is removed as soon
as the compile ends; the results (object, header, assembler file, reports) are
kept in memory under a random id, the most recent MAX_RESULTS of them, so two
browsers compiling at once each get their own.  Compiles and runs take one
lock: the compiler is CPU-bound Python and was never meant to be thread-safe.
"""
from __future__ import annotations

import io
import json
import re
import secrets
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ML4FError, UsageError

MAX_RESULTS = 32
MODEL_SUFFIXES = (".h5", ".keras")
_LOCK = threading.Lock()


@dataclass
class Result:
    id: str
    name: str
    files: dict = field(default_factory=dict)       # file name -> bytes
    report: dict = field(default_factory=dict)
    object: bytes = b""


class Workspace:
    def __init__(self) -> None:
        self._results: OrderedDict[str, Result] = OrderedDict()
        self._guard = threading.Lock()

    # ------------------------------------------------------------- compiling
    def compile(self, filename: str, data: bytes, options: dict) -> Result:
        """Compile an uploaded model file; raise ML4FError (one line naming the
        upload, never the temporary path) when it cannot be compiled."""
        from ..api import compile_file
        from ..firmware import asm_file, c_identifier, header_file
        from ..html_report import render

        upload = safe_name(filename)
        name = c_identifier(Path(upload).stem)
        with tempfile.TemporaryDirectory(prefix="ml4f-serve-") as tmp:
            path = Path(tmp) / upload
            path.write_bytes(data)
            try:
                with _LOCK:
                    compiled = compile_file(path, **options)
            except ML4FError as e:
                raise type(e)(str(e).replace(f"{tmp}/", "").replace(tmp, "")) from None
            try:            # the other weight type, for the flash comparison only
                with _LOCK:
                    other = compile_file(path, **{**options, "validate": False,
                                                  "float16": not options["float16"]})
                other_report = _stable(other.report) | {"model": upload}
            except ML4FError:
                other_report = None
        report = _stable(compiled.report) | {"model": upload}
        result = Result(secrets.token_urlsafe(12), name, report=report, object=compiled.object)
        result.files = {
            f"{name}.bin": compiled.object,
            f"{name}.h": header_file(name, compiled.header, compiled.report,
                                     compiled.content_hash).encode(),
            f"{name}.S": asm_file(name, f"{name}.bin", compiled.content_hash).encode(),
            f"{name}.json": (json.dumps(report, indent=2) + "\n").encode(),
            f"{name}.html": render(report, name, other=other_report).encode(),
        }
        result.report = report | {"other_weights": None if other_report is None else {
            "float16": other_report["options"]["float16"],
            "file_bytes": other_report["totals"]["file_bytes"],
            "cycles": other_report["totals"]["cycles"]}}
        with self._guard:
            self._results[result.id] = result
            while len(self._results) > MAX_RESULTS:
                self._results.popitem(last=False)
        return result

    def get(self, result_id: str) -> Result | None:
        with self._guard:
            return self._results.get(result_id)

    # ---------------------------------------------------------------- running
    def run(self, result: Result, npy: bytes | None, mhz: float) -> dict:
        """Run the object on an uploaded .npy input, or on its embedded test vector."""
        from ..emulator import Machine
        from ..emulator.timing import CycleCounter

        with _LOCK:
            machine = Machine(result.object, profile=True, path=f"{result.name}.bin")
            x = None if npy is None else read_npy(npy, machine.header.input_elems)
            res = machine.run(x)
            cycles = CycleCounter(result.object).count(res.block_counts, res.edge_counts)["total"]
        h = machine.header
        out = res.output.ravel()
        answer = {"input": "embedded test vector" if x is None else "uploaded .npy",
                  "output": [float(v) for v in out], "argmax": int(np.argmax(out)),
                  "cycles": cycles, "ms": round(cycles / (mhz * 1e3), 4),
                  "stack_bytes": res.stack_bytes}
        if x is None:
            expected = np.frombuffer(result.object, "<f4", h.output_elems, h.test_output_offset)
            answer["embedded_test"] = "pass" if np.array_equal(out, expected) else "FAIL"
        return answer


def _stable(report: dict) -> dict:
    """The report without the run-dependent compile time, as `ml4f compile` writes it."""
    return {k: v for k, v in report.items() if k != "compile_seconds"}


def safe_name(filename: str) -> str:
    """The upload's base name, reduced to safe characters, with a model suffix."""
    base = Path(filename.replace("\\", "/")).name
    stem, suffix = Path(base).stem, Path(base).suffix.lower()
    if suffix not in MODEL_SUFFIXES:
        raise UsageError(f"{base or 'the upload'}: not a Keras model file (.h5 or .keras)")
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", stem).strip(".") or "model"
    return stem[:64] + suffix


def read_npy(data: bytes, elems: int) -> np.ndarray:
    try:
        x = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise UsageError(f"input: not a readable .npy file of numbers ({e})") from None
    if not isinstance(x, np.ndarray) or x.dtype.kind not in "fiub":
        raise UsageError("input: a .npy file of numbers is needed")
    if x.size != elems:
        raise UsageError(f"input has {x.size} values, the model takes {elems}")
    x = x.astype(np.float32).ravel()
    if not np.isfinite(x).all():
        raise UsageError("input: NaN or infinite values")
    return x
