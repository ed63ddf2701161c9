"""Standalone activations (those not fused into a producer), in place.

ReLU without a negative slope runs on the integer images in core registers,
LDM / STM four values at a time.  Every other kind runs its lane program
(activations.py) on up to LANES[optimize] values per iteration -- VLDM, the
program interleaved over the lanes, VSTM -- with its constants loaded once
from the weight blob into the top S registers, and a one-lane loop for the
remainder.
`stream` is shared with the softmax kernel.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..graph.ops import Elementwise, elems
from ..graph.shapes import hwc
from ..thumb.regs import S, r0, r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, r11
from .activations import core_capable, core_consts, core_relu, program
from .context import KernelContext
from .lanes import LaneProgram, Layout, emit
from .loops import counted_loop
from .registry import kernel
from .rowloop import RowPlacement, row_subroutine

R_SRC, R_DST, C_I = r4, r5, r6
R_STREAM, R_STREAM_BASE = r10, r11      # streamed coefficient groups
GROUP = (r0, r1, r2, r3)
CONST_CORE = (r7, r8)
LANES = {"size": 2, "balanced": 4, "speed": 8}      # most lanes per iteration


@dataclass(frozen=True)
class ElementwisePlan:
    form: str                   # "core" (integer images) or "lanes" (lane program)
    lanes: int                  # values per iteration
    streamed: bool = False      # polynomial coefficients streamed (registers were short)


@kernel(Elementwise)
def emit_elementwise(op: Elementwise, ctx: KernelContext, ins: list[int], out_off: int) -> ElementwisePlan:
    act = op.activation
    n = elems(op.out_shape)
    ctx.arena_ptr(R_SRC, ins[0])
    ctx.arena_ptr(R_DST, out_off)
    if core_capable(act):
        _core_loop(ctx, act, n)
        return ElementwisePlan("core", len(GROUP))
    st = plan_stream(lambda streamed: program(act, streamed), n, most=LANES[ctx.optimize])
    load_consts(ctx, st, r0)
    stream(ctx, st, n, R_SRC, R_DST, C_I)
    return ElementwisePlan("lanes", st.lanes, bool(st.prog.groups))


def emit_elementwise_rows(op: Elementwise, ctx: KernelContext, ins: list[int], out_off: int,
                          placement: RowPlacement) -> ElementwisePlan:
    """The activation as a subroutine of a streamed region (see rowloop.py):
    rows [r0 / table row bytes, + r1), each from a table of (input row offset,
    output row offset, bytes to the row's repeated slot)."""
    act = op.activation
    h, w, c = hwc(op.out_shape)
    n = w * c
    st = None if core_capable(act) else plan_stream(lambda streamed: program(act, streamed), n,
                                                     most=LANES[ctx.optimize])

    def body():
        if st is None:
            _core_loop(ctx, act, n)
        else:
            load_consts(ctx, st, r0)        # every row: the repeated-slot copy uses s0-s7
            stream(ctx, st, n, R_SRC, R_DST, C_I)
    row_subroutine(ctx, [(placement.in_row(y), placement.out_row(y), placement.mirror(y))
                         for y in range(h)], table_reg=r9, src=R_SRC, src_off=ins[0],
                   dst=R_DST, dst_off=out_off, row_bytes=4 * n, body=body)
    if st is None:
        return ElementwisePlan("core", len(GROUP))
    return ElementwisePlan("lanes", st.lanes, bool(st.prog.groups))


def _core_loop(ctx: KernelContext, act, n: int) -> None:
    asm = ctx.asm
    consts = dict(zip(core_consts(act), CONST_CORE))
    for image, reg in consts.items():
        asm.mov_const(reg, image)
    groups, tail = divmod(n, len(GROUP))

    def step(regs):
        asm.ldm(R_SRC, list(regs), wb=True)
        core_relu(asm, list(regs), act, consts)
        asm.stm(R_DST, list(regs), wb=True)
    if groups:
        with counted_loop(asm, C_I, groups):
            step(GROUP)
    if tail:
        step(GROUP[:tail])


# --------------------------------------------------------------- streaming
@dataclass
class Stream:
    """A lane program laid out in the S registers: lanes at s0.., their
    temporaries after them; at the top the constants, below them the scratch
    block for streamed polynomial coefficients and `reserved` for the caller."""

    prog: LaneProgram
    lanes: int
    consts: dict                # Const -> SReg (consecutive, loaded by one VLDM)
    reserved: list              # S registers left to the caller
    scratch: list

    def layout(self, lanes: int) -> Layout:
        per = self.prog.temps_per_lane()
        return Layout([S[i] for i in range(lanes)],
                      [S[lanes + i] for i in range(lanes * per)], self.consts,
                      self.scratch, R_STREAM)


def _fit(prog: LaneProgram, n: int, reserved: int, most: int) -> Stream | None:
    consts = prog.constants()
    scratch = max((len(g) for g in prog.groups), default=0)
    per = prog.temps_per_lane()
    lanes = min(most, max(1, n))
    while lanes and lanes * (1 + per) + reserved + scratch + len(consts) > 32:
        lanes -= 1
    if not lanes:
        return None
    top = 32 - len(consts)
    return Stream(prog, lanes, {c: S[top + i] for i, c in enumerate(consts)},
                  [S[top - scratch - reserved + i] for i in range(reserved)],
                  [S[top - scratch + i] for i in range(scratch)])


def plan_stream(build: Callable[[bool], LaneProgram], n: int, reserved: int = 0,
                most: int = LANES["balanced"]) -> Stream:
    """Every constant in a register if that leaves two lanes or more (one lane
    would stall on every dependent instruction), else the polynomial
    coefficients streamed through a scratch block."""
    st = _fit(build(False), n, reserved, most)
    if st is None or (st.lanes < 2 <= n):
        st = _fit(build(True), n, reserved, most) or st
    if st is None:
        raise ValueError("lane program does not fit in the S registers")
    return st


def load_consts(ctx: KernelContext, st: Stream, rtmp) -> None:
    """The resident constants into their registers; the streamed groups, in
    program order, into the blob with R_STREAM_BASE pointing at them."""
    if st.consts:
        first = min(st.consts.values(), key=lambda r: r.num)
        ordered = sorted(st.consts.items(), key=lambda kv: kv[1].num)
        ctx.weights_ptr(rtmp, ctx.blob.add_f32([c.value for c, _ in ordered]))
        ctx.asm.vldm(rtmp, first, len(ordered))
    if st.prog.groups:
        ctx.weights_ptr(R_STREAM_BASE,
                        ctx.blob.add_f32([c.value for g in st.prog.groups for c in g]))


def stream(ctx: KernelContext, st: Stream, n: int, src, dst, counter,
           after: Callable[[list], None] | None = None) -> None:
    """y[i] = program(x[i]) for n values from [src]! to [dst]! (may be equal);
    `after(regs)` emits extra code for each group of results before the store."""
    asm = ctx.asm
    groups, tail = divmod(n, st.lanes)

    def body(lanes):
        if st.prog.groups:
            asm.mov(R_STREAM, R_STREAM_BASE)
        asm.vldm(src, S[0], lanes, wb=True)
        emit(asm, st.prog, st.layout(lanes))
        if after:
            after([S[i] for i in range(lanes)])
        asm.vstm(dst, S[0], lanes, wb=True)
    if groups:
        with counted_loop(asm, counter, groups):
            body(st.lanes)
    if tail:
        with counted_loop(asm, counter, tail):
            body(1)
