"""Validation: the emitted machine code, run in the emulator, against the NumPy
reference -- each op alone with random weights, then the whole model.

Error measure, per element: |actual - expected| / (|expected| + rms(expected)),
i.e. relative error with a floor at the tensor's RMS so that values that
cancel to nearly zero are judged against the size of the tensor.  The
expected values come from the float64 reference.  Where a model is so
ill-conditioned that float32 rounding alone moves a result by more than the
tolerance (e.g. softmax over large logits from long sums), the reference is
also evaluated in float32 and the allowance for that element widens to
NOISE_FACTOR times the difference between the two evaluations.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from . import context, reference
from .backend import compile_graph
from .emulator import Machine
from .errors import ValidationError
from .graph.ops import Graph, Op, elems
from .graph.ops.shape import View
from .options import Options
from .report import MODEL_BOUND
from .weights import f16_round

RTOL = 1e-5
NOISE_FACTOR = 16.0
F32_MAX = float(np.finfo(np.float32).max)


def errors(actual: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Per-element error (see module doc); inf where finiteness differs."""
    a = np.asarray(actual, np.float64).ravel()
    b = np.asarray(expected, np.float64).ravel()
    if a.shape != b.shape:
        return np.array([np.inf])
    fin = np.isfinite(b)
    out = np.zeros(b.shape)
    out[~fin] = np.where(a[~fin] == b[~fin], 0.0, np.inf)
    if fin.any():
        bf = b[fin]
        floor = np.sqrt(np.mean(bf * bf))
        den = np.abs(bf) + floor
        den[den == 0] = 1.0
        with np.errstate(invalid="ignore"):
            e = np.abs(a[fin] - bf) / den
        out[fin] = np.where(np.isfinite(a[fin]), e, np.inf)
    return out


def error(actual: np.ndarray, expected: np.ndarray) -> float:
    e = errors(actual, expected)
    return float(e.max()) if e.size else 0.0


def map_weights(op: Op, fn) -> Op:
    """A copy of `op` with fn(field, array, stored_as_f16_capable) applied to its arrays."""
    return op.map_arrays(fn)


def as_seen_by_code(graph: Graph, float16: bool) -> Graph:
    """The graph with weights as the generated code sees them (f16-rounded)."""
    if not float16:
        return graph
    ops = [map_weights(op, lambda n, a, w: f16_round(a) if w else a) for op in graph.ops]
    return dataclasses.replace(graph, ops=ops)


def random_op(op: Op, rng: np.random.Generator, shrink: float = 1.0) -> Op:
    """`op` with random arrays: weights uniform in +-1/sqrt(fan-in), the others in
    +-0.5, all times `shrink`."""
    def rand(name, arr, is_weight):
        scale = 1.0 / np.sqrt(max(1, arr.size // max(1, arr.shape[-1])))
        return rng.uniform(-1.0, 1.0, arr.shape).astype(np.float32) * \
            np.float32((scale if is_weight else 0.5) * shrink)
    return map_weights(op, rand)


class _ReferenceOverflow(ValidationError):
    """The float64 reference itself leaves the float32 range."""


#: an op alone whose random arrays make even the reference overflow float32 (a ReLU
#: recurrence over many steps) is tried again with arrays this much smaller, so often
RANDOM_SHRINK, RANDOM_TRIES = 0.25, 4


def single_op_graph(op: Op) -> Graph:
    """A graph of `op` alone.  An op with several inputs gets one input tensor
    holding all operands back to back, and views of it as its inputs (distinct
    operands even where the model feeds one tensor twice)."""
    if len(op.inputs) <= 1:
        op = dataclasses.replace(op, inputs=["x"], output="y")
        return Graph(input="x", output="y", input_shape=tuple(op.in_shapes[0]),
                     output_shape=tuple(op.out_shape), ops=[op],
                     shapes={"x": tuple(op.in_shapes[0]), "y": tuple(op.out_shape)})
    total = sum(elems(s) for s in op.in_shapes)
    shapes, views, offset = {"x": (total,)}, [], 0
    for k, shape in enumerate(op.in_shapes):
        name = f"x{k}"
        views.append(View(f"{op.name}/input {k}", "View", ["x"], name, [(total,)], tuple(shape),
                          offset=offset))
        shapes[name] = tuple(shape)
        offset += elems(shape)
    op = dataclasses.replace(op, inputs=[v.output for v in views], output="y")
    shapes["y"] = tuple(op.out_shape)
    return Graph(input="x", output="y", input_shape=(total,), output_shape=tuple(op.out_shape),
                 ops=views + [op], shapes=shapes)


def _noise(expected32, expected) -> np.ndarray:
    """How far float32 rounding alone moves the reference, per element; where the float32
    evaluation overflowed it says nothing (0: no widening, never an infinite allowance)."""
    noise = errors(expected32, expected)
    noise[~np.isfinite(noise)] = 0.0
    return noise


def applied_bound(actual, expected, *, rtol: float = RTOL, expected32=None) -> float:
    """The allowance `check` applies at the element closest to failing: `rtol`, or more where
    the float32 evaluation of the reference alone moves further (summaries print this)."""
    e = errors(actual, expected)
    allowed = np.full(e.shape, rtol)
    if expected32 is not None:
        allowed = np.maximum(allowed, NOISE_FACTOR * _noise(expected32, expected))
    if not e.size or not np.isfinite(e).all():
        return rtol
    return float(allowed[np.argmax(e / allowed)])


def check(actual, expected, *, what: str, op: Op | None = None, rtol: float = RTOL,
          expected32=None) -> float:
    """Raise ValidationError unless `actual` matches the float64 reference
    `expected`; `expected32` (the float32 evaluation) widens the allowance
    where float32 rounding alone exceeds the tolerance."""
    kw = dict(layer=op.name if op else None, layer_class=op.layer_class if op else None)
    finite = np.isfinite(np.asarray(actual, np.float64)), np.isfinite(np.asarray(expected,
                                                                                np.float64))
    if not finite[1].all() or np.abs(np.asarray(expected, np.float64)).max(initial=0.0) > F32_MAX:
        raise _ReferenceOverflow(f"{what}: the output is not finite (NaN or infinity) on random "
                                 "inputs: the layer's weights or parameters overflow float32", **kw)
    if not finite[0].all():
        # equal infinities are no match either: the numbers overflowed float32
        raise ValidationError(f"{what}: the output is not finite (NaN or infinity) on random "
                              "inputs: the layer's weights or parameters overflow float32", **kw)
    e = errors(actual, expected)
    allowed = np.full(e.shape, rtol)
    if expected32 is not None:
        allowed = np.maximum(allowed, NOISE_FACTOR * _noise(expected32, expected))
    bad = ~(e <= allowed) | ~np.isfinite(e)
    err = float(e.max()) if e.size else 0.0
    if bad.any():
        raise ValidationError(
            f"{what}: emulated machine code differs from the reference (error {err:.3g} > {rtol:g})",
            **kw)
    return err


def validate(graph: Graph, machine: Machine, options: Options, progress=None,
             profiled: tuple[Machine, np.ndarray, list] | None = None) -> dict:
    """Each op alone with random weights (compiled on its own), then the whole
    model run by `machine`; returns the largest error seen per op and for the
    model ("model").  Raises ValidationError at the first mismatch.
    progress(done, total, what) is called before each step and at the end.

    With `profiled` = (a Machine(profile=True) of the same object, an input, a
    list), the whole model's first run is that machine's run on that input, and
    its RunResult is appended to the list: the cycle profile comes from the
    validation instead of another run of the same code."""
    rng = np.random.default_rng(options.seed)
    errors = {}
    steps = len(graph.ops) + 1
    for i, op in enumerate(graph.ops):
        if progress:
            progress(i, steps, op.name)
        with context.op_step("validating the layer alone", op):
            for attempt in range(RANDOM_TRIES):
                alone = single_op_graph(random_op(op, rng, RANDOM_SHRINK ** attempt))
                with Machine(compile_graph(alone, float16=options.float16,
                                           optimize=options.optimize).object) as m1:
                    try:
                        errors[op.name] = _compare(m1, as_seen_by_code(alone, options.float16),
                                                   rng, 2, "layer alone with random weights", op)
                        break
                    except _ReferenceOverflow:
                        if attempt == RANDOM_TRIES - 1:
                            raise
    if progress:
        progress(steps - 1, steps, "whole model")
    bounds = []
    with context.step("validating the whole model"):
        errors["model"] = _compare(machine, as_seen_by_code(graph, options.float16), rng,
                                   options.validation_inputs, "whole model", None, bounds,
                                   profiled)
    errors[MODEL_BOUND] = max(bounds)[1]    # the allowance at the worst element, for the summary
    if progress:
        progress(steps, steps, "")
    return errors


def _compare(machine: Machine, ref_graph: Graph, rng, runs: int, what: str, op,
             bounds: list | None = None, profiled=None) -> float:
    """The largest error over `runs` random inputs (the first one `profiled`'s,
    see validate); with `bounds`, also appends (error, applied bound) per run."""
    worst = 0.0
    for i in range(runs):
        x = rng.standard_normal(ref_graph.input_shape).astype(np.float32)
        if i == 0 and profiled is not None:
            profiler, x, results = profiled
            result = profiler.run(x)
            results.append(result)
        else:
            result = machine.run(x)
        out, expected = result.output, reference.run_graph(ref_graph, x)
        expected32 = reference.run_graph(ref_graph, x, np.float32)
        error = check(out, expected, expected32=expected32, what=what, op=op)
        worst = max(worst, error)
        if bounds is not None:
            bounds.append((error, applied_bound(out, expected, expected32=expected32)))
    return worst
