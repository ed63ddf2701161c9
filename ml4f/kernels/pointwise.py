"""1x1 convolutions with few input channels: channel passes over groups of rows.

With 8 input channels a register tile (conv.py) reloads its weights for every
tile, about 0.7 cycles per MAC of loads; the conv kernel's resident scheme
instead holds a block's weights while one output row streams past
(pixel_stream.py), and reloads them for every row and block.  Here they are
loaded once per group of rows (Conv2D.pass_rows, at least 128 pixels): one
pass over the group per block, so every input pixel of the group is read again
by each pass after the first has stored.  Conv2D.channel_passes makes every
row of a group read the whole group's input rows (its row_access), and the
arena allowance decides where it is set (candidates, arena_allowance.py).

The pixels of a stride-1 1x1 convolution without padding are one flat run, so
a pass is a single counted loop over the group's pixels.

Weights in flash, per block: [bias b x f32][weights cin x b] (input-major).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..graph.ops import Conv2D, Graph
from ..graph.shapes import hwc
from ..thumb.regs import lr, r0, r4, r5, r6, r7, r8, r9, r10, r11, r12
from . import pixel_stream as ps
from .context import KernelContext
from .conv_geometry import Geometry
from .conv_plan import choose_plan as tiled_plan
from .conv_plan import layer_cycles as tiled_cycles
from .cost import ALU, BYTES_PER_CYCLE, BYTES_PER_INSN, LDR, LOOP, code_budget
from .immediates import add_const
from .loops import counted_loop

CONST_REGS = (r10, r11)       # the core ReLU's constants, set once per layer
R_IN, R_OUT, R_W, R_OBASE, C_PIX, C_PASS, R_GROUP, C_GROUP = r4, r5, r6, r7, r8, r9, r12, lr
PASS_SETUP = 3 * ALU            # the pass's pointers (besides the loads and the stream)
GROUP_SETUP = LDR + 3 * ALU     # the weight pointer, the steps to the next group


@dataclass(frozen=True)
class PassPlan:
    b: int                    # output channels per pass
    unroll: int               # pixels per loop iteration
    scheme: str = "passes"


def applies(op) -> bool:
    """A plain (not Winograd) 1x1 stride-1 convolution without padding or a fused
    merge, whose weights for one output channel fit in registers."""
    return (type(op) is Conv2D and op.kernel.shape[:2] == (1, 1) and tuple(op.strides) == (1, 1)
            and not any(op.pads) and not op.residual and ps.fits(op.kernel.shape[2], 1))


def pass_cycles(cin: int, bb: int, pixels: int, unroll: int, f16: bool, act) -> float:
    return (PASS_SETUP + ps.load_cycles(cin, bb, f16) + LOOP
            + ps.stream_cycles(cin, bb, pixels, unroll, act))


def _shape(op: Conv2D) -> tuple[int, int, int, int]:
    oh, ow, cout = hwc(op.out_shape)
    return op.kernel.shape[2], cout, oh, ow


def group_cycles(cin: int, cout: int, pixels: int, act, plan: PassPlan, f16: bool) -> float:
    blocks, rest = divmod(cout, plan.b)
    total = GROUP_SETUP + LOOP + blocks * pass_cycles(cin, plan.b, pixels, plan.unroll, f16, act)
    if rest:
        total += pass_cycles(cin, rest, pixels, plan.unroll, f16, act)
    return total


def shape_cycles(cin: int, cout: int, oh: int, ow: int, rows: int, act, plan: PassPlan,
                 f16: bool) -> float:
    groups, last = divmod(oh, rows)
    total = groups * group_cycles(cin, cout, rows * ow, act, plan, f16)
    if last:
        total += group_cycles(cin, cout, last * ow, act, plan, f16)
    return total


def layer_cycles(op: Conv2D, plan: PassPlan, f16: bool) -> float:
    return shape_cycles(*_shape(op), op.pass_rows(), op.activation, plan, f16)


def group_code_bytes(cin: int, cout: int, pixels: int, act, plan: PassPlan, f16: bool) -> int:
    """Code of a group of `pixels`: its passes (a full block's, the rest's)."""
    total = 0
    for bb in {plan.b, cout % plan.b} - {0}:
        weights = 2 + (bb * cin if f16 else 0)
        total += (8 + weights + ps.stream_insns(cin, bb, pixels, plan.unroll, act)) * BYTES_PER_INSN
    return total


def shape_code_bytes(cin: int, cout: int, oh: int, ow: int, rows: int, act, plan: PassPlan,
                     f16: bool) -> int:
    """The groups' code, and the last, shorter group's copy."""
    last = oh % rows
    return (group_code_bytes(cin, cout, rows * ow, act, plan, f16) * (oh >= rows)
            + (group_code_bytes(cin, cout, last * ow, act, plan, f16) if last else 0))


@lru_cache(maxsize=256)
def _choose(cin: int, cout: int, oh: int, ow: int, rows: int, act, f16: bool,
            optimize: str) -> PassPlan:
    budget = code_budget(cin * cout * (2 if f16 else 4))
    best = None
    for b in range(1, min(ps.MAX_BLOCK, cout) + 1):
        if not ps.fits(cin, b):
            continue
        for unroll in ps.UNROLLS:
            if unroll > max(1, rows * ow - 1):
                continue
            plan = PassPlan(b, unroll)
            code = shape_code_bytes(cin, cout, oh, ow, rows, act, plan, f16)
            if optimize != "speed" and code > budget and unroll > 1:
                continue
            score = (shape_cycles(cin, cout, oh, ow, rows, act, plan, f16)
                     + BYTES_PER_CYCLE[optimize] * code)
            key = (score, -b, unroll)
            if best is None or key < best[0]:
                best = (key, plan)
    return best[1]


def choose_plan(op: Conv2D, f16: bool, optimize: str) -> PassPlan:
    return _choose(*_shape(op), op.pass_rows(), op.activation, f16, optimize)


# ------------------------------------------------------------------ the choice
def saving(op, float16: bool, optimize: str) -> float:
    """Cycles the channel passes save over the register-tiled kernel (0: none)."""
    if not applies(op):
        return 0.0
    tiled = tiled_cycles(Geometry.of(op), tiled_plan(op, float16, optimize), float16,
                         op.activation)
    return max(0.0, tiled - layer_cycles(op, choose_plan(op, float16, optimize), float16))


def candidates(graph: Graph, *, float16: bool, optimize: str) -> list:
    """(cycles saved, op index, variants) of the 1x1 convolutions that gain
    from channel passes (arena_allowance.choose_within)."""
    found = []
    for i, op in enumerate(graph.ops):
        if isinstance(op, Conv2D) and not op.channel_passes:
            s = saving(op, float16, optimize)
            if s > 0:
                found.append((s, i, ("channel_passes",)))
    return found


# ------------------------------------------------------------------ emission
def flat_output(op: Conv2D, ctx: KernelContext):
    """Bytes from one output pixel to the next when the pixels form one flat run
    (a dense output, or a channel slice of a concatenation), else None."""
    oh, ow, cout = hwc(op.out_shape)
    apart = ctx.pixels_apart.get(op.output)
    if apart is None:
        return 4 * cout
    pixel, row = apart
    return pixel if row == ow * pixel else None


def emit_passes(op: Conv2D, ctx: KernelContext, ins: list[int], out_off: int) -> PassPlan:
    asm, f16 = ctx.asm, ctx.float16
    cin, cout, oh, ow = _shape(op)
    pixel_bytes = flat_output(op, ctx)
    plan = choose_plan(op, f16, ctx.optimize)
    kernel = op.kernel.reshape(cin, cout)
    bias = op.bias if op.bias is not None else np.zeros(cout, np.float32)
    w_off = None
    for j0 in range(0, cout, plan.b):
        off = ctx.blob.add_f32(bias[j0:j0 + plan.b])
        ctx.blob.add_weights(kernel[:, j0:j0 + plan.b], layer=op.name, layer_class=op.layer_class)
        w_off = off if w_off is None else w_off

    consts = ps.relu_consts(asm, op.activation, CONST_REGS)
    ctx.arena_ptr(R_GROUP, ins[0])
    ctx.arena_ptr(R_OBASE, out_off)
    rows = op.pass_rows()
    groups, last = divmod(oh, rows)

    def group(pixels: int, final: bool) -> None:
        """Every pass over `pixels` pixels from [R_GROUP] on; R_OBASE ends 4 * cout
        further, and both step to the next group unless it is the final one."""
        ctx.weights_ptr(R_W, w_off)
        blocks, rest = divmod(cout, plan.b)
        if blocks:
            with counted_loop(asm, C_PASS, blocks):
                _pass(ctx, op, plan, plan.b, pixels, pixel_bytes, consts)
        if rest:
            _pass(ctx, op, plan, rest, pixels, pixel_bytes, consts)
        if not final:
            add_const(asm, R_GROUP, R_GROUP, 4 * cin * pixels, scratch=r0)
            add_const(asm, R_OBASE, R_OBASE, pixel_bytes * pixels - 4 * cout, scratch=r0)

    if groups:
        with counted_loop(asm, C_GROUP, groups):
            group(rows * ow, final=groups == 1 and not last)
    if last:
        group(last * ow, final=True)
    return plan


def _pass(ctx, op, plan, bb, pixels, pixel_bytes, consts) -> None:
    """bb output channels of the group's pixels ([R_GROUP] on, to [R_OBASE] on,
    which steps to the next block's channels); R_W ends at the next block's weights."""
    asm = ctx.asm
    regs = ps.Regs.of(op.kernel.shape[2], bb)
    ps.load_block(asm, R_W, R_W, regs, ctx.float16, bias_wb=True)
    asm.mov(R_IN, R_GROUP)
    asm.mov(R_OUT, R_OBASE)
    asm.add(R_OBASE, R_OBASE, 4 * bb)
    ps.stream(asm, regs, pixels, plan.unroll, R_IN, R_OUT, C_PIX, act=op.activation,
              consts=consts, pixel_bytes=pixel_bytes)
