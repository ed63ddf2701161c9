"""Dense layers: output-blocked GEMV.

u output units are computed at once: their accumulators stay in S registers
while the input is streamed in chunks of m values, so each input value is
loaded once per block and each weight exactly once, by VLDM from a weight
stream laid out in read order: per block [bias u][chunk 0: m x u][chunk 1]...

float16 weights are widened to float32 by VCVTB/VCVTT, one per weight: either
a whole load in place before its products (mac.load_weights), or ("widen=r",
weights by rows) each weight into a temporary just before its product
(mac.emit_widening_products), so that r rows of packed words per VLDM are all
the weight registers a block needs and blocks of up to 16 units fit.
float32 weights by rows may come `rows` rows per VLDM: with few units (a layer
of 8 outputs) a VLDM per row would cost about one cycle in eight.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..cortex_m4 import FP_REGS
from math import ceil

from ..graph.ops import Dense, elems
from ..thumb.regs import S, r0, r1, r4, r5, r6, r8, r9, r10, r11
from .context import KernelContext
from .cost import ALU, BYTES_PER_INSN, LOOP, MAC, VCVT, vldm, vstm, weight_load
from .immediates import add_const
from .loops import chunked, counted_loop
from .mac import emit_macs, emit_widening_products, load_weights
from .registry import kernel
from .store import combine_residual, store_activated

MAX_UNITS = 16                # units of a block (accumulators in S registers)
MAX_CHUNK = 8                 # inputs loaded at once
UNROLL = {"speed": 8, "balanced": 4, "size": 4}      # chunks per loop iteration, at most
BLOCK_SETUP = ALU + LOOP      # the input pointer reset, the block loop
INSNS_PER_MAC = 2             # VMUL + VADD
CHUNK_EXTRA_INSNS = 2         # per chunk besides its products: input VLDM, weight VLDM
SIZE_BYTES_PER_CYCLE = 0.5    # --optimize size: code bytes worth a cycle


@dataclass(frozen=True)
class DensePlan:
    u: int          # units per block
    m: int          # inputs per chunk
    wrows: bool     # weights loaded one input (u values) at a time
    unroll: int     # chunks per loop iteration
    widen: int = 0  # float16 by rows: rows per VLDM, each weight widened as used (0: in place)
    rows: int = 1   # float32 by rows: rows per VLDM (fewer VLDMs, more weight registers)


WIDEN_ROWS = (1, 2, 3, 4)     # rows of float16 weights per VLDM tried
LOAD_ROWS = (2, 3, 4)         # rows of float32 weights per VLDM tried (besides one)


def _row_words(u: int) -> int:
    return (u + 1) // 2          # a row of u float16 weights, padded to a word


def chunk_cycles(u: int, m: int, wrows: bool, f16: bool, widen: int = 0, rows: int = 1) -> int:
    if widen:
        loads = sum(vldm(min(widen, m - i) * _row_words(u)) for i in range(0, m, widen))
        return vldm(m) + loads + (MAC + VCVT) * u * m
    if wrows:
        weights = sum(weight_load(u * min(rows, m - i), f16) for i in range(0, m, rows))
    else:
        weights = weight_load(u * m, f16)
    return vldm(m) + weights + MAC * u * m


def block_cycles(n: int, u: int, plan: DensePlan, f16: bool, act: str) -> float:
    chunks, tail = divmod(n, plan.m)
    # linear: VSTM of the block; an activated store: about 3 cycles per value
    stores = vstm(u) if act == "linear" else 3 * u + 2
    c = vldm(u) + BLOCK_SETUP + stores
    c += chunks * chunk_cycles(u, plan.m, plan.wrows, f16, plan.widen, plan.rows)
    c += chunk_cycles(u, tail, plan.wrows, f16, plan.widen, plan.rows) if tail else 0
    c += LOOP * (chunks // plan.unroll)
    return c


def fp_regs(u: int, m: int, wrows: bool, widen: int = 0, rows: int = 1) -> int:
    """Sums, inputs, weights and the two product temporaries (widening as used:
    the packed words and two widening temporaries)."""
    if widen:
        return u + m + widen * _row_words(u) + 4
    return u + m + (rows * u if wrows else u * m) + 2


#: float16 code may grow to this factor of the float32 plan's code, no more (the
#: halved weights must not be spent again on code: VCVTs unrolled)
F16_CODE_FACTOR = 1.1


def code_insns(n: int, units: int, plan: DensePlan, f16: bool) -> int:
    """Instructions of the kernel's block bodies (the loop over rows aside)."""
    chunks, tail = divmod(n, plan.m)
    loops, rem = divmod(chunks, plan.unroll)
    emitted = [plan.m] * ((plan.unroll if loops else 0) + rem) + ([tail] if tail else [])
    total = 0
    for u in {plan.u, units % plan.u} - {0}:
        body = 2 + (3 if loops else 0) + 1 + 2 * u      # pointer, bias, loop, store
        for mm in emitted:
            loads = ceil(mm / (plan.widen or plan.rows)) if plan.wrows else 1
            body += 1 + loads + (u * mm if f16 else 0) + INSNS_PER_MAC * u * mm
        total += body
    return total


def _candidates(n: int, units: int, f16: bool):
    """(u, m, wrows, widen, rows) within the registers."""
    for u in range(1, min(units, MAX_UNITS) + 1):
        for m in range(1, min(n, MAX_CHUNK) + 1):
            for wrows in (False, True):
                if wrows and m == 1:
                    continue
                for widen in (0,) + (WIDEN_ROWS if f16 and wrows else ()):
                    # several float32 rows per VLDM: fewer than the chunk's (that is wrows=False)
                    for rows in (1,) + (LOAD_ROWS if wrows and not f16 and not widen else ()):
                        if (widen <= m and (rows == 1 or rows < m)
                                and fp_regs(u, m, wrows, widen, rows) <= FP_REGS):
                            yield u, m, wrows, widen, rows


def choose_plan(n: int, units: int, f16: bool, optimize: str, act: str) -> DensePlan:
    cap = None
    if f16:
        f32 = choose_plan(n, units, False, optimize, act)
        cap = F16_CODE_FACTOR * code_insns(n, units, f32, False)
    best = None
    for u, m, wrows, widen, rows in _candidates(n, units, f16):
        blocks, rest = divmod(units, u)
        unroll = max(1, min(n // m, UNROLL[optimize]))
        plan = DensePlan(u, m, wrows, unroll, widen, rows)
        while cap is not None and unroll > 1 and code_insns(n, units, plan, f16) > cap:
            unroll //= 2
            plan = DensePlan(u, m, wrows, unroll, widen, rows)
        if cap is not None and code_insns(n, units, plan, f16) > cap:
            continue
        cyc = blocks * block_cycles(n, u, plan, f16, act)
        if rest:
            cyc += block_cycles(n, rest, plan, f16, act)
        bodies = (1 if blocks else 0) + (1 if rest else 0)
        code = bodies * unroll * (CHUNK_EXTRA_INSNS + INSNS_PER_MAC * u * m) * BYTES_PER_INSN
        score = cyc + (code * SIZE_BYTES_PER_CYCLE if optimize == "size" else 0)
        key = (score, u, m, wrows, widen, rows)
        if best is None or key < best[0]:
            best = (key, plan)
    if best is None:                     # nothing within the cap: the smallest f16 code
        return min((DensePlan(u, m, w, 1, r, k) for u, m, w, r, k in _candidates(n, units, f16)),
                   key=lambda p: (code_insns(n, units, p, f16), p.u, p.m, p.wrows, p.widen,
                                  p.rows))
    return best[1]


def block_weights(kernel: np.ndarray, plan: DensePlan, f16: bool) -> np.ndarray:
    """One block's kernel (n, u) in read order; every VLDM unit starts on a word."""
    n, u = kernel.shape
    parts = []
    for k0 in range(0, n, plan.m):
        chunk = kernel[k0:k0 + plan.m]                     # [i][j]
        units_ = list(chunk) if plan.wrows else [chunk.ravel()]
        for unit in units_:
            parts.append(unit)
            if f16 and unit.size % 2:
                parts.append(np.zeros(1, np.float32))
    return np.concatenate(parts)


@kernel(Dense)
def emit_dense(op: Dense, ctx: KernelContext, ins: list[int], out_off: int) -> DensePlan:
    in_off = ins[0]
    delta = ins[1] - out_off if op.residual else 0       # fused merge operand
    asm, f16 = ctx.asm, ctx.float16
    n, units = op.kernel.shape
    rows = elems(op.in_shape) // n
    plan = choose_plan(n, units, f16, ctx.optimize, op.activation.kind)
    bias = op.bias if op.bias is not None else np.zeros(units, np.float32)
    w_off = None
    for j0 in range(0, units, plan.u):
        off = ctx.blob.add_f32(bias[j0:j0 + plan.u])
        ctx.blob.add_weights(block_weights(op.kernel[:, j0:j0 + plan.u], plan, f16),
                             layer=op.name, layer_class=op.layer_class)
        w_off = off if w_off is None else w_off

    r_in, r_x, r_w, r_out, r_cnt, r_blk, r_row = r4, r5, r6, r8, r9, r10, r11
    ctx.arena_ptr(r_in, in_off)
    ctx.arena_ptr(r_out, out_off)
    with counted_loop(asm, r_row, rows):
        ctx.weights_ptr(r_w, w_off)
        blocks, rest = divmod(units, plan.u)
        if blocks:
            with counted_loop(asm, r_blk, blocks):
                _block(op, ctx, plan, plan.u, r_in, r_x, r_w, r_out, r_cnt, delta)
        if rest:
            _block(op, ctx, plan, rest, r_in, r_x, r_w, r_out, r_cnt, delta)
        if rows > 1:
            add_const(asm, r_in, r_in, 4 * n, scratch=r0)
    return plan


def gemv_block(asm, plan: DensePlan, u: int, r_x, r_w, f16: bool):
    """A block of u units: the accumulators start at the bias (from [r_w]!),
    and `chunk(mm)` adds the products of the next mm inputs ([r_x]!, weights
    from [r_w]!).  Returns (accumulator registers, chunk)."""
    m = plan.m
    acc = [S[j] for j in range(u)]
    xs = [S[u + i] for i in range(m)]
    asm.vldm(r_w, acc[0], u, wb=True)
    if plan.widen:
        words = _row_words(u)
        wregs = [S[u + m + i] for i in range(plan.widen * words)]
        t = u + m + len(wregs)
        cvt_temps, prod_temps = (S[t], S[t + 1]), (S[t + 2], S[t + 3])

        def chunk(mm):
            asm.vldm(r_x, xs[0], mm, wb=True)
            products = []
            for i in range(mm):
                k = i % plan.widen
                load = None
                if k == 0:
                    rows = min(plan.widen, mm - i)
                    load = lambda rows=rows: asm.vldm(r_w, wregs[0], rows * words, wb=True)  # noqa: E731
                for j in range(u):
                    products.append((acc[j], xs[i], wregs[k * words + j // 2], j % 2 == 1,
                                     load if j == 0 else None))
            emit_widening_products(asm, products, cvt_temps, prod_temps)
        return acc, chunk
    wn = plan.rows * u if plan.wrows else u * m
    ws = [S[u + m + i] for i in range(wn)]
    temps = (S[u + m + wn], S[u + m + wn + 1])

    def chunk(mm):
        asm.vldm(r_x, xs[0], mm, wb=True)
        if plan.wrows:
            for i in range(0, mm, plan.rows):
                rr = min(plan.rows, mm - i)
                load_weights(asm, r_w, ws, u * rr, f16)
                emit_macs(asm, [acc], [xs[i:i + rr]],
                          [ws[k * u:(k + 1) * u] for k in range(rr)], temps)
        else:
            load_weights(asm, r_w, ws, u * mm, f16)
            w = [[ws[i * u + j] for j in range(u)] for i in range(mm)]
            emit_macs(asm, [acc], [xs[:mm]], w, temps)
    return acc, chunk


def _block(op, ctx, plan, u, r_in, r_x, r_w, r_out, r_cnt, delta) -> None:
    asm, f16 = ctx.asm, ctx.float16
    n = op.kernel.shape[0]
    asm.mov(r_x, r_in)
    acc, chunk = gemv_block(asm, plan, u, r_x, r_w, f16)
    chunked(asm, r_cnt, n, plan.m, plan.unroll, chunk)
    sfree = [S[i] for i in range(u, 32)]
    if op.residual:
        combine_residual(asm, acc, r_out, delta, op.residual, sfree, r1)
    store_activated(asm, acc, r_out, op.activation, sfree=sfree)
