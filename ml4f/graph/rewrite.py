"""Exact rewrites of the graph that make the generated code cheaper."""
from __future__ import annotations

import dataclasses

from .ops import LINEAR, Conv2D, Dense, DepthwiseConv2D, GlobalPool, Graph, Pool2D
from .shapes import hwc

# ops whose activation can move behind a max pool that alone reads their output
RELU_PRODUCERS = (Conv2D, DepthwiseConv2D, Dense)


def relu_after_max_pool(graph: Graph) -> None:
    """producer(relu) -> max pool  ==>  producer -> max pool(relu).

    ReLU is monotone, so relu(max(x)) == max(relu(x)); applied after the pool it
    touches a quarter of the values (2x2 pools), and the pool can then compare
    the integer images of the floats (see kernels/pool.py)."""
    ops = list(graph.ops)
    for i, op in enumerate(ops):
        if not isinstance(op, RELU_PRODUCERS) or not op.activation.is_plain_relu:
            continue
        users = [u for u in ops if op.output in u.inputs]
        if len(users) != 1 or op.output == graph.output:
            continue
        pool = users[0]
        if not isinstance(pool, Pool2D) or pool.mode != "max" or not pool.activation.is_linear:
            continue
        j = ops.index(pool)
        ops[j] = dataclasses.replace(pool, activation=op.activation)
        ops[i] = dataclasses.replace(op, activation=LINEAR)
    graph.ops = ops


def whole_window_pools(graph: Graph) -> None:
    """A pooling window that covers the whole input (valid padding, one output
    position) is a global pooling: a loop over positions instead of a fully
    unrolled window."""
    ops = []
    for op in graph.ops:
        if isinstance(op, Pool2D) and tuple(op.pool) == hwc(op.in_shape)[:2] and not any(op.pads):
            op = GlobalPool(op.name, op.layer_class, op.inputs, op.output, op.in_shapes, op.out_shape,
                            mode=op.mode, activation=op.activation)
        ops.append(op)
    graph.ops = ops
