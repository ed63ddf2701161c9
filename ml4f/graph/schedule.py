"""The order in which ops run."""
from __future__ import annotations

from .ops import Graph


def schedule(graph: Graph) -> None:
    """Order the ops depth first: of the ops whose inputs are ready, run the one
    that reads the most recently computed tensor (ties: file order).  An
    activation then follows its producer (and can be fused into it), and the
    branches of a block run one after the other instead of interleaved, which
    keeps fewer tensors alive at once."""
    ops = graph.ops
    producer = {op.output: i for i, op in enumerate(ops)}
    deps = [{producer[t] for t in op.inputs if t in producer} for op in ops]
    ran_at: dict[int, int] = {}
    while len(ran_at) < len(ops):
        ready = [i for i in range(len(ops)) if i not in ran_at and deps[i] <= ran_at.keys()]
        pick = max(ready, key=lambda i: (max((ran_at[d] for d in deps[i]), default=-1), -i))
        ran_at[pick] = len(ran_at)
    graph.ops = sorted(ops, key=lambda op: ran_at[producer[op.output]])
