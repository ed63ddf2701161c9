"""Transposed convolutions (2-D, and 1-D as H = 1) by sub-pixel decomposition.

With stride s along an axis, the output positions o with (o + crop) % s == r
(the phase r) receive only the taps t == r (mod s), and their inputs form an
ordinary stride-1 window: output j of phase r is

    sum_u x[base + j - (n - 1) + u] * w[r + s (n - 1 - u)],   n = ceil((k - r) / s)

So each of the sy x sx phases is a plain convolution of the input with a
sub-kernel (every s-th tap, reversed), run by the register-tiled conv kernel
(conv.py) writing its pixels s apart and its rows s rows apart.  Nothing is
zero-stuffed and no product by an inserted zero is computed: the MACs run are
exactly the useful ones.  (A scatter would read each output many times and
needs the output cleared first; a phase keeps its sums in registers.)

Output positions no tap reaches (stride above the kernel, output_padding)
hold the bias: the output is first filled with activation(bias) then, and the
phases overwrite the positions they cover.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..graph.ops import Conv2D
from ..graph.ops.conv import Conv2DTranspose
from ..graph.shapes import hwc
from ..thumb.regs import S, r0, r1, r2, r3, r5, r6, r8
from .context import KernelContext
from .conv import OutputStrides, emit_conv2d_strided
from .conv_plan import ConvPlan
from .loops import counted_loop
from .registry import kernel
from .store import store_activated

FILL_CHUNK = 16              # bias values per VLDM of the fill


@dataclass(frozen=True)
class AxisPhase:
    """One phase of one axis: outputs first, first + s, ...; `count` of them
    see at least one input, `total` exist."""

    first: int               # first output position
    taps: int                # sub-kernel length n
    pad: int                 # leading padding of the stride-1 convolution (may be < 0)
    count: int
    total: int
    tap_index: tuple         # sub-kernel tap u -> tap of the full kernel


def axis_phases(size: int, out: int, k: int, s: int, crop: int) -> list[AxisPhase]:
    phases = []
    for r in range(s):
        first = (r - crop) % s
        total = max(0, -(-(out - first) // s))
        n = max(0, -(-(k - r) // s))
        base = (first + crop - r) // s               # input of tap r at output `first`
        # outputs j of the phase read inputs base + j - (n - 1) .. base + j
        count = min(total, max(0, size + n - 1 - base)) if n else 0
        phases.append(AxisPhase(first, n, n - 1 - base, count, total,
                                tuple(r + s * (n - 1 - u) for u in range(n))))
    return phases


@dataclass(frozen=True)
class Phase:
    y: AxisPhase
    x: AxisPhase

    @property
    def covered(self) -> int:
        return self.y.count * self.x.count


def phases(op: Conv2DTranspose) -> list[Phase]:
    h, w, _ = hwc(op.in_shape)
    oh, ow, _ = hwc(op.out_shape)
    kh, kw = op.kernel.shape[:2]
    ys = axis_phases(h, oh, kh, op.strides[0], op.crops[0])
    xs = axis_phases(w, ow, kw, op.strides[1], op.crops[1])
    return [Phase(py, px) for py in ys for px in xs]


def phase_conv(op: Conv2DTranspose, ph: Phase) -> Conv2D:
    """The stride-1 convolution computing one phase (its output: the phase's
    covered positions, packed)."""
    h, w, cin = hwc(op.in_shape)
    cout = op.kernel.shape[3]
    sub = op.kernel[np.ix_(ph.y.tap_index, ph.x.tap_index)]
    pads = (ph.y.pad, ph.x.pad,
            ph.y.count - 1 + ph.y.taps - 1 - ph.y.pad - (h - 1),
            ph.x.count - 1 + ph.x.taps - 1 - ph.x.pad - (w - 1))
    return Conv2D(op.name, op.layer_class, op.inputs[:1], op.output, [(h, w, cin)],
                  (ph.y.count, ph.x.count, cout), kernel=np.ascontiguousarray(sub), bias=op.bias,
                  strides=(1, 1), pads=pads, activation=op.activation)


@dataclass(frozen=True)
class TransposePlan:
    phases: str              # per phase that computes something: its sub-kernel and conv tile plan
    bias_fill: bool          # some outputs see no input: the output is filled with the bias first


@kernel(Conv2DTranspose)
def emit_conv_transpose(op: Conv2DTranspose, ctx: KernelContext, ins: list[int],
                        out_off: int) -> TransposePlan:
    oh, ow, cout = hwc(op.out_shape)
    sh, sw = op.strides
    all_phases = phases(op)
    fill = sum(p.covered for p in all_phases) < oh * ow
    if fill:
        _fill_bias(op, ctx, out_off, oh * ow)
    plans: list[str] = []
    for ph in all_phases:
        if not ph.covered:
            continue
        start = out_off + 4 * (ph.y.first * ow + ph.x.first) * cout
        plan = emit_conv2d_strided(phase_conv(op, ph), ctx, ins[0], start,
                                   OutputStrides(4 * sw * cout, 4 * sh * ow * cout))
        plans.append(f"{ph.y.taps}x{ph.x.taps}:{_short(plan)}")
    return TransposePlan(",".join(plans), fill)


def _short(plan: ConvPlan) -> str:
    return (f"{plan.a}x{plan.b}/m{plan.m}/{plan.scheme}{'/wrows' if plan.wrows else ''}"
            f"/u{plan.unroll}{'/ky' if plan.unroll_ky else ''}")


def _fill_bias(op: Conv2DTranspose, ctx: KernelContext, out_off: int, pixels: int) -> None:
    """Every output pixel = activation(bias), FILL_CHUNK channels per store."""
    asm = ctx.asm
    cout = op.kernel.shape[3]
    bias = op.bias if op.bias is not None else np.zeros(cout, np.float32)
    bias_off = ctx.blob.add_f32(bias)
    ctx.arena_ptr(r5, out_off)
    with counted_loop(asm, r8, pixels):
        ctx.weights_ptr(r6, bias_off)
        for c0 in range(0, cout, FILL_CHUNK):
            n = min(FILL_CHUNK, cout - c0)
            asm.vldm(r6, S[0], n, wb=True)
            store_activated(asm, [S[i] for i in range(n)], r5, op.activation,
                            temps=(r0, r1, r2, r3), sfree=[S[i] for i in range(FILL_CHUNK, 32)])
