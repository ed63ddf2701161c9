"""Reference activations, softmax and the row normalizations.

Each activation is the mathematical function Keras defines, evaluated in the
dtype asked for (float64: the oracle) in a form without cancellation, so the
oracle is accurate where float32 formulas are not (e.g. 1 + tanh(u) for
u << 0 in the tanh form of GELU).  NaN propagates.
"""
from __future__ import annotations

import math

import numpy as np

from ..graph.ops import Activation, Elementwise, Softmax
from ..graph.ops.elementwise import LayerNorm, PReLU, UnitNorm
from ..graph.ops.base import HARD_SIGMOID, SELU_ALPHA, SELU_SCALE
from . import ACTIVATION_FUNCTIONS, activate, reference

_erfc = np.frompyfunc(math.erfc, 1, 1)


def _keep_nan(x, y):
    return np.where(np.isnan(x), x, y)


def _f32(v):
    """A parameter as Keras uses it: cast to the tensor's dtype, float32."""
    return float(np.float32(v))


def _relu(x, a: Activation):
    """x > threshold: x, clipped to max_value; else alpha * (x - threshold)."""
    th = _f32(a.threshold)
    pos = x if a.max_value is None else np.minimum(x, _f32(a.max_value))
    neg = _f32(a.alpha) * (x - th) if a.alpha else np.zeros_like(x)
    return _keep_nan(x, np.where(x > th, pos, neg))


def _hard_sigmoid(x, a: Activation):
    if a.variant not in HARD_SIGMOID:
        raise ValueError(f"hard_sigmoid needs the Keras generation (variant {a.variant!r})")
    c, s = HARD_SIGMOID[a.variant]
    return np.clip((x + c) * s, 0.0, 1.0)


def _sigmoid(x):
    with np.errstate(over="ignore"):
        e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _softplus(x):
    return np.logaddexp(np.zeros_like(x), x)


def _elu(x, alpha, scale=1.0):
    return scale * np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


def _phi(x):
    """Standard normal CDF 0.5 erfc(-x / sqrt 2) (float64 libm erfc)."""
    return 0.5 * _erfc(np.asarray(-x, np.float64) / math.sqrt(2.0)).astype(np.float64)


def _gelu(x, a: Activation):
    if a.variant == "tanh":
        u2 = math.sqrt(8.0 / math.pi) * (x + 0.044715 * x ** 3)     # 2u
        return x * _sigmoid(u2)                  # = 0.5 x (1 + tanh u)
    return (x * _phi(x)).astype(x.dtype)


ACTIVATION_FUNCTIONS.update({
    "relu": _relu,
    "hard_sigmoid": _hard_sigmoid,
    "hard_silu": lambda x, a: x * np.clip((x + 3.0) / 6.0, 0.0, 1.0),
    "hard_tanh": lambda x, a: np.clip(x, -1.0, 1.0),
    "sigmoid": lambda x, a: _sigmoid(x),
    "silu": lambda x, a: x * _sigmoid(x),
    "tanh": lambda x, a: np.tanh(x),
    "exponential": lambda x, a: np.exp(x),
    "softplus": lambda x, a: _softplus(x),
    "log_sigmoid": lambda x, a: -_softplus(-x),
    "softsign": lambda x, a: x / (1.0 + np.abs(x)),
    "elu": lambda x, a: _elu(x, _f32(a.alpha)),
    "selu": lambda x, a: _elu(x, SELU_ALPHA, SELU_SCALE),
    "gelu": _gelu,
    "mish": lambda x, a: x * np.tanh(_softplus(x)),
})


@reference(Elementwise)
def _elementwise(op: Elementwise, xs, dt):
    with np.errstate(over="ignore", invalid="ignore"):
        return activate(xs[0].astype(dt), op.activation)


@reference(Softmax)
def _softmax(op: Softmax, xs, dt):
    x = xs[0].astype(dt)
    e = np.exp(x - x.max(axis=op.axis, keepdims=True))
    return e / e.sum(axis=op.axis, keepdims=True)


@reference(PReLU)
def _prelu(op: PReLU, xs, dt):
    x = xs[0].astype(dt).reshape(-1, op.period)
    y = np.where(x < 0, op.alpha.astype(dt).reshape(1, -1) * x, x)
    return y.reshape(op.out_shape)


@reference(LayerNorm)
def _layer_norm(op: LayerNorm, xs, dt):
    x = xs[0].astype(dt)
    d = x - x.mean(axis=-1, keepdims=True)
    y = d / np.sqrt((d * d).mean(axis=-1, keepdims=True) + dt(np.float32(op.epsilon)))
    if op.gamma is not None:
        y = y * op.gamma.astype(dt)
    if op.beta is not None:
        y = y + op.beta.astype(dt)
    return y


@reference(UnitNorm)
def _unit_norm(op: UnitNorm, xs, dt):
    x = xs[0].astype(dt)
    s = (x * x).sum(axis=-1, keepdims=True)
    return x / np.sqrt(np.maximum(s, dt(np.float32(op.floor))))
