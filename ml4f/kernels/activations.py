"""Activation functions as code, one table entry per kind.

Two forms:
- `CORE`: ReLU without a negative slope (any threshold and max_value) on the
  integer images of the floats in core registers -- the cheapest form, used
  by the fused store and by the standalone kernel;
- `PROGRAMS`: every other kind as a lane program (lanes.py): the other
  piecewise-linear kinds (fused into the producer's store) and the
  transcendental ones (standalone, vectorised).
"""
from __future__ import annotations

import math
import struct
from typing import Callable

from ..graph.ops import Activation
from ..graph.ops.base import HARD_SIGMOID, SELU_ALPHA, SELU_SCALE
from ..thumb.encoding import modimm_encode
from ..thumb.regs import lr, r8, r9, r10, r11, r12
from .lanes import ZERO, LaneProgram
from .transcendental import exp, expm1, log1p_unit, phi

GELU_K1 = 2.0 * math.sqrt(2.0 / math.pi)            # 2u = x (K1 + K2 x^2)
GELU_K2 = GELU_K1 * 0.044715
TANH_SAT = 18.5                                      # tanh(x) rounds to +-1 for |2x| >= 18.5
INF_IMAGE = 0x7F800000
SPARE_CORE = (r12, lr, r11, r10, r9, r8)             # saved and restored when borrowed


def f32_bits(v: float) -> int:
    return struct.unpack("<I", struct.pack("<f", v))[0]


# ------------------------------------------------------------- core form
def core_capable(act: Activation) -> bool:
    return act.kind == "relu" and act.alpha == 0.0


def core_consts(act: Activation) -> list[int]:
    """Integers the core form needs in registers: the threshold's image (unless
    it is an immediate) and max_value's image + 1."""
    images = []
    if act.threshold > 0 and modimm_encode(f32_bits(act.threshold)) is None:
        images.append(f32_bits(act.threshold))
    if act.max_value is not None:
        images.append(f32_bits(act.max_value) + 1)
    return images


def core_relu(asm, regs, act: Activation, consts: dict) -> None:
    """ReLU on integer images: negatives (and -0.0, -inf) have the sign bit, so
    clearing every bit when it is set gives +0.0; for non-negative floats the
    signed integer order is the float order, so thresholds and maxima are
    integer compares.  `consts` maps the images of core_consts to the core
    registers holding them.  NaN (sign bit clear) stays NaN: the clip to
    max_value runs only for max < t <= +inf (the second compare is
    conditional on the first, inside one IT block).  Images missing from
    `consts` are loaded into registers saved on the stack around the code."""
    missing = [v for v in core_consts(act) if v not in consts]
    if missing:
        spare = [r for r in SPARE_CORE if r not in regs][:len(missing) + len(missing) % 2]
        asm.push(spare)
        for image, reg in zip(missing, spare):
            asm.mov_const(reg, image)
        core_relu(asm, regs, act, {**consts, **dict(zip(missing, spare))})
        asm.pop(spare)
        return
    if act.threshold > 0:
        th = f32_bits(act.threshold)
        th = consts.get(th, th)
        for t in regs:
            asm.cmp(t, th)
            asm.it("le")
            asm.mov_imm(t, 0, cond="le")
    else:
        for t in regs:
            asm.bic(t, t, t, shift=("asr", 31))
    if act.max_value is not None:
        above = consts[f32_bits(act.max_value) + 1]          # image of max_value, plus 1
        for t in regs:
            asm.cmp(above, t)                                 # le: t > max_value
            asm.it("le", "t")
            asm.cmp(t, INF_IMAGE, cond="le")                  # le: and t <= +inf (not NaN)
            asm.sub(t, above, 1, cond="le")


# ------------------------------------------------------------ lane programs
def _relu(p: LaneProgram, a: Activation) -> None:
    """x > threshold: min(x, max_value); else alpha * (x - threshold)."""
    x = p.x
    below = ZERO
    if a.alpha != 0.0:
        below = p.mul(p.sub(x, a.threshold) if a.threshold else x, a.alpha)
    p.set_if(x, x, "ls", a.threshold or 0.0, below)
    if a.max_value is not None:
        p.min_(x, a.max_value)
    p.ret(x)



def _hard_sigmoid_of(p: LaneProgram, x, variant: str):
    if variant not in HARD_SIGMOID:
        raise ValueError(f"hard_sigmoid needs the Keras generation (variant {variant!r})")
    c, a = HARD_SIGMOID[variant]
    t = p.mul(p.add(x, c), a)
    p.min_(t, 1.0)
    p.max_(t, ZERO)
    return t


def _hard_sigmoid(p, a):
    p.ret(_hard_sigmoid_of(p, p.x, a.variant))


def _hard_silu(p, a):
    p.ret(p.mul(p.x, _hard_sigmoid_of(p, p.x, "keras3")))


def _hard_tanh(p, a):
    p.min_(p.x, 1.0)
    p.max_(p.x, -1.0)
    p.ret(p.x)


def _sigmoid(p, a):
    p.ret(p.div(1.0, p.add(exp(p, p.x, negate=True), 1.0)))


def _silu(p, a):
    e = exp(p, p.copy(p.x), negate=True)
    p.ret(p.div(p.x, p.add(e, 1.0)))


def _tanh_of(p, x, lower=True):
    u = p.add(x, x)
    p.min_(u, TANH_SAT)
    if lower:
        p.max_(u, -TANH_SAT)
    q = expm1(p, u)
    return p.div(q, p.add(q, 2.0))            # tanh x = expm1(2x) / (expm1(2x) + 2)


def _tanh(p, a):
    p.ret(_tanh_of(p, p.x))


def _exponential(p, a):
    p.ret(exp(p, p.x))


def _softplus_of(p, x):
    """max(x, 0) + log1p(exp(-|x|)); consumes x."""
    e = exp(p, p.abs(x), negate=True, lower=False)
    lg = log1p_unit(p, e)
    p.max_(x, ZERO)
    return p.add(x, lg)


def _softplus(p, a):
    p.ret(_softplus_of(p, p.x))


def _log_sigmoid(p, a):
    e = exp(p, p.abs(p.x), negate=True, lower=False)
    lg = log1p_unit(p, e)
    p.min_(p.x, ZERO)
    p.ret(p.sub(p.x, lg))                     # -softplus(-x)


def _softsign(p, a):
    p.ret(p.div(p.x, p.add(p.abs(p.x), 1.0)))


def _elu_of(p, a, scale: float, alpha: float):
    n = p.copy(p.x)
    p.max_(n, -18.0)                          # expm1 rounds to -1 below
    y = p.mul(expm1(p, n), scale * alpha)
    pos = p.mul(p.x, scale) if scale != 1.0 else p.x
    p.set_if(y, p.x, "gt", 0.0, pos)          # NaN and x <= 0 keep the exponential branch
    p.ret(y)


def _elu(p, a):
    _elu_of(p, a, 1.0, a.alpha)


def _selu(p, a):
    _elu_of(p, a, SELU_SCALE, SELU_ALPHA)


def _gelu(p, a):
    if a.variant == "tanh":
        # x sigmoid(2u), 2u = sqrt(8/pi) (x + 0.044715 x^3): the same function as
        # 0.5 x (1 + tanh u), without the cancellation for negative x
        w = p.add(p.mul(p.mul(p.x, p.x), -GELU_K2), -GELU_K1)
        e = exp(p, p.mul(w, p.x))
        p.ret(p.div(p.x, p.add(e, 1.0)))
    else:
        p.ret(p.mul(p.x, phi(p, p.x)))


def _mish(p, a):
    """x tanh(softplus x) = x num / den, with e = exp(-|x|):
    x >= 0: num = 1 + 2e, den = num + 2e^2; x < 0: num = e(e + 2), den = num + 2
    (tanh of log(1 + e^x) as a ratio of polynomials in e^x; no cancellation)."""
    e = exp(p, p.abs(p.x), negate=True, lower=False)
    num = p.add(p.mul(e, 2.0), 1.0)
    den = p.add(p.mul(p.mul(e, e), 2.0), num)
    neg_num = p.mul(p.add(e, 2.0), e)
    neg_den = p.add(neg_num, 2.0)
    p.set_if(num, p.x, "mi", 0.0, neg_num)
    p.set_if(den, p.x, "mi", 0.0, neg_den)
    p.ret(p.div(p.mul(p.x, num), den))


PROGRAMS: dict[str, Callable[[LaneProgram, Activation], None]] = {
    "relu": _relu,
    "hard_sigmoid": _hard_sigmoid,
    "hard_silu": _hard_silu,
    "hard_tanh": _hard_tanh,
    "sigmoid": _sigmoid,
    "silu": _silu,
    "tanh": _tanh,
    "exponential": _exponential,
    "softplus": _softplus,
    "log_sigmoid": _log_sigmoid,
    "softsign": _softsign,
    "elu": _elu,
    "selu": _selu,
    "gelu": _gelu,
    "mish": _mish,
}


def program(act: Activation, stream_polys: bool = False) -> LaneProgram:
    if act.kind not in PROGRAMS:
        raise KeyError(f"no code for activation {act.kind!r}")
    p = LaneProgram(stream_polys=stream_polys)
    PROGRAMS[act.kind](p, act)
    return p
