"""Per-channel affine op y = x * scale[c] + offset[c], in place, vectorised
over channels: the channels are cut into chunks of up to CHUNK; per chunk its
scales and offsets are loaded once (one VLDM from the weight stream, laid out
[scale chunk][offset chunk] per chunk) and stay in registers while every row
of the tensor is processed: VLDM of the chunk's values, VMULs, VADDs (two
independent passes, so no instruction waits for the one before), and the
fused activation + store.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..graph.ops import elems
from ..graph.ops.affine import Affine
from ..thumb.regs import S, r0, r1, r2, r3, r4, r5, r6, r7, r8, r9, r10
from .context import KernelContext
from .immediates import add_const
from .loops import counted_loop
from .registry import kernel
from .store import store_activated

CHUNK = 8
R_W, R_SRC, R_DST, R_P, R_Q, C_CH, C_ROW = r4, r5, r6, r7, r8, r9, r10
TEMPS = (r0, r1, r2, r3)
X, SCALE, OFFSET = 0, 8, 16
SFREE = [S[i] for i in range(24, 32)]        # for the fused activation


def weight_stream(op: Affine, k: int) -> np.ndarray:
    c = op.scale.shape[0]
    parts = []
    for c0 in range(0, c, k):
        parts += [op.scale[c0:c0 + k], op.offset[c0:c0 + k]]
    return np.concatenate(parts).astype(np.float32)


@dataclass(frozen=True)
class AffinePlan:
    chunk: int                  # channels per chunk (scales and offsets in registers)


@kernel(Affine)
def emit_affine(op: Affine, ctx: KernelContext, ins: list[int], out_off: int) -> AffinePlan:
    asm = ctx.asm
    c = op.out_shape[-1]
    rows = elems(op.out_shape) // c
    k = min(c, CHUNK)
    chunks, tail = divmod(c, k)
    ctx.weights_ptr(R_W, ctx.blob.add_f32(weight_stream(op, k)))
    ctx.arena_ptr(R_SRC, ins[0])
    ctx.arena_ptr(R_DST, out_off)
    with counted_loop(asm, C_CH, chunks):
        _chunk(op, ctx, k, c, rows)
        if chunks > 1 or tail:
            asm.add(R_SRC, R_SRC, 4 * k)
            asm.add(R_DST, R_DST, 4 * k)
    if tail:
        _chunk(op, ctx, tail, c, rows)
    return AffinePlan(k)


def _chunk(op: Affine, ctx: KernelContext, k: int, c: int, rows: int) -> None:
    """Channels [R_SRC, R_SRC + k) of every row."""
    asm = ctx.asm
    xs = [S[X + i] for i in range(k)]
    asm.vldm(R_W, S[SCALE], k, wb=True)
    asm.vldm(R_W, S[OFFSET], k, wb=True)
    asm.mov(R_P, R_SRC)
    asm.mov(R_Q, R_DST)
    with counted_loop(asm, C_ROW, rows):
        asm.vldm(R_P, xs[0], k, wb=True)
        for i, x in enumerate(xs):
            asm.vmul(x, x, S[SCALE + i])
        for i, x in enumerate(xs):
            asm.vadd(x, x, S[OFFSET + i])
        store_activated(asm, xs, R_Q, op.activation, temps=TEMPS, sfree=SFREE)
        if rows > 1 and c > k:
            add_const(asm, R_P, R_P, 4 * (c - k), scratch=r0)
            add_const(asm, R_Q, R_Q, 4 * (c - k), scratch=r0)
