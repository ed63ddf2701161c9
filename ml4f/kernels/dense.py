"""Dense layers: output-blocked GEMV.

u output units are computed at once: their accumulators stay in S registers
while the input is streamed in chunks of m values, so each input value is
loaded once per block and each weight exactly once, by VLDM from a weight
stream laid out in read order: per block [bias u][chunk 0: m x u][chunk 1]...
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..graph.ops import Dense, elems
from ..thumb.regs import S, r0, r4, r5, r6, r8, r9, r10, r11
from .registry import kernel
from .common import Ctx, add_const, counted_loop, store_activated
from .mac import emit_macs, load_weights

FP_REGS = 32


@dataclass(frozen=True)
class DensePlan:
    u: int          # units per block
    m: int          # inputs per chunk
    unroll: int     # chunks per loop iteration


def chunk_cycles(u: int, m: int, f16: bool) -> int:
    loads = (1 + m) + (1 + ((u * m + 1) // 2 if f16 else u * m))
    return loads + (u * m if f16 else 0) + 2 * u * m


def block_cycles(n: int, u: int, m: int, unroll: int, f16: bool) -> float:
    chunks, tail = divmod(n, m)
    c = (1 + u) + 4 + (1 + u)                       # bias, pointers, store
    c += chunks * chunk_cycles(u, m, f16) + (chunk_cycles(u, tail, f16) if tail else 0)
    c += 3 * (chunks // unroll)
    return c


def fits(u: int, m: int) -> bool:
    return u + m + u * m + 2 <= FP_REGS


def choose_plan(n: int, units: int, f16: bool, optimize: str) -> DensePlan:
    best = None
    for u in range(1, min(units, 12) + 1):
        for m in range(1, min(n, 8) + 1):
            if not fits(u, m):
                continue
            blocks, rest = divmod(units, u)
            unroll = max(1, min(n // m, (8 if optimize == "speed" else 4) if u * m >= 8 else 8))
            cyc = blocks * block_cycles(n, u, m, unroll, f16)
            if rest:
                cyc += block_cycles(n, rest, m, unroll, f16)
            code = (1 if blocks else 0) + (1 if rest else 0)
            code *= unroll * (2 + 2 * u * m)
            score = cyc + (code * 0.5 if optimize == "size" else 0)
            if best is None or score < best[0]:
                best = (score, DensePlan(u, m, unroll))
    return best[1]


def weight_stream(op: Dense, plan: DensePlan, f16: bool):
    """Yield (kind, array) parts in read order: 'bias' float32, 'w' weights."""
    n, units = op.kernel.shape
    bias = op.bias if op.bias is not None else np.zeros(units, np.float32)
    for j0 in range(0, units, plan.u):
        u = min(plan.u, units - j0)
        yield "bias", bias[j0:j0 + u]
        for k0 in range(0, n, plan.m):
            m = min(plan.m, n - k0)
            yield "w", op.kernel[k0:k0 + m, j0:j0 + u]       # [i][j] order


@kernel("dense")
def emit_dense(op: Dense, ctx: Ctx, ins: list[int], out_off: int) -> DensePlan:
    in_off = ins[0]
    asm, f16 = ctx.asm, ctx.float16
    n, units = op.kernel.shape
    rows = elems(op.in_shape) // n
    plan = choose_plan(n, units, f16, ctx.optimize)
    w_off = None
    for kind, arr in weight_stream(op, plan, f16):
        off = (ctx.blob.add_f32(arr) if kind == "bias"
               else ctx.blob.add_weights(arr, layer=op.name, layer_class=op.layer_class))
        w_off = off if w_off is None else w_off

    r_in, r_x, r_w, r_out, r_cnt, r_blk, r_row = r4, r5, r6, r8, r9, r10, r11
    ctx.arena_ptr(r_in, in_off)
    ctx.arena_ptr(r_out, out_off)
    with counted_loop(asm, r_row, rows):
        ctx.weights_ptr(r_w, w_off)
        blocks, rest = divmod(units, plan.u)
        if blocks:
            with counted_loop(asm, r_blk, blocks):
                _block(op, ctx, plan, plan.u, r_in, r_x, r_w, r_out, r_cnt)
        if rest:
            _block(op, ctx, plan, rest, r_in, r_x, r_w, r_out, r_cnt)
        if rows > 1:
            add_const(asm, r_in, r_in, 4 * n, scratch=r0)
    return plan


def _block(op, ctx, plan, u, r_in, r_x, r_w, r_out, r_cnt) -> None:
    asm, f16 = ctx.asm, ctx.float16
    n = op.kernel.shape[0]
    m = plan.m
    acc = [S[j] for j in range(u)]
    xs = [S[u + i] for i in range(m)]
    ws = [S[u + m + i] for i in range(u * m)]
    temps = (S[u + m + u * m], S[u + m + u * m + 1])
    asm.mov(r_x, r_in)
    asm.vldm(r_w, acc[0], u, wb=True)                    # accumulators start at the bias

    def chunk(mm):
        asm.vldm(r_x, xs[0], mm, wb=True)
        load_weights(asm, r_w, ws, u * mm, f16)
        w = [[ws[i * u + j] for j in range(u)] for i in range(mm)]
        emit_macs(asm, [acc], [xs[:mm]], w, temps)

    chunks, tail = divmod(n, m)
    loops, rem = divmod(chunks, plan.unroll)
    if loops:
        with counted_loop(asm, r_cnt, loops):
            for _ in range(plan.unroll):
                chunk(m)
    for _ in range(rem):
        chunk(m)
    if tail:
        chunk(tail)
    store_activated(asm, acc, r_out, op.activation)
