"""What is known about the values of each tensor, for kernels that can use it
(e.g. max pooling of non-negative values compares their integer images).
Each op says what it knows (Op.nonnegative)."""
from __future__ import annotations

from .ops import Graph


def nonnegative_tensors(graph: Graph) -> frozenset:
    known: set[str] = set()
    for op in graph.ops:
        if op.nonnegative([t in known for t in op.inputs]):
            known.add(op.output)
    return frozenset(known)
