"""Reference of a streamed region: its ops one after the other, on whole tensors."""
from __future__ import annotations

from ..graph.ops.stream import OUTPUT, Stream, local_input
from . import reference, run_op


@reference(Stream)
def _stream(op: Stream, xs, dt):
    values = {local_input(k): x for k, x in enumerate(xs)}
    for inner in op.ops:
        values[inner.output] = run_op(inner, [values[t] for t in inner.inputs], dt)
    return values[OUTPUT]
