"""NumPy reference implementation of every op: the compiler's oracle.

Computes in float64 from float32 inputs and weights and rounds the result of
each op to float32, so it is at least as accurate as any float32 kernel.  The
test suite proves it equal to TensorFlow.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .graph.ops import Activation, Conv2D, Dense, Elementwise, Graph, Op, Pool2D, Softmax
from .graph.shapes import hwc

RefFn = Callable[[Op, list[np.ndarray], type], np.ndarray]
REFERENCE: dict[str, RefFn] = {}


def reference(kind: str):
    def register(fn: RefFn) -> RefFn:
        REFERENCE[kind] = fn
        return fn
    return register


ACTIVATIONS: dict[str, Callable[[np.ndarray, Activation], np.ndarray]] = {
    "linear": lambda x, a: x,
    "relu": lambda x, a: np.maximum(x, 0.0),
}


def activate(x: np.ndarray, act: Activation) -> np.ndarray:
    return ACTIVATIONS[act.kind](x, act)


@reference("conv2d")
def _conv2d(op: Conv2D, xs, dt):
    x = xs[0].astype(dt).reshape(hwc(op.in_shape))
    kh, kw, cin, cout = op.kernel.shape
    pt, pl, pb, pr = op.pads
    xp = np.pad(x, ((pt, pb), (pl, pr), (0, 0)))
    oh, ow, _ = hwc(op.out_shape)
    sh, sw = op.strides
    dh, dw = op.dilation
    k = op.kernel.astype(dt)
    out = np.zeros((oh, ow, cout), dt)
    for ky in range(kh):
        for kx in range(kw):
            y0, x0 = ky * dh, kx * dw
            patch = xp[y0:y0 + (oh - 1) * sh + 1:sh, x0:x0 + (ow - 1) * sw + 1:sw, :]
            out += patch @ k[ky, kx]
    if op.bias is not None:
        out += op.bias.astype(dt)
    return activate(out, op.activation).reshape(op.out_shape)


@reference("dense")
def _dense(op: Dense, xs, dt):
    x = xs[0].astype(dt)
    y = x @ op.kernel.astype(dt)
    if op.bias is not None:
        y = y + op.bias.astype(dt)
    return activate(y, op.activation)


@reference("pool2d")
def _pool2d(op: Pool2D, xs, dt):
    x = xs[0].astype(dt).reshape(hwc(op.in_shape))
    pt, pl, pb, pr = op.pads
    oh, ow, c = hwc(op.out_shape)
    sh, sw = op.strides
    ph, pw = op.pool
    if op.mode == "max":
        xp = np.pad(x, ((pt, pb), (pl, pr), (0, 0)), constant_values=-np.inf)
        out = np.full((oh, ow, c), -np.inf, dt)
        for ky in range(ph):
            for kx in range(pw):
                out = np.maximum(out, xp[ky:ky + (oh - 1) * sh + 1:sh, kx:kx + (ow - 1) * sw + 1:sw])
    else:
        xp = np.pad(x, ((pt, pb), (pl, pr), (0, 0)))
        ones = np.pad(np.ones(x.shape[:2] + (1,)), ((pt, pb), (pl, pr), (0, 0)))
        out = np.zeros((oh, ow, c), dt)
        cnt = np.zeros((oh, ow, 1), dt)
        for ky in range(ph):
            for kx in range(pw):
                sl = (slice(ky, ky + (oh - 1) * sh + 1, sh), slice(kx, kx + (ow - 1) * sw + 1, sw))
                out += xp[sl]
                cnt += ones[sl]
        out = out / cnt
    return activate(out, op.activation).reshape(op.out_shape)


@reference("activation")
def _elementwise(op: Elementwise, xs, dt):
    return activate(xs[0].astype(dt), op.activation)


@reference("softmax")
def _softmax(op: Softmax, xs, dt):
    x = xs[0].astype(dt)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def run_op(op: Op, inputs: list[np.ndarray], dt=np.float64) -> np.ndarray:
    """One op; computed in `dt` (float64: the oracle; float32: a second float32
    evaluation order, to gauge how sensitive a result is to float32 rounding)."""
    inputs = [np.asarray(x).reshape(s) for x, s in zip(inputs, op.in_shapes)]
    y = REFERENCE[op.kind](op, inputs, dt)
    return np.asarray(y, dtype=np.float32).reshape(op.out_shape)


def run_graph(graph: Graph, x: np.ndarray, dt=np.float64) -> np.ndarray:
    values = {graph.input: np.asarray(x, dtype=np.float32).reshape(graph.input_shape)}
    for op in graph.ops:
        values[op.output] = run_op(op, [values[t] for t in op.inputs], dt)
    return values[graph.output]
