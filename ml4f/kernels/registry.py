"""The kernel table: op class -> code generator.

A kernel is called as fn(op, ctx, input_offsets, output_offset) with arena byte
offsets, emits its code through ctx.asm, appends its constants to ctx.blob in
the order it reads them, and may return its plan (shown in the report).
"""
from __future__ import annotations

from typing import Callable

from ..errors import CodegenError
from ..graph.ops import Op

KERNELS: dict[type, Callable] = {}


def kernel(*op_classes: type):
    """Register the decorated generator for ops of these classes."""
    def register(fn):
        for cls in op_classes:
            KERNELS[cls] = fn
        return fn
    return register


def kernel_for(op: Op) -> Callable:
    fn = KERNELS.get(type(op))
    if fn is None:
        raise CodegenError(f"no kernel for op kind {op.kind!r}", layer=op.name,
                           layer_class=op.layer_class)
    return fn
