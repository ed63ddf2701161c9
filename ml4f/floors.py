"""Per-layer cycle floors on a Cortex-M4F (steady state, zero wait states).

From the per-MAC limits of the M4F (docs: cortex-m4-timing §6): VMUL + VADD is
2 cycles per MAC, VLDM costs 1 cycle per register plus 1 per instruction, and
32 S registers hold the accumulators, operands and product temporaries.  Every
floor is  effective MACs x (cycles per MAC of the best register tile)
         + outputs x (store + bias + ReLU, 1 cycle each).
Effective MACs skip the taps that fall on padding (the MACs of the report count
them, so a kernel that skips them can beat the per-MAC figure on small maps).
benchmarks/README.md states the formulas; this module is their only implementation
(the compile report and the benchmarks both use it).
"""
from __future__ import annotations

from dataclasses import dataclass

from .graph.ops import elems
from .graph.shapes import hwc

S_REGS = 32
TEMPS = 2                 # product temporaries of VMUL + VADD


@dataclass(frozen=True)
class Floor:
    cycles: float
    per_mac: float        # the tile's steady-state cycles per effective MAC
    tile: str             # the register tile that gives it
    effective_macs: int
    epilogue: int         # cycles per output element (store, bias, activation)


def _valid_taps(n_in: int, n_out: int, k: int, stride: int, dil: int, pad: int) -> int:
    """Sum over output positions of the taps that land inside the input (one axis)."""
    total = 0
    for t in range(k):              # per tap, the outputs o with 0 <= o*stride - pad + t*dil < n_in
        first = max(0, -(-(pad - t * dil) // stride))
        last = min(n_out - 1, (n_in - 1 + pad - t * dil) // stride)
        total += max(0, last - first + 1)
    return total


def effective_macs(op) -> int:
    """MACs on real (not padded) input elements."""
    if op.kind not in ("conv2d", "winograd", "depthwise"):
        return op.macs()
    ih, iw, _ = hwc(op.in_shape)
    oh, ow, oc = hwc(op.out_shape)
    kh, kw, cin = op.kernel.shape[:3]
    taps = (_valid_taps(ih, oh, kh, op.strides[0], op.dilation[0], op.pads[0])
            * _valid_taps(iw, ow, kw, op.strides[1], op.dilation[1], op.pads[1]))
    return taps * oc * (cin if op.kind in ("conv2d", "winograd") else 1)


def conv_tile(positions: int, filters: int, float16: bool):
    """Outer-product tile: a output positions x b filters, a*b accumulators, a + b
    operands per k step plus two temporaries; per MAC 2 + (a + b)/(a b) loads
    + 2/(a b) for the two VLDM start-ups (+0.5/a to widen f16 weights)."""
    best = None
    for a in range(1, min(positions, S_REGS) + 1):
        for b in range(1, min(filters, S_REGS) + 1):
            if a * b + a + b + TEMPS > S_REGS:
                continue
            c = 2 + (a + b + 2) / (a * b) + (0.5 / a if float16 else 0.0)
            if best is None or c < best[0] - 1e-12:
                best = (c, f"{a}x{b}")
    return best


def dense_tile(inputs: int, units: int, float16: bool):
    """u units per pass over chunks of n inputs: every weight loaded once (1), each
    input chunk once per pass (1/u), VLDM start-ups 1/n (weights) and 1/(n u)
    (inputs); registers u accumulators + n inputs + n weights (reused as products).
    f16: +0.5 per weight (half the load, one VCVT to widen)."""
    best = None
    for n in range(1, min(inputs, S_REGS) + 1):
        for u in range(1, min(units, S_REGS) + 1):
            if u + 2 * n > S_REGS:
                continue
            c = 3 + 1 / n + (1 + 1 / n) / u + (0.5 if float16 else 0.0)
            if best is None or c < best[0] - 1e-12:
                best = (c, f"u={u} n={n}")
    return best


def depthwise_tile(rows: int, cols: int, channels: int, kernel=(3, 3), strides=(1, 1),
                   dilation=(1, 1), float16: bool = False, multiplier: int = 1):
    """Weights resident, inputs shared by the taps: r output rows x a positions x
    c adjacent channels (x M outputs each), r*a*c*M accumulators, the KH*KW*c*M
    weights and c*M biases held, c inputs in flight and two temporaries; the
    tile's window is loaded once, c adjacent channels per VLDM (1 + c cycles),
    for r*a*c*M*KH*KW MACs.  The weights load once per row of tiles (not
    counted; float16 widens them there)."""
    kh, kw = kernel
    best = None
    for c in range(1, min(channels, S_REGS) + 1):
        cm = c * multiplier
        held = kh * kw * cm + cm + c + TEMPS
        for r in range(1, rows + 1):
            for a in range(1, cols + 1):
                if r * a * cm + held > S_REGS:
                    break
                in_rows = (r - 1) * strides[0] + (kh - 1) * dilation[0] + 1
                in_cols = (a - 1) * strides[1] + (kw - 1) * dilation[1] + 1
                cost = 2 + in_rows * in_cols * (1 + c) / (r * a * cm * kh * kw)
                if best is None or cost < best[0] - 1e-12:
                    best = (cost, f"{r}x{a}x{c}")
    return best or _streamed_depthwise_tile(rows * cols, channels * multiplier, float16)


def _streamed_depthwise_tile(positions: int, channels: int, float16: bool):
    """Where the weights do not fit beside a tile (large kernels or depth
    multipliers): a positions x c channels, c weights of one tap per tile (1/a
    per MAC), each input loaded per tap (1 per MAC), VLDM start-ups 1/c and
    1/(a c); f16 + 0.5/a."""
    best = None
    for c in range(1, min(channels, S_REGS) + 1):
        for a in range(1, min(positions, S_REGS) + 1):
            if a * c + 2 * c > S_REGS:
                continue
            cost = 3 + 1 / a + 1 / c + 1 / (a * c) + (0.5 / a if float16 else 0.0)
            if best is None or cost < best[0] - 1e-12:
                best = (cost, f"{a}x{c}")
    return best


def _epilogue(op) -> int:
    act = getattr(op, "activation", None)
    return 1 + (op.bias is not None) + (act is not None and not act.is_linear)


def floor(op, float16: bool = False) -> Floor | None:
    """The floor of one op, or None for ops without MACs."""
    if op.macs() == 0:
        return None
    outputs = elems(op.out_shape)
    # a transposed one: its useful MACs; a Winograd one: the direct kernel's floor
    if op.kind in ("conv2d", "winograd", "conv_transpose"):
        oh, ow, oc = hwc(op.out_shape)
        per_mac, tile = conv_tile(oh * ow, oc, float16)
    elif op.kind == "depthwise":
        oh, ow, oc = hwc(op.out_shape)
        per_mac, tile = depthwise_tile(oh, ow, op.kernel.shape[2], op.kernel.shape[:2], op.strides,
                                       op.dilation, float16, op.kernel.shape[3])
    elif op.kind == "dense":
        n, units = op.kernel.shape
        per_mac, tile = dense_tile(n, units, float16)
    else:
        return None
    eff = effective_macs(op)
    epi = _epilogue(op)
    return Floor(eff * per_mac + outputs * epi, per_mac, tile, eff, epi)
