"""Exact rewrites of the graph that make the generated code cheaper."""
from __future__ import annotations

import dataclasses

from .ops import LINEAR, GlobalPool, Graph
from .shapes import hwc

PRODUCERS = {"conv2d", "depthwise", "dense"}


def is_plain_relu(act) -> bool:
    return (act.kind == "relu" and act.alpha == 0 and act.threshold == 0
            and act.max_value is None)


def relu_after_max_pool(graph: Graph) -> Graph:
    """producer(relu) -> max pool  ==>  producer -> max pool(relu).

    ReLU is monotone, so relu(max(x)) == max(relu(x)); applied after the pool it
    touches a quarter of the values (2x2 pools), and the pool can then compare
    the integer images of the floats (see kernels/pool.py)."""
    ops = list(graph.ops)
    for i, op in enumerate(ops):
        if op.kind not in PRODUCERS or not is_plain_relu(op.activation):
            continue
        users = [u for u in ops if op.output in u.inputs]
        if len(users) != 1 or op.output == graph.output:
            continue
        pool = users[0]
        if pool.kind != "pool2d" or pool.mode != "max" or not pool.activation.is_linear:
            continue
        j = ops.index(pool)
        ops[j] = dataclasses.replace(pool, activation=op.activation)
        ops[i] = dataclasses.replace(op, activation=LINEAR)
    return dataclasses.replace(graph, ops=ops)


def whole_window_pools(graph: Graph) -> Graph:
    """A pooling window that covers the whole input (valid padding, one output
    position) is a global pooling: a loop over positions instead of a fully
    unrolled window."""
    ops = []
    for op in graph.ops:
        if op.kind == "pool2d" and tuple(op.pool) == hwc(op.in_shape)[:2] and not any(op.pads):
            op = GlobalPool(op.name, op.layer_class, op.inputs, op.output, op.in_shapes, op.out_shape,
                            mode=op.mode, activation=op.activation)
        ops.append(op)
    return dataclasses.replace(graph, ops=ops)


def optimize(graph: Graph) -> Graph:
    """Every exact rewrite, in order."""
    return relu_after_max_pool(whole_window_pools(graph))
