"""The compiler's entry points, used by the CLI and the build integrations:
what happens, in which order.

    read the model file (once) -> graph (converters, then every pass)
    -> streamed regions -> Winograd convolutions -> arena plan, machine code, object (once)
    -> validation in the emulator
    -> test vector (optional) -> cycle profile -> report
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field

import numpy as np

from . import __version__, context
from .backend import choose_kernels, compile_graph, plan_memory
from .codegen import Generated, layer_ranges
from .container import Header, attach_test_data, parse_header
from .emulator import Machine
from .emulator.profile import profile, profile_of
from .errors import BudgetError, ML4FError
from .graph.build import build_graph
from .graph.ops import Graph
from .graph.registry import LAYER_KINDS
from .model import load_model
from .model.records import Model
from .options import OPTIMIZE, Options
from .plan import ArenaPlan
from .report import build_report
from .test_vector import find_test_vector
from .validate import validate

__all__ = ["OPTIMIZE", "Options", "Compiled", "compile_file", "compile_model", "compile_graph",
           "content_hash"]


@dataclass
class Compiled:
    object: bytes
    header: Header
    report: dict
    graph: Graph
    generated: Generated
    arena: ArenaPlan
    content_hash: str
    timings: dict = field(default_factory=dict)

    def listing(self) -> str:
        """The generated code, one instruction per line (made when asked for)."""
        return self.generated.program.listing()


def content_hash(model_sha256: str, options: Options) -> str:
    """Of the model file's bytes, the options that change the object, the compiler version."""
    h = hashlib.sha256()
    h.update(bytes.fromhex(model_sha256))
    h.update(repr(sorted(options.signature().items())).encode())
    h.update(__version__.encode())
    return h.hexdigest()[:16]


def compile_file(path, *, float16: bool = False, validate: bool = True, test_data: bool = False,
                 optimize: str = "balanced", mhz: float = 64.0, progress=None, check_budget=None,
                 isolate: bool = True, **kw) -> Compiled:
    """Compile a Keras model file (.h5 or .keras) to an ML4F object.

    `progress`, if given, is called as progress(done, total, what) while the
    code is validated (see ml4f.progress).  `check_budget(arena_bytes,
    object_bytes)`, if given, runs as soon as the sizes are known, before
    validation; what it raises ends the compile.  `max_bytes` and `timeout` are
    the limits of ml4f.limits; `isolate=False` reads the file in this process (tests).
    Raises an ML4FError subclass (one-line message naming the file and layer) for
    anything wrong with the input; nothing is written to disk."""
    options = Options(float16=float16, validate=validate, test_data=test_data, optimize=optimize,
                      mhz=mhz, **kw)
    options.check()
    path = str(path)
    try:
        with context.compiling(path):
            t0 = time.perf_counter()
            model = load_model(path, LAYER_KINDS, limits=options.limits, isolate=isolate)
            load_seconds = time.perf_counter() - t0
            compiled = compile_model(model, options, progress=progress,
                                     check_budget=check_budget)
    except ML4FError as e:
        raise e.with_path(path)
    compiled.timings["load"] = load_seconds
    compiled.timings["total"] += load_seconds
    compiled.report["compile_seconds"] = round(compiled.timings["total"], 3)
    return compiled


def compile_model(model: Model, options: Options = Options(), progress=None,
                  check_budget=None) -> Compiled:
    """Compile model records (see ml4f.model) to an ML4F object.  NumPy's overflow
    warnings are silenced: what overflows is refused by the finiteness checks (graph
    arrays, validation), in one line."""
    with np.errstate(all="ignore"):
        return _compile_model(model, options, progress, check_budget)


def _compile_model(model: Model, options: Options, progress, check_budget) -> Compiled:
    start = time.perf_counter()
    timings = {}
    graph, memory = plan_memory(build_graph(model, options.max_bytes), options.arena_goal,
                                options.max_arena)
    graph = choose_kernels(graph, float16=options.float16, optimize=options.optimize,
                           winograd=options.winograd, max_arena=options.max_arena,
                           arena_goal=options.arena_goal)
    arena, gen, obj = compile_graph(graph, float16=options.float16, optimize=options.optimize)
    if options.max_arena is not None and arena.arena_bytes > options.max_arena:
        raise BudgetError(f"the arena plan needs {arena.arena_bytes:,} B (lower bound "
                          f"{arena.lower_bound:,} B, peak at op '{memory.peak_op}'), more than "
                          f"the budget of {options.max_arena:,} B", key="max_arena",
                          value=options.max_arena)
    timings["codegen"] = time.perf_counter() - start
    if check_budget is not None:
        check_budget(arena.arena_bytes, len(obj))     # (test vectors, if any, are added below)
    with Machine(obj) as machine:
        # the cycle profile's input; with validation, its run is validation's first
        x = np.random.default_rng(0).standard_normal(graph.input_shape).astype(np.float32)
        ranges = layer_ranges(gen)
        profiled: list = []
        t = time.perf_counter()
        if options.validate:
            with Machine(obj, profile=True) as profiler:
                errors = validate(graph, machine, options, progress,
                                  profiled=(profiler, x, profiled))
        else:
            errors = {}
        timings["validate"] = time.perf_counter() - t
        t = time.perf_counter()
        with context.step("profiling the cycles"):
            run = profile_of(obj, profiled[0], ranges) if profiled else profile(obj, x, ranges)
        timings["profile"] = time.perf_counter() - t
        if options.test_data:
            # the test data goes after the code: the profiled ranges are unchanged
            with context.step("finding a test vector"):
                x, y = find_test_vector(machine, graph, np.random.default_rng(options.seed))
            obj = attach_test_data(obj, x.astype("<f4").tobytes(), y.astype("<f4").tobytes())
    header = parse_header(obj)
    digest = content_hash(model.sha256, options) if model.sha256 else ""
    report = build_report(model, graph, gen, arena, header, run.cycles, options, errors,
                          run.stack_bytes, digest, memory)
    timings["total"] = time.perf_counter() - start
    report["compile_seconds"] = round(timings["total"], 3)
    return Compiled(obj, header, report, graph, gen, arena, digest, timings)
