"""`ml4f selftest`: is this installation sound?

Compiles the example models shipped inside the package (ml4f/examples: the
repository's examples/models, installed as package data) with float32 and with
float16 weights, the compiler's validation on and a test vector embedded; then,
in a fresh emulator, runs the embedded test vector against the output stored
with it and against the float64 reference, and classifies the example's
labelled samples, every prediction of which must match the reference's.
"""
from __future__ import annotations

import sys
import time
from importlib import resources

import numpy as np

from . import reference
from .emulator import Machine
from .errors import ML4FError
from .validate import as_seen_by_code, check

MODELS = ("digits", "gesture")


def example(name: str, root=None):
    """A file of the examples shipped with the package, or of the directory
    `root` (a path usable while the context is open)."""
    where = resources.files("ml4f") / "examples" if root is None else root
    return resources.as_file(where / name)


def check_model(name: str, float16: bool, root=None) -> str:
    from .api import compile_file

    with example(f"{name}.h5", root) as path:
        compiled = compile_file(path, float16=float16, test_data=True)
    with example(f"{name}_test_x.npy", root) as px, example(f"{name}_test_y.npy", root) as py:
        xs, ys = np.load(px, allow_pickle=False), np.load(py, allow_pickle=False)
    machine = Machine(compiled.object)
    h = machine.header
    stored = np.frombuffer(compiled.object, "<f4", h.output_elems, h.test_output_offset)
    got = machine.run().output.ravel()
    if not np.array_equal(got.view(np.uint32), stored.view(np.uint32)):
        raise ML4FError("embedded test vector: the output differs from the one stored with it")
    graph = as_seen_by_code(compiled.graph, float16)
    x = np.frombuffer(compiled.object, "<f4", h.input_elems, h.test_input_offset)
    check(got, reference.run_graph(graph, x), what="embedded test vector",
          expected32=reference.run_graph(graph, x, np.float32))
    correct = 0
    for i, (sample, label) in enumerate(zip(xs, ys)):
        out = machine.run(sample).output.ravel()
        ref = reference.run_graph(graph, sample).ravel()
        if int(np.argmax(out)) != int(np.argmax(ref)):
            raise ML4FError(f"sample {i}: the compiled code predicts class {int(np.argmax(out))}, "
                            f"the reference {int(np.argmax(ref))}")
        correct += int(np.argmax(out)) == int(label)
    t = compiled.report["totals"]
    return (f"{t['file_bytes']:,} B flash, {t['cycles']:,} cycles; test vector ok; "
            f"{correct}/{len(ys)} samples right, as the reference")


def main(out=None, root=None) -> int:
    """Check every example (those in the directory `root` instead of the
    package's, if given); print one line each and a verdict."""
    out = out or sys.stdout
    failed = 0
    start = time.perf_counter()
    for name in MODELS:
        for float16 in (False, True):
            what = f"{name} ({'float16' if float16 else 'float32'} weights)"
            try:
                print(f"ok    {what}: {check_model(name, float16, root)}", file=out, flush=True)
            except (ML4FError, OSError, ValueError) as e:      # OSError, ValueError: a broken file
                failed += 1
                print(f"FAIL  {what}: {e}", file=out, flush=True)
    seconds = time.perf_counter() - start
    total = 2 * len(MODELS)
    verdict = f"all {total} checks passed" if not failed else f"{failed} of {total} checks FAILED"
    print(f"selftest: {verdict} ({seconds:.1f} s)", file=out)
    return 1 if failed else 0
