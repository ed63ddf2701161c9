"""What is known about the values of each tensor, for kernels that can use it
(e.g. max pooling of non-negative values compares their integer images)."""
from __future__ import annotations

from .ops import Graph

# activations whose every output is >= +0 (or NaN), given their parameters
NONNEGATIVE = {
    "relu": lambda a: a.alpha == 0 and a.threshold >= 0,
    "sigmoid": lambda a: True,
    "hard_sigmoid": lambda a: True,
    "softplus": lambda a: True,
    "exponential": lambda a: True,
}
# ops whose output is non-negative whenever their (first) input is
MONOTONE_SELECTIONS = {"pool2d", "globalpool"}


def nonnegative_tensors(graph: Graph) -> frozenset:
    known: set[str] = set()
    for op in graph.ops:
        act = getattr(op, "activation", None)
        if op.kind == "softmax":
            known.add(op.output)
        elif act is not None and act.kind in NONNEGATIVE and NONNEGATIVE[act.kind](act):
            known.add(op.output)
        elif (op.kind in MONOTONE_SELECTIONS and getattr(op, "mode", "") == "max"
              and op.inputs[0] in known):
            known.add(op.output)
    return frozenset(known)
