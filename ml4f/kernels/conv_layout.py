"""Where a convolution's weights lie in flash: exactly in the order a tile
reads them, per block of b output channels: [bias b x f32] then per ky:

  chunks: [kx][c][j]                 rows: [chunk][kx][c in chunk][j]

(with float16, every unit loaded by one VLDM starts on a word)."""
from __future__ import annotations

from math import ceil
from typing import TYPE_CHECKING

import numpy as np

from .conv_geometry import Geometry

if TYPE_CHECKING:
    from .conv_plan import ConvPlan


def unit_len(plan: ConvPlan, mc: int, bb: int) -> int:
    """Values loaded by one weight VLDM for a chunk of mc channels."""
    return bb if plan.wrows else mc * bb


def units(plan: ConvPlan, mc: int) -> int:
    return mc if plan.wrows else 1


def unit_bytes(n: int, f16: bool) -> int:
    return 4 * ceil(n / 2) if f16 else 4 * n


def merged(g: Geometry, plan: ConvPlan, f16: bool) -> bool:
    """Chunks may run across kx groups (contiguous inputs, no padding between)."""
    return plan.scheme == "chunks" and g.dw == 1 and not f16


def chunk_sizes(length: int, m: int) -> list[int]:
    return [m] * (length // m) + ([length % m] if length % m else [])


def chunk_bytes(plan: ConvPlan, mc: int, bb: int, f16: bool) -> int:
    return units(plan, mc) * unit_bytes(unit_len(plan, mc, bb), f16)


def group_bytes(g: Geometry, plan: ConvPlan, bb: int, f16: bool) -> int:
    """chunks scheme: bytes of one kx group (all Cin channels)."""
    if merged(g, plan, f16):
        return 4 * g.cin * bb
    return sum(chunk_bytes(plan, mc, bb, f16) for mc in chunk_sizes(g.cin, plan.m))


def ky_bytes(g: Geometry, plan: ConvPlan, bb: int, f16: bool) -> int:
    if plan.scheme == "chunks":
        return g.KW * group_bytes(g, plan, bb, f16)
    return sum(g.KW * chunk_bytes(plan, mc, bb, f16) for mc in chunk_sizes(g.cin, plan.m))


def block_weights(kernel: np.ndarray, plan: ConvPlan, f16: bool) -> np.ndarray:
    """One block's kernel (KH, KW, Cin, bb) in read order, float16 units padded."""
    kh, kw, cin, bb = kernel.shape
    out = []

    def unit(v):
        v = np.asarray(v, np.float32).ravel()
        out.append(v)
        if f16 and v.size % 2:
            out.append(np.zeros(1, np.float32))

    for ky in range(kh):
        if plan.scheme == "chunks":
            if not f16:
                out.append(kernel[ky].ravel())          # [kx][c][j]: any chunking reads it in order
                continue
            for kx in range(kw):
                c0 = 0
                for mc in chunk_sizes(cin, plan.m):
                    part = kernel[ky, kx, c0:c0 + mc]
                    for u in (part if plan.wrows else [part]):
                        unit(u)
                    c0 += mc
        else:
            c0 = 0
            for mc in chunk_sizes(cin, plan.m):
                for kx in range(kw):
                    part = kernel[ky, kx, c0:c0 + mc]
                    for u in (part if plan.wrows else [part]):
                        unit(u)
                c0 += mc
    return np.concatenate(out) if out else np.zeros(0, np.float32)
