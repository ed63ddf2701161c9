"""The kernel table: op kind -> code generator.

A kernel is called as fn(op, ctx, input_offsets, output_offset) with arena byte
offsets, emits its code through ctx.asm, appends its constants to ctx.blob in
the order it reads them, and may return its plan (shown in the report).
"""
from __future__ import annotations

from typing import Callable

KERNELS: dict[str, Callable] = {}


def kernel(kind: str):
    def register(fn):
        KERNELS[kind] = fn
        return fn
    return register
