"""The C baseline: the benchmark models as straightforward C kernels compiled by
arm-none-eabi-gcc -O3, run in Unicorn and costed with the compiled objects' cycle model."""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from ml4f import reference
from ml4f.graph.ops import Graph, elems

from .build import GCC, VARIANTS, ToolchainMissing, available, build, flags
from .codegen import NotInBaseline, generate_c
from .runner import Baseline

__all__ = ["GCC", "VARIANTS", "NotInBaseline", "ToolchainMissing", "available", "flags", "measure"]

OUTPUT_TOLERANCE = 1e-5         # baseline output vs compiled object output (abs, and rel > 1)
LAYER_TOLERANCE = 1e-4          # each baseline tensor vs the NumPy reference (float64)


def _scaled_error(got: np.ndarray, want: np.ndarray) -> float:
    got = np.asarray(got, np.float64).ravel()
    want = np.asarray(want, np.float64).ravel()
    return float(np.max(np.abs(got - want) / np.maximum(1.0, np.abs(want)))) if want.size else 0.0


def measure(graph: Graph, x: np.ndarray, expected: np.ndarray, workdir: Path | None = None,
            variants=tuple(VARIANTS)) -> dict:
    """Build, run and cost the graph's C baseline in each variant.

    `expected` is the compiled object's output for `x`: the baseline must agree
    within OUTPUT_TOLERANCE.  Raises NotInBaseline / ToolchainMissing."""
    source = generate_c(graph)
    n = len(graph.ops)
    entries = ["model_run", "model_input", "model_output"] + [f"model_layer_{i}" for i in range(n)]
    symbols = {i: ("model_output" if op.output == graph.output else f"t{i}", elems(op.out_shape))
               for i, op in enumerate(graph.ops)}
    ref = _reference_tensors(graph, x)
    out = {}
    with tempfile.TemporaryDirectory(prefix="ml4f-bench-c-") as tmp:
        root = Path(workdir) if workdir else Path(tmp)
        for variant in variants:
            built = build(source, root / variant, variant, entries)
            run = Baseline(built.elf, n).run(x, elems(graph.output_shape), symbols)
            diff = _scaled_error(run.output, expected)
            layer_err = max((_scaled_error(run.tensors[i], ref[i]) for i in run.tensors), default=0.0)
            out[variant] = {
                "flags": built.flags,
                "cycles": run.cycles["total"],
                "other_cycles": run.cycles.get("other", 0),
                "layer_cycles": [run.cycles.get(str(i), 0) for i in range(n)],
                "instructions": run.instructions,
                "max_output_diff": diff,
                "outputs_equal": diff <= OUTPUT_TOLERANCE,
                "max_reference_error": layer_err,
                "reference_ok": layer_err <= LAYER_TOLERANCE,
            }
    return out


def _reference_tensors(graph: Graph, x: np.ndarray) -> dict:
    """Every op's output from the NumPy reference (float64 inside, float32 results)."""
    values = {graph.input: np.asarray(x, np.float32).reshape(graph.input_shape)}
    out = {}
    for i, op in enumerate(graph.ops):
        values[op.output] = reference.run_op(op, [values[t] for t in op.inputs])
        out[i] = values[op.output]
    return out
