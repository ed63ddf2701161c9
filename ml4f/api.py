"""The compiler's entry points, used by the CLI and the build integrations."""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field

import numpy as np

from . import __version__, reference
from .codegen import Generated, generate
from .container import Header, build_object, parse_header
from .emulator import Machine
from .emulator.timing import CycleCounter
from .errors import ML4FError, UsageError
from .graph.build import build_graph
from .graph.rewrite import optimize
from .graph.convert import check_class
from .graph.ops import Graph
from .model import load_model
from .model.records import Model
from .plan import ArenaPlan, plan_arena
from .report import build_report
from .validate import applied_bound, as_seen_by_code, check, random_op, single_op_graph
from .report import MODEL_BOUND

OPTIMIZE = ("size", "balanced", "speed")


@dataclass(frozen=True)
class Options:
    float16: bool = False
    validate: bool = True
    test_data: bool = False
    optimize: str = "balanced"
    mhz: float = 64.0
    validation_inputs: int = 4
    seed: int = 1

    def check(self) -> None:
        if self.optimize not in OPTIMIZE:
            raise UsageError(f"--optimize must be one of {', '.join(OPTIMIZE)}, not {self.optimize!r}")
        if not self.mhz > 0:
            raise UsageError(f"--mhz must be positive, not {self.mhz!r}")

    def signature(self) -> dict:
        """The options that change the object's bytes."""
        return {"float16": self.float16, "test_data": self.test_data, "optimize": self.optimize}


@dataclass
class Compiled:
    object: bytes
    header: Header
    report: dict
    graph: Graph
    generated: Generated
    arena: ArenaPlan
    content_hash: str
    listing_text: str = ""
    timings: dict = field(default_factory=dict)

    def listing(self) -> str:
        return self.listing_text


def content_hash(model_bytes: bytes, options: Options) -> str:
    h = hashlib.sha256()
    h.update(model_bytes)
    h.update(repr(sorted(options.signature().items())).encode())
    h.update(__version__.encode())
    return h.hexdigest()[:16]


def compile_file(path, *, float16: bool = False, validate: bool = True, test_data: bool = False,
                 optimize: str = "balanced", mhz: float = 64.0, check_budget=None,
                 **kw) -> Compiled:
    """Compile a Keras model file (.h5 or .keras) to an ML4F object.

    Raises an ML4FError subclass (one-line message naming the file and layer)
    for anything wrong with the input; nothing is written to disk.
    `check_budget(arena_bytes, object_bytes)`, when given, runs as soon as the
    sizes are known, before validation; what it raises ends the compile."""
    options = Options(float16=float16, validate=validate, test_data=test_data, optimize=optimize,
                      mhz=mhz, **kw)
    options.check()
    path = str(path)
    try:
        t0 = time.perf_counter()
        model = load_model(path, check_layer=check_class)
        with open(path, "rb") as fh:
            digest = content_hash(fh.read(), options)
        load_seconds = time.perf_counter() - t0
        compiled = compile_model(model, options, content=digest, check_budget=check_budget)
    except ML4FError as e:
        raise e.with_path(path)
    compiled.timings["load"] = load_seconds
    compiled.timings["total"] += load_seconds
    compiled.report["compile_seconds"] = round(compiled.timings["total"], 3)
    return compiled


def compile_model(model: Model, options: Options = Options(), content: str = "",
                  check_budget=None) -> Compiled:
    """Compile model records (see ml4f.model) to an ML4F object."""
    start = time.perf_counter()
    timings = {}
    graph = optimize(build_graph(model))
    t = time.perf_counter()
    arena, gen, obj = compile_graph(graph, options)
    timings["codegen"] = time.perf_counter() - t
    if check_budget is not None:
        check_budget(arena.arena_bytes, len(obj))     # (test vectors, if any, are added below)
    machine = Machine(obj)
    t = time.perf_counter()
    errors = {}
    if options.validate:
        errors = validate(graph, obj, machine, options)
    timings["validate"] = time.perf_counter() - t
    rng = np.random.default_rng(options.seed)
    if options.test_data:
        x, y = _test_vector(graph, machine, rng)
        obj = build_object(input_shape=graph.input_shape, output_shape=graph.output_shape,
                           code=gen.code, weights=gen.weights, arena_bytes=arena.arena_bytes,
                           input_offset=arena.offsets[graph.input],
                           output_offset=arena.offsets[graph.output],
                           test_input=x.astype("<f4").tobytes(), test_output=y.astype("<f4").tobytes())
    t = time.perf_counter()
    cycles, stack = _profile(graph, gen, obj)
    timings["profile"] = time.perf_counter() - t
    header = parse_header(obj)
    report = build_report(model, graph, gen, arena, header, cycles, options, errors, stack, content)
    timings["total"] = time.perf_counter() - start
    report["compile_seconds"] = round(timings["total"], 3)
    listing = gen.program.listing()
    return Compiled(obj, header, report, graph, gen, arena, content, listing, timings)


def compile_graph(graph: Graph, options: Options):
    arena = plan_arena(graph)
    gen = generate(graph, arena, float16=options.float16, optimize=options.optimize)
    obj = build_object(input_shape=graph.input_shape, output_shape=graph.output_shape,
                       code=gen.code, weights=gen.weights, arena_bytes=arena.arena_bytes,
                       input_offset=arena.offsets[graph.input],
                       output_offset=arena.offsets[graph.output])
    return arena, gen, obj


def validate(graph: Graph, obj: bytes, machine: Machine, options: Options) -> dict:
    """Each op alone with random weights, then the whole model; returns the
    largest error seen per op and for the model."""
    rng = np.random.default_rng(options.seed)
    errors = {}
    for op in graph.ops:
        g1 = single_op_graph(random_op(op, rng))
        _, _, obj1 = compile_graph(g1, options)
        m1 = Machine(obj1)
        ref_graph = as_seen_by_code(g1, options.float16)
        worst = 0.0
        for _ in range(2):
            x = rng.standard_normal(g1.input_shape).astype(np.float32)
            out = m1.run(x).output
            worst = max(worst, check(out, reference.run_graph(ref_graph, x),
                                     expected32=reference.run_graph(ref_graph, x, np.float32),
                                     what="layer alone with random weights", op=op))
        errors[op.name] = worst
    ref_graph = as_seen_by_code(graph, options.float16)
    worst, bound = 0.0, 0.0
    for _ in range(options.validation_inputs):
        x = rng.standard_normal(graph.input_shape).astype(np.float32)
        out, expected = machine.run(x).output, reference.run_graph(ref_graph, x)
        expected32 = reference.run_graph(ref_graph, x, np.float32)
        error = check(out, expected, expected32=expected32, what="whole model")
        if error >= worst:
            worst, bound = error, applied_bound(out, expected, expected32=expected32)
    errors["model"] = worst
    errors[MODEL_BOUND] = bound         # the allowance at the worst element, for the summary
    return errors


def _test_vector(graph: Graph, machine: Machine, rng):
    """An input in [-1, 1) and what the compiled code outputs for it.  For
    classifier outputs, prefer an input whose probabilities are not saturated."""
    best = None
    for i in range(100):
        x = rng.uniform(-1.0, 1.0, graph.input_shape).astype(np.float32)
        y = machine.run(x).output
        if not np.isclose(float(np.sum(y)), 1.0, atol=0.1) or np.any(y < 0):
            return x, y
        score = float(np.prod(y.astype(np.float64)))
        if best is None or score > best[0]:
            best = (score, x, y)
        if score > 0.1:
            break
    return best[1], best[2]


def _profile(graph: Graph, gen: Generated, obj: bytes):
    machine = Machine(obj, profile=True)
    x = np.random.default_rng(0).standard_normal(graph.input_shape).astype(np.float32)
    res = machine.run(x)
    hs = gen.header_size
    ranges = {str(i): (hs + L.start, hs + L.end) for i, L in enumerate(gen.layers)}
    cycles = CycleCounter(obj).count(res.block_counts, res.edge_counts, ranges)
    return cycles, res.stack_bytes
