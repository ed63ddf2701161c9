"""Recurrent layers (LSTM, GRU, SimpleRNN): a loop over the timesteps.

Each step computes its gate pre-activations as one blocked GEMV over
[x_t, h_{t-1}] -- the dense kernel's output blocks (accumulators in S
registers, the bias first, weights streamed by VLDM in read order: per block
[bias][x chunks][h chunks]), reading its input from two segments -- then
the gate activations as vectorised in-place lane programs over the gate
scratch (activations.py, the standalone activation kernel's streams), then
the cell update a few values at a time.

State lives in the op's arena scratch (Recurrent.state_floats): the gate
pre-activations, LSTM's c, and h -- which is the output itself without
return_sequences.  The LSTM gates are laid out i, f, o, c so that one stream
applies recurrent_activation to the three sigmoid-like gates.  A GRU with
reset_after needs the recurrent product of its candidate apart from the
input's (r multiplies it): z and r over [x, h], then the candidate's x part
and h part as two GEMVs of u outputs each; without reset_after the
candidate's GEMV reads [x, r * h] after the gates.  The MAC count is the same
as one GEMV over all the gates.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..graph.ops.recurrent import Recurrent
from ..thumb.regs import S, r0, r1, r2, r3, r4, r5, r6, r8, r9, r10, r11, r12
from .activations import program
from .context import KernelContext
from .dense import DensePlan, block_weights, choose_plan, gemv_block
from .elementwise import LANES, load_consts, plan_stream, stream
from .immediates import add_const
from .loops import chunked, counted_loop
from .registry import kernel

R_XT = r4                      # x_t, the current step's input row
R_X, R_W, R_DST, R_CNT, R_BLK = r5, r6, r8, r9, r10
SRC_REGS = (r0, r1, r2, r3)    # the cell update's source pointers
DST_REGS = (r11, r12)          # ... and its destinations
SLOT_STEPS, SLOT_XT, SLOT_OUT = 0, 1, 2     # frame spill slots
UPDATE_LANES = 4               # values per iteration of the cell update
X = "x"                        # a GEMV segment reading x_t
OUT = "out"                    # the output row of the step (return_sequences)


@dataclass(frozen=True)
class Gemv:
    """outputs = bias + sum over segments of segment @ weights; a segment reads x_t (X)
    or the arena at an offset."""

    segments: tuple            # ((source, weights (length, outputs)), ...)
    bias: np.ndarray
    dst: int                   # arena offset of the outputs

    @property
    def length(self) -> int:
        return sum(w.shape[0] for _, w in self.segments)

    @property
    def outputs(self) -> int:
        return self.bias.shape[0]


@dataclass(frozen=True)
class RecurrentPlan:
    cell: str
    gemvs: tuple               # DensePlan per GEMV of a step


def _columns(a: np.ndarray, u: int, gates) -> np.ndarray:
    return np.concatenate([a[..., g * u:(g + 1) * u] for g in gates], axis=-1)


def _state(op: Recurrent, ctx: KernelContext, out_off: int) -> dict[str, int]:
    """Arena offsets of the state regions (h: the output without return_sequences)."""
    off, regions = ctx.scratch[op.output], {}
    for name, n in op.state_floats().items():
        regions[name] = off
        off += 4 * n
    regions.setdefault("h", out_off)
    return regions


def _gemvs(op: Recurrent, st: dict[str, int]) -> list[Gemv]:
    u = op.units
    w, rw = op.kernel, op.recurrent_kernel
    cols = w.shape[1]
    g0 = st["gates"]
    if op.cell == "lstm":             # Keras i, f, c, o -> i, f, o, c
        order = (0, 1, 3, 2)
        bias = np.zeros(cols, np.float32) if op.bias is None else op.bias
        return [Gemv(((X, _columns(w, u, order)), (st["h"], _columns(rw, u, order))),
                     _columns(bias, u, order), g0)]
    if op.cell == "simple_rnn":
        bias = np.zeros(cols, np.float32) if op.bias is None else op.bias
        return [Gemv(((X, w), (st["h"], rw)), bias, g0)]
    zr = (0, 1)
    if op.reset_after:
        b = np.zeros((2, cols), np.float32) if op.bias is None else op.bias
        b_zr = (b[0, :2 * u].astype(np.float64) + b[1, :2 * u]).astype(np.float32)
        return [Gemv(((X, _columns(w, u, zr)), (st["h"], _columns(rw, u, zr))), b_zr, g0),
                Gemv(((X, w[:, 2 * u:]),), b[0, 2 * u:], g0 + 8 * u),
                Gemv(((st["h"], rw[:, 2 * u:]),), b[1, 2 * u:], g0 + 12 * u)]
    b = np.zeros(cols, np.float32) if op.bias is None else op.bias
    return [Gemv(((X, _columns(w, u, zr)), (st["h"], _columns(rw, u, zr))), b[:2 * u], g0),
            Gemv(((X, w[:, 2 * u:]), (g0 + 8 * u, rw[:, 2 * u:])), b[2 * u:], g0 + 12 * u)]


@kernel(Recurrent)
def emit_recurrent(op: Recurrent, ctx: KernelContext, ins: list[int], out_off: int) -> RecurrentPlan:
    asm = ctx.asm
    u, n, steps = op.units, op.features, op.steps
    st = _state(op, ctx, out_off)
    gemvs = _gemvs(op, st)
    plans = [choose_plan(g.length, g.outputs, ctx.float16, ctx.optimize, "linear") for g in gemvs]
    w_offs = [_add_weights(ctx, g, p, op) for g, p in zip(gemvs, plans)]

    for region in ("h", "c"):
        if region in st:
            _zero(ctx, st[region], u)
    x_first = (steps - 1) * 4 * n if op.go_backwards else 0
    ctx.arena_ptr(r0, ins[0] + x_first)
    ctx.spill(r0, SLOT_XT)
    if op.return_sequences:
        ctx.arena_ptr(r0, out_off + ((steps - 1) * 4 * u if op.reverse_output else 0))
        ctx.spill(r0, SLOT_OUT)
    asm.mov_const(r0, steps)
    ctx.spill(r0, SLOT_STEPS)

    top = asm.here()
    ctx.reload(R_XT, SLOT_XT)
    STEPS[op.cell](op, ctx, st, list(zip(gemvs, plans, w_offs)))
    ctx.reload(r0, SLOT_XT)
    add_const(asm, r0, r0, -4 * n if op.go_backwards else 4 * n, scratch=r1)
    ctx.spill(r0, SLOT_XT)
    ctx.reload(r0, SLOT_STEPS)
    asm.subs(r0, r0, 1)
    ctx.spill(r0, SLOT_STEPS)
    asm.b(top, cond="ne")
    return RecurrentPlan(op.cell, tuple(plans))


# ------------------------------------------------------------------ the GEMV
def _add_weights(ctx: KernelContext, g: Gemv, plan: DensePlan, op: Recurrent) -> int:
    first = None
    for j0 in range(0, g.outputs, plan.u):
        off = ctx.blob.add_f32(g.bias[j0:j0 + plan.u])
        parts = [block_weights(np.ascontiguousarray(w[:, j0:j0 + plan.u]), plan, ctx.float16)
                 for _, w in g.segments]
        ctx.blob.add_weights(np.concatenate(parts), layer=op.name, layer_class=op.layer_class)
        first = off if first is None else first
    return first


def _gemv(ctx: KernelContext, g: Gemv, plan: DensePlan, w_off: int) -> None:
    ctx.weights_ptr(R_W, w_off)
    ctx.arena_ptr(R_DST, g.dst)
    blocks, rest = divmod(g.outputs, plan.u)
    if blocks:
        with counted_loop(ctx.asm, R_BLK, blocks):
            _block(ctx, g, plan, plan.u)
    if rest:
        _block(ctx, g, plan, rest)


def _block(ctx: KernelContext, g: Gemv, plan: DensePlan, u: int) -> None:
    asm = ctx.asm
    acc, chunk = gemv_block(asm, plan, u, R_X, R_W, ctx.float16)
    for source, w in g.segments:
        if source == X:
            asm.mov(R_X, R_XT)
        else:
            ctx.arena_ptr(R_X, source)
        length = w.shape[0]
        chunked(asm, R_CNT, length, plan.m, max(1, min(plan.unroll, length // plan.m)), chunk)
    asm.vstm(R_DST, acc[0], u, wb=True)


# ---------------------------------------------------------- element-wise parts
def _activate(ctx: KernelContext, act, off: int, n: int, dst: int | None = None) -> None:
    """act over n values at `off`, in place (or into `dst`)."""
    if act.is_linear and dst is None:
        return
    if act.is_linear:
        _update(ctx, n, [off], [dst], lambda v, t, k: v[0])
        return
    st = plan_stream(lambda streamed: program(act, streamed), n, most=LANES[ctx.optimize])
    load_consts(ctx, st, r0)
    ctx.arena_ptr(r1, off)
    ctx.arena_ptr(r2, off if dst is None else dst)
    stream(ctx, st, n, r1, r2, r3)


def _point(ctx: KernelContext, reg, where) -> None:
    if where == OUT:
        ctx.reload(reg, SLOT_OUT)
    else:
        ctx.arena_ptr(reg, where)


def _update(ctx: KernelContext, n: int, srcs: list, dsts: list, body) -> list:
    """dst[i] = body(values of srcs at i) for i < n, UPDATE_LANES values at a time;
    body(vals, temps, k) emits the code and returns the k consecutive S registers of the
    result.  Returns the destination pointer registers (advanced past the values)."""
    asm = ctx.asm
    src_regs, dst_regs = SRC_REGS[:len(srcs)], DST_REGS[:len(dsts)]
    for reg, where in zip(src_regs + dst_regs, srcs + dsts):
        _point(ctx, reg, where)

    def step(k):
        vals = [[S[i * k + j] for j in range(k)] for i in range(len(srcs))]
        for reg, v in zip(src_regs, vals):
            asm.vldm(reg, v[0], k, wb=True)
        temps = [S[i] for i in range(len(srcs) * k, 32)]
        res = body(vals, temps, k)
        for reg in dst_regs:
            asm.vstm(reg, res[0], k, wb=True)
    groups, tail = divmod(n, UPDATE_LANES)
    if groups:
        with counted_loop(asm, R_CNT, groups):
            step(UPDATE_LANES)
    if tail:
        step(tail)
    return list(dst_regs)


def _store_h(ctx: KernelContext, op: Recurrent, n: int, srcs: list, h: int, body) -> None:
    """The step's h from `body`, stored to the state and, with return_sequences, to the
    output row of the step (the output pointer moves to the next step's row)."""
    dsts = [h] + ([OUT] if op.return_sequences else [])
    regs = _update(ctx, n, srcs, dsts, body)
    if op.return_sequences:
        if op.reverse_output:
            add_const(ctx.asm, regs[1], regs[1], -8 * n, scratch=r0)
        ctx.spill(regs[1], SLOT_OUT)


def _products(asm, out, a, b) -> list:
    for o, x, y in zip(out, a, b):
        asm.vmul(o, x, y)
    return out


def _lstm_step(op: Recurrent, ctx: KernelContext, st: dict, gemvs: list) -> None:
    asm, u = ctx.asm, op.units
    (g, plan, w_off), = gemvs
    gi, gf, go, gc = (st["gates"] + 4 * k * u for k in range(4))
    _gemv(ctx, g, plan, w_off)
    _activate(ctx, op.gate_activation, gi, 3 * u)
    _activate(ctx, op.cell_activation, gc, u)

    def cell(v, t, k):                         # c = f c + i g
        i, f, gg, c = v
        fc, ig = t[k:2 * k], t[2 * k:3 * k]
        _products(asm, fc, f, c)
        _products(asm, ig, i, gg)
        for o, a, b in zip(t[:k], fc, ig):
            asm.vadd(o, a, b)
        return t[:k]
    _update(ctx, u, [gi, gf, gc, st["c"]], [st["c"]], cell)
    tanh_c = st["c"]
    if not op.cell_activation.is_linear:
        tanh_c = gi                            # i is dead: act(c) goes there
        _activate(ctx, op.cell_activation, st["c"], u, dst=gi)
    _store_h(ctx, op, u, [go, tanh_c], st["h"], lambda v, t, k: _products(asm, t[:k], v[0], v[1]))


def _gru_step(op: Recurrent, ctx: KernelContext, st: dict, gemvs: list) -> None:
    asm, u = ctx.asm, op.units
    gz, gr, g2, g3 = (st["gates"] + 4 * k * u for k in range(4))
    _gemv(ctx, *gemvs[0])
    _activate(ctx, op.gate_activation, gz, 2 * u)
    if op.reset_after:                         # candidate = act(xh + r * (h U_h + b))
        _gemv(ctx, *gemvs[1])
        _gemv(ctx, *gemvs[2])

        def candidate(v, t, k):
            xh, r, rh = v
            _products(asm, t[k:2 * k], r, rh)
            for o, a, b in zip(t[:k], xh, t[k:2 * k]):
                asm.vadd(o, a, b)
            return t[:k]
        _update(ctx, u, [g2, gr, g3], [g2], candidate)
        cand = g2
    else:                                      # candidate = act(xh + (r * h) U_h + b)
        _update(ctx, u, [gr, st["h"]], [g2], lambda v, t, k: _products(asm, t[:k], v[0], v[1]))
        _gemv(ctx, *gemvs[1])
        cand = g3
    _activate(ctx, op.cell_activation, cand, u)

    def new_h(v, t, k):                        # z h + (1 - z) cand, as Keras writes it
        z, h, c = v
        one, zh, rest = t[0], t[1:1 + k], t[1 + k:1 + 2 * k]
        res = t[1 + 2 * k:1 + 3 * k]
        asm.vmov_imm(one, 1.0)
        _products(asm, zh, z, h)
        for o, a in zip(rest, z):
            asm.vsub(o, one, a)
        _products(asm, rest, rest, c)
        for o, a, b in zip(res, zh, rest):
            asm.vadd(o, a, b)
        return res
    _store_h(ctx, op, u, [gz, st["h"], cand], st["h"], new_h)


def _simple_rnn_step(op: Recurrent, ctx: KernelContext, st: dict, gemvs: list) -> None:
    pre = st["gates"]
    _gemv(ctx, *gemvs[0])
    _activate(ctx, op.cell_activation, pre, op.units)
    _store_h(ctx, op, op.units, [pre], st["h"], lambda v, t, k: v[0])


STEPS = {"lstm": _lstm_step, "gru": _gru_step, "simple_rnn": _simple_rnn_step}


def _zero(ctx: KernelContext, off: int, n: int) -> None:
    asm = ctx.asm
    ctx.arena_ptr(r1, off)
    asm.mov_imm(r0, 0)
    with counted_loop(asm, r2, n):
        asm.str(r0, r1, 4, index="post")
