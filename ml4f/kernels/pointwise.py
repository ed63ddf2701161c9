"""1x1 convolutions with few input channels: channel passes, the weights resident.

With 8 input channels a register tile (conv.py) reloads its weights for every
tile, and its loads cost about 0.7 cycles per MAC.  Here the weights of a block
of b output channels for every input channel (b * cin values) and their bias
stay in S registers while the pixels of a group of rows stream past: per
pixel one VLDM of its cin inputs feeds cin * b MACs, and the b sums are stored.
One pass over the group per block, so every input pixel of the group is read
again by each pass after the first has stored: Conv2D.channel_passes makes
every row of a group read the whole group's input rows (its row_access), and
the arena allowance decides where it is set (candidates, arena_allowance.py).

The pixels of a stride-1 1x1 convolution without padding are one flat run, so
a pass is a single counted loop over the group's pixels.  A pixel's sums are
stored after the next pixel's inputs are loaded, so neither the store nor the
next pixel's first product waits for the instruction before it.

Weights in flash, per block: [bias b x f32][weights cin x b] (input-major).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from math import ceil

import numpy as np

from ..cortex_m4 import FP_REGS
from ..graph.ops import Conv2D, Graph
from ..graph.shapes import hwc
from ..thumb.regs import S, lr, r0, r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, r11, r12
from .activations import core_capable, core_consts, core_relu
from .context import KernelContext
from .conv_geometry import Geometry
from .conv_plan import choose_plan as tiled_plan
from .conv_plan import layer_cycles as tiled_cycles
from .cost import ALU, BYTES_PER_CYCLE, BYTES_PER_INSN, LDR, LOOP, MAC, code_budget, vldm, vstm, weight_load
from .immediates import add_const
from .loops import counted_loop
from .mac import emit_products, load_weights
from .store import move_to_core, store_activated

MAX_BLOCK = 4                 # output channels per pass: one core register each in the store
UNROLLS = (1, 2, 4, 8, 16)    # pixels per loop iteration tried
TEMPS = (r0, r1, r2, r3)      # the stored values (and the lane programs' temporaries)
CONST_REGS = (r10, r11)       # the core ReLU's constants, set once per layer
R_IN, R_OUT, R_W, R_OBASE, C_PIX, C_PASS, R_GROUP, C_GROUP = r4, r5, r6, r7, r8, r9, r12, lr
POST_INDEX_REACH = 255          # STR Rt, [Rn], #imm8
PASS_SETUP = 4 * ALU            # the pointers, the pixel counter (besides the loads)
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
            and not any(op.pads) and not op.residual and fp_regs(op.kernel.shape[2], 1) <= FP_REGS)


def fp_regs(cin: int, b: int) -> int:
    """Weights, bias, one pixel's inputs, the sums and two product temporaries."""
    return b * cin + b + cin + b + 2


def _store_insns(act, bb: int) -> tuple[float, int]:
    """(cycles, instructions) of one pixel's store and the step to the next pixel."""
    if act.is_linear:
        return vstm(bb) + ALU, 2
    if not core_capable(act):
        return 3 * bb + 3, 4 * bb + 2                       # about 3 per value (lane programs)
    # per value: BIC (or CMP, IT, MOV for a threshold); the clip's CMP, IT, CMP, SUB
    # (the IT folds after the 16-bit CMP); one STR
    cycles = (3 if act.threshold > 0 else 1) + (3 if act.max_value is not None else 0)
    insns = (3 if act.threshold > 0 else 1) + (4 if act.max_value is not None else 0)
    return 2 * ceil(bb / 2) + (cycles + 1) * bb, ceil(bb / 2) + (insns + 1) * bb


def pixel_cycles(cin: int, bb: int, act) -> float:
    return vldm(cin) + MAC * cin * bb + _store_insns(act, bb)[0]


def pass_cycles(cin: int, bb: int, pixels: int, unroll: int, f16: bool, act) -> float:
    loops = (pixels - 1) // unroll
    return (PASS_SETUP + weight_load(bb * cin, f16) + vldm(bb) + LOOP
            + pixels * pixel_cycles(cin, bb, act) + LOOP * loops)


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


def shape_code_bytes(cin: int, cout: int, pixels: int, act, plan: PassPlan, f16: bool) -> int:
    """Code of one group of `pixels` (the last group's shorter copy aside)."""
    total = 0
    for bb in {plan.b, cout % plan.b} - {0}:
        weights = 1 + (bb * cin if f16 else 0)
        per_pixel = 1 + 2 * cin * bb + _store_insns(act, bb)[1]
        copies = min(pixels, 2 * plan.unroll)              # loop body, the rest, the last pixel
        total += (12 + weights + copies * per_pixel) * BYTES_PER_INSN
    return total


@lru_cache(maxsize=256)
def _choose(cin: int, cout: int, oh: int, ow: int, rows: int, act, f16: bool,
            optimize: str) -> PassPlan:
    budget = code_budget(cin * cout * (2 if f16 else 4))
    best = None
    for b in range(1, min(MAX_BLOCK, cout) + 1):
        if fp_regs(cin, b) > FP_REGS:
            continue
        for unroll in UNROLLS:
            if unroll > max(1, rows * ow - 1):
                continue
            plan = PassPlan(b, unroll)
            code = shape_code_bytes(cin, cout, rows * ow, act, plan, f16)
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
                         op.activation.kind)
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

    act = op.activation
    consts = {}
    if core_capable(act):
        consts = dict(zip(core_consts(act), CONST_REGS))
        for image, reg in consts.items():
            asm.mov_const(reg, image)
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
    asm, f16, act = ctx.asm, ctx.float16, op.activation
    cin = op.kernel.shape[2]
    w = [S[i] for i in range(bb * cin)]
    bias = [S[bb * cin + j] for j in range(bb)]
    xs = [S[bb * cin + bb + i] for i in range(cin)]
    acc = [S[bb * cin + bb + cin + j] for j in range(bb)]
    t = bb * cin + bb + cin + bb
    temps = (S[t], S[t + 1])
    asm.vldm(R_W, bias[0], bb, wb=True)
    load_weights(asm, R_W, w, bb * cin, f16)
    asm.mov(R_IN, R_GROUP)
    asm.mov(R_OUT, R_OBASE)
    asm.add(R_OBASE, R_OBASE, 4 * bb)
    asm.vldm(R_IN, xs[0], cin, wb=True)
    # the pixel's products, the next pixel's inputs, then the store
    products = [(acc[j], xs[i], w[i * bb + j], *([bias[j]] if i == 0 else []))
                for i in range(cin) for j in range(bb)]
    sfree = [S[i] for i in range(t, FP_REGS)]

    def pixel(last: bool) -> None:
        emit_products(asm, products, temps)
        if core_capable(act) or act.is_linear:
            if not last:
                asm.vldm(R_IN, xs[0], cin, wb=True)
            _store(asm, acc, pixel_bytes, act, consts)
        else:
            store_activated(asm, acc, R_OUT, act, temps=TEMPS, sfree=xs + sfree)
            add_const(asm, R_OUT, R_OUT, pixel_bytes - 4 * bb, scratch=r0)
            if not last:
                asm.vldm(R_IN, xs[0], cin, wb=True)

    loops, left = divmod(pixels - 1, plan.unroll)
    if loops:
        with counted_loop(asm, C_PIX, loops):
            for _ in range(plan.unroll):
                pixel(False)
    for _ in range(left):
        pixel(False)
    pixel(True)


def _store(asm, acc, pixel_bytes: int, act, consts) -> None:
    """The sums to [R_OUT], R_OUT then steps to the next pixel: VSTM (linear), or
    through core registers (ReLU on the integer images) with one STR each, the
    first one post-indexed."""
    bb = len(acc)
    if act.is_linear:
        asm.vstm(R_OUT, acc[0], bb, wb=pixel_bytes == 4 * bb)
        if pixel_bytes != 4 * bb:
            add_const(asm, R_OUT, R_OUT, pixel_bytes, scratch=r0)
        return
    cores = list(TEMPS[:bb])
    move_to_core(asm, cores, acc)
    core_relu(asm, cores, act, consts)
    for j in range(bb - 1, 0, -1):
        asm.str(cores[j], R_OUT, 4 * j)
    if pixel_bytes <= POST_INDEX_REACH:
        asm.str(cores[0], R_OUT, pixel_bytes, index="post")
    else:
        asm.str(cores[0], R_OUT)
        add_const(asm, R_OUT, R_OUT, pixel_bytes, scratch=r0)
