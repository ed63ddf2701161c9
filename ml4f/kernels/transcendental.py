"""exp, expm1, log1p and erfc as lane programs (see lanes.py), computed in
the generated code with single-precision instructions only (no libm, no core
registers).

exp: k = round(x log2 e) by VCVTR, r = x - k ln2 (ln2 split in two, so k*LN2_HI
is exact), 2e^r by a degree-5 minimax polynomial, times 2^(k-1) built as the
integer image (k+126) << 23 -- computed in float as (k*2^23 + 126*2^23) and
converted to int32, so it never leaves the FPU.  The argument is clamped to
[EXP_LO, EXP_HI]: above, the product overflows to +inf as the exact result
does; below, k = -126 gives the scale +0.0, so results under 2^-125.5
(x < -86.98) flush to zero.  NaN passes through (VCVTR maps it to 0, the
polynomial keeps it).

expm1 shares the reduction: 2^k (expm1(r) + 1) - 1 = s q + (s - 1) with
q = r (1 + r Q(r)), exact in relative terms near 0, where k = 0 and s = 1.

Coefficients: minimax fits (iteratively reweighted least squares on a
Chebyshev grid, relative error), rounded to float32.
"""
from __future__ import annotations

import math

from .lanes import LaneProgram, Val

LOG2E = 1.0 / math.log(2.0)
LN2_HI = 0.693145751953125            # 16 significant bits: k*LN2_HI exact for |k| < 256
LN2_LO = math.log(2.0) - LN2_HI
TWO23 = 8388608.0

EXP_LO, EXP_HI = -87.5, 89.0
PHI_A_MAX = 13.2

# 2 e^r on |r| <= ln2/2, highest power first, constant term exactly 2 so that
# exp(0) = 1 (fit error 9.2e-8)
EXP2_POLY = [0.016580529510974884, 0.08379639685153961, 0.3333527743816376,
             0.9999829530715942, 1.9999994039535522, 2.0]
# expm1(r) / r on |r| <= ln2/2, highest power first (fit error 1.3e-8)
EXPM1_POLY = [0.0013882514322176576, 0.00836655218154192, 0.04166720062494278,
              0.1666654348373413, 0.4999999701976776, 1.0]
# log1p(e) / e on 0 <= e <= 1, highest power first (fit error 3.0e-8)
LOG1P_POLY = [0.005232634954154491, -0.02950499951839447, 0.07822556048631668,
              -0.13663211464881897, 0.1910599023103714, -0.2484297752380371,
              0.3331909477710724, -0.4999949336051941, 0.9999999403953552]
# erfc(a) = exp(-a^2) t P(t), t = 1 / (1 + ERFC_C a), a >= 0 (fit error 1.3e-7)
ERFC_C = 0.4
ERFC_POLY = [0.05026165768504143, -0.18289971351623535, 0.16908280551433563,
             -0.005605497397482395, 0.1414305716753006, 0.16854217648506165,
             0.20784267783164978, 0.22566959261894226, 0.22567586600780487]


def _reduce(p: LaneProgram, x: Val, negate: bool, low: Val | None, bias: float):
    """(r, s): r = ±x - k ln2 (+ low), s = 2^(k + bias - 127) as a float,
    k = round(±x log2 e).  With negate, r is returned negated (-r)."""
    sign = -1.0 if negate else 1.0
    k = p.cvt_f32(p.cvtr_s32(p.mul(x, sign * LOG2E)))
    s = p.cvt_s32(p.add(p.mul(k, TWO23), bias * TWO23))
    step = p.add if negate else p.sub          # -r = x + k ln2 when negated
    r = step(x, p.mul(k, LN2_HI))
    r = step(r, p.mul(k, LN2_LO))
    if low is not None:
        r = p.add(r, low)
    return r, s


def _clamp(p: LaneProgram, x: Val, lo: float | None, hi: float | None) -> None:
    if hi is not None:
        p.min_(x, hi)
    if lo is not None:
        p.max_(x, lo)


def exp(p: LaneProgram, x: Val, *, negate: bool = False, lower: bool = True, upper: bool = True,
        low: Val | None = None) -> Val:
    """e^x (negate: e^-x; low: a small addend of the argument, e^(x+low) or
    e^-(x+low)).  Clamps `x` in place on the sides asked for; leave a side
    out only where the caller knows the argument stays inside."""
    lo, hi = (-EXP_HI, -EXP_LO) if negate else (EXP_LO, EXP_HI)
    _clamp(p, x, lo if lower else None, hi if upper else None)
    r, s = _reduce(p, x, negate, low, 126.0)
    coeffs = EXP2_POLY
    if negate:                                 # p(-r): odd powers change sign
        n = len(coeffs) - 1
        coeffs = [c * (-1) ** (n - i) for i, c in enumerate(coeffs)]
    return p.mul(p.horner(r, coeffs), s)


def expm1(p: LaneProgram, x: Val) -> Val:
    """e^x - 1 for x already within [-87, 88] (callers clamp to their own range)."""
    r, s = _reduce(p, x, False, None, 127.0)
    q = p.mul(p.horner(r, EXPM1_POLY), r)
    return p.add(p.mul(s, q), p.sub(s, 1.0))


def log1p_unit(p: LaneProgram, e: Val) -> Val:
    """log(1 + e) for 0 <= e <= 1 (relative accuracy down to the smallest e)."""
    return p.mul(p.horner(e, LOG1P_POLY), e)


def phi(p: LaneProgram, x: Val) -> Val:
    """The standard normal CDF, 0.5 erfc(-x/sqrt 2), accurate in relative terms
    in the lower tail.  a = |x| is clamped to PHI_A_MAX, where exp(-a^2/2) is
    already flushed to zero (a^2/2 > 86.98) but still inside exp's range.
    exp(-a^2/2) uses the exact square: h + l = a*a/2 with l from VFMA, so the
    large argument carries no rounding error."""
    a = p.abs(x)
    p.min_(a, PHI_A_MAX)
    half_a = p.mul(a, 0.5)
    h = p.mul(half_a, a)
    l = p.neg(h)
    p.fma(l, half_a, a)                       # l = a*a/2 - h exactly
    t = p.div(1.0, p.add(p.mul(a, ERFC_C / math.sqrt(2.0)), 1.0))
    tail = p.mul(p.horner(t, ERFC_POLY), t)   # erfc(a/sqrt2) * exp(a*a/2)
    e = exp(p, h, negate=True, lower=False, upper=False, low=l)
    lower_tail = p.mul(p.mul(tail, e), 0.5)   # Phi(-|x|)
    upper = p.sub(1.0, lower_tail)            # Phi(|x|)
    p.set_if(lower_tail, x, "ge", 0.0, upper)
    return lower_tail
