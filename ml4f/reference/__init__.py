"""NumPy reference implementation of every op: the compiler's oracle.

Computes in float64 from float32 inputs and weights and rounds the result of
each op to float32, so it is at least as accurate as any float32 kernel.  The
test suite proves it equal to TensorFlow.  One module per op family registers
its functions in REFERENCE (keyed by op kind).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..graph.ops import Activation, Graph, Op

RefFn = Callable[[Op, list[np.ndarray], type], np.ndarray]
REFERENCE: dict[str, RefFn] = {}


def reference(kind: str):
    def register(fn: RefFn) -> RefFn:
        REFERENCE[kind] = fn
        return fn
    return register


# activation kind -> fn(x, activation); the functions are in elementwise.py
ACTIVATIONS: dict[str, Callable[[np.ndarray, Activation], np.ndarray]] = {
    "linear": lambda x, a: x,
}


def activate(x: np.ndarray, act: Activation) -> np.ndarray:
    return ACTIVATIONS[act.kind](x, act)


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


from . import conv, dense, elementwise, pool  # noqa: E402,F401  (registration)
from . import merge, shape  # noqa: E402,F401  (registration: shape and merge ops)
from . import affine  # noqa: E402,F401  (registration: per-channel affine op)
