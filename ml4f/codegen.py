"""Graph + arena plan -> one position-independent function in Thumb-2 code.

The function is the ML4F entry point: r0 = object base, r1 = arena.  It saves
what AAPCS asks to be saved (r4-r11, s16-s31), keeps the arena and weights
base in a small stack frame, runs every op's kernel in order and returns.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field

from . import context
from .container import header_size_for
from .errors import ML4FError
from .graph.ops import Graph, Op
from .graph.ranges import nonnegative_tensors
from .kernels import SPILL_SLOTS_OF, kernel_for
from .kernels.context import FRAME_ARENA, FRAME_WEIGHTS, SPILL_SLOTS, KernelContext, frame_bytes
from .plan import ArenaPlan
from .thumb import Assembler, Program
from .thumb.regs import S, lr, pc, r0, r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, r11, sp
from .weights import WeightBlob

SAVED_CORE = [r3, r4, r5, r6, r7, r8, r9, r10, r11]     # r3: keeps the stack 8-byte aligned
SAVED_BYTES = 4 * (len(SAVED_CORE) + 1) + 4 * 16


@dataclass
class LayerCode:
    op: Op
    start: int = 0            # code offsets (from the entry point)
    end: int = 0
    weight_offset: int = 0
    weight_bytes: int = 0
    plan: object = None
    parts: list = field(default_factory=list)   # code ranges of its parts (a region's ops)


@dataclass
class Generated:
    program: Program
    code: bytes               # padded to a word
    weights: bytes
    layers: list[LayerCode] = field(default_factory=list)
    header_size: int = 0
    stack_bytes: int = SAVED_BYTES + frame_bytes(SPILL_SLOTS)


@contextmanager
def _naming(op: Op):
    """A kernel's typed error names the op's layer when the kernel did not."""
    try:
        yield
    except ML4FError as error:
        if error.layer is None:
            error.layer, error.layer_class = op.name, op.layer_class
        raise


def generate(graph: Graph, arena: ArenaPlan, *, float16: bool, optimize: str = "balanced") -> Generated:
    asm = Assembler()
    blob = WeightBlob(float16)
    ctx = KernelContext(asm, blob, optimize, nonnegative=nonnegative_tensors(graph),
                        reversed=arena.reversed, overlapping=arena.overlapping,
                        scratch=arena.scratch_offsets(),
                        pixels_apart=arena.pixels_apart)
    header_size = header_size_for(graph.input_shape, graph.output_shape)

    asm.push(SAVED_CORE + [lr])
    asm.vpush(S[16], 16)
    frame = frame_bytes(max([SPILL_SLOTS] + [SPILL_SLOTS_OF.get(type(op), 0) for op in graph.ops]))
    asm.sub(sp, sp, frame)
    asm.ldr(r2, r0, 16)                  # header word 4: weights offset
    asm.add(r2, r2, r0)
    asm.str(r2, r1, 0)                   # arena[0]: weights address, arena[4]: 0.0
    asm.movs(r3, 0)
    asm.str(r3, r1, 4)
    asm.str(r1, sp, FRAME_ARENA)
    asm.str(r2, sp, FRAME_WEIGHTS)

    layers = []
    marks = []
    for op in graph.ops:
        start = asm.here()
        w0 = len(blob.data)
        ctx.parts = []
        with context.op_step("generating code", op), _naming(op):
            kernel_plan = kernel_for(op)(op, ctx, [arena.offsets[t] for t in op.inputs],
                                         arena.offsets[op.output])
        end = asm.here()
        layers.append(LayerCode(op, weight_offset=w0, weight_bytes=len(blob.data) - w0,
                                plan=kernel_plan, parts=ctx.parts))
        marks.append((start, end))

    asm.add(sp, sp, frame)
    asm.vpop(S[16], 16)
    asm.pop(SAVED_CORE + [pc])
    asm.align(4)
    with context.step("assembling"):
        program = asm.assemble(origin=header_size)
    for layer, (start, end) in zip(layers, marks):
        layer.start, layer.end = program.address(start), program.address(end)
        layer.parts = [(program.address(a), program.address(b)) for a, b in layer.parts]
    code = program.code + b"\0" * (-len(program.code) % 4)
    return Generated(program, code, blob.bytes(), layers, header_size)


def layer_ranges(gen: Generated) -> dict[str, tuple[int, int]]:
    """The profile's code ranges (object offsets): "i" per layer, "i.k" per part
    of a layer (a streamed region's ops; listed first, they lie inside the layer's)."""
    hs = gen.header_size
    ranges = {}
    for i, L in enumerate(gen.layers):
        for k, (a, b) in enumerate(L.parts):
            ranges[f"{i}.{k}"] = (hs + a, hs + b)
    for i, L in enumerate(gen.layers):
        ranges[str(i)] = (hs + L.start, hs + L.end)
    return ranges


def layer_cycles(cycles: dict, i: int, layer: LayerCode) -> int:
    """A layer's profiled cycles, its parts' included."""
    return cycles.get(str(i), 0) + sum(cycles.get(f"{i}.{k}", 0) for k in range(len(layer.parts)))
