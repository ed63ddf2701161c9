"""Reference recurrent layers: the Keras cell equations, the state kept in `dt`."""
from __future__ import annotations

import numpy as np

from ..graph.ops.recurrent import Recurrent
from . import activate, reference


def _split(v, u: int) -> list:
    return [v[..., k * u:(k + 1) * u] for k in range(v.shape[-1] // u)]


@reference(Recurrent)
def _recurrent(op: Recurrent, xs, dt):
    x = xs[0].astype(dt)
    u = op.units
    w, rw = op.kernel.astype(dt), op.recurrent_kernel.astype(dt)
    cols = w.shape[1]
    bias = np.zeros(cols, dt) if op.bias is None else op.bias.astype(dt)
    act = lambda v: activate(v, op.cell_activation)       # noqa: E731
    gate = lambda v: activate(v, op.gate_activation)      # noqa: E731
    h, c = np.zeros(u, dt), np.zeros(u, dt)
    outs = []
    steps = range(op.steps - 1, -1, -1) if op.go_backwards else range(op.steps)
    with np.errstate(over="ignore", invalid="ignore"):
        for t in steps:
            if op.cell == "lstm":
                i, f, g, o = _split(x[t] @ w + h @ rw + bias, u)
                c = gate(f) * c + gate(i) * act(g)
                h = gate(o) * act(c)
            elif op.cell == "gru":
                if op.reset_after:
                    b_in, b_rec = (bias, bias) if bias.ndim == 1 else (bias[0], bias[1])
                    xz, xr, xh = _split(x[t] @ w + b_in, u)
                    hz, hr, hh = _split(h @ rw + b_rec, u)
                    z, r = gate(xz + hz), gate(xr + hr)
                    cand = act(xh + r * hh)
                else:
                    xz, xr, xh = _split(x[t] @ w + bias, u)
                    uz, ur, uh = _split(rw, u)
                    z, r = gate(xz + h @ uz), gate(xr + h @ ur)
                    cand = act(xh + (r * h) @ uh)
                h = z * h + (1 - z) * cand
            else:
                h = act(x[t] @ w + h @ rw + bias)
            outs.append(h)
    if not op.return_sequences:
        return h
    y = np.stack(outs)
    return y[::-1] if op.reverse_output else y
