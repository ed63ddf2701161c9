"""NumPy reference implementation of every op: the compiler's oracle.

Computes in float64 from float32 inputs and weights and rounds the result of
each op to float32, so it is at least as accurate as any float32 kernel.  The
test suite proves it equal to TensorFlow.  One module per op family registers
its functions in REFERENCE (keyed by op class).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..families import load_family
from ..graph.ops import Activation, Graph, Op

RefFn = Callable[[Op, list[np.ndarray], type], np.ndarray]
REFERENCE: dict[type, RefFn] = {}


def reference(*op_classes: type):
    """Register the decorated function as the reference of ops of these classes."""
    def register(fn: RefFn) -> RefFn:
        for cls in op_classes:
            REFERENCE[cls] = fn
        return fn
    return register


# activation kind -> fn(x, activation); the functions are in elementwise.py
ACTIVATION_FUNCTIONS: dict[str, Callable[[np.ndarray, Activation], np.ndarray]] = {
    "linear": lambda x, a: x,
}


def activate(x: np.ndarray, act: Activation) -> np.ndarray:
    return ACTIVATION_FUNCTIONS[act.kind](x, act)


def run_op(op: Op, inputs: list[np.ndarray], dt=np.float64) -> np.ndarray:
    """One op; computed in `dt` (float64: the oracle; float32: a second float32
    evaluation order, to gauge how sensitive a result is to float32 rounding)."""
    inputs = [np.asarray(x).reshape(s) for x, s in zip(inputs, op.in_shapes)]
    y = REFERENCE[type(op)](op, inputs, dt)
    return np.asarray(y, dtype=np.float32).reshape(op.out_shape)


def run_graph(graph: Graph, x: np.ndarray, dt=np.float64) -> np.ndarray:
    values = {graph.input: np.asarray(x, dtype=np.float32).reshape(graph.input_shape)}
    for op in graph.ops:
        values[op.output] = run_op(op, [values[t] for t in op.inputs], dt)
    return values[graph.output]


load_family(__name__, __path__)
