"""Recurrent op: LSTM, GRU and SimpleRNN cells run over a (T, n) sequence."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .base import Activation, Op

#: cell -> gate blocks of `units` columns in Keras's kernel (LSTM i, f, c, o; GRU z, r, h)
GATES = {"lstm": 4, "gru": 3, "simple_rnn": 1}
TANH = Activation("tanh")
SIGMOID = Activation("sigmoid")


@dataclass
class Recurrent(Op):
    """A stateless recurrent layer over in_shape (T, n), starting from zero state.

    kernel (n, G u) and recurrent_kernel (u, G u) in Keras's gate order; bias
    (G u,), or (2, 3 u) for a GRU with reset_after (input and recurrent bias),
    or None.  Steps run over t = 0..T-1 (T-1..0 with go_backwards); the output
    is the last h, or with return_sequences h of every step in step order --
    or, with reverse_output, written back at its input's time index (the
    backward half of a Bidirectional)."""

    cell: str = "lstm"
    units: int = 0
    kernel: np.ndarray = None
    recurrent_kernel: np.ndarray = None
    bias: np.ndarray | None = None
    cell_activation: Activation = TANH       # Keras `activation`
    gate_activation: Activation = SIGMOID    # Keras `recurrent_activation`
    reset_after: bool = True                 # GRU: reset gate applied after the recurrent product
    return_sequences: bool = False
    go_backwards: bool = False
    reverse_output: bool = False

    kind: ClassVar[str] = "recurrent"
    WEIGHTS = ("kernel", "recurrent_kernel")
    FLOAT32 = ("bias",)
    #: activation fields whose hard_sigmoid depends on the Keras generation (fold.py)
    ACTIVATION_FIELDS: ClassVar[tuple[str, ...]] = ("cell_activation", "gate_activation")

    @property
    def steps(self) -> int:
        return int(self.in_shape[0])

    @property
    def features(self) -> int:
        return int(self.in_shape[1])

    def macs(self) -> int:
        g = GATES[self.cell]
        return self.steps * (self.features + self.units) * g * self.units

    def weight_arrays(self):
        return [self.kernel, self.recurrent_kernel] + ([self.bias] if self.bias is not None else [])

    def state_floats(self) -> dict[str, int]:
        """The state the op keeps in its arena scratch while it runs, in floats:
        the gate pre-activations (4 u: LSTM's four gates, GRU's z, r and two
        candidate terms; u for SimpleRNN), LSTM's c, and h unless h is the
        output itself (without return_sequences)."""
        u = self.units
        sizes = {"gates": (u if self.cell == "simple_rnn" else 4 * u)}
        if self.cell == "lstm":
            sizes["c"] = u
        if self.return_sequences:
            sizes["h"] = u
        return sizes

    def scratch_bytes(self) -> int:
        return 4 * sum(self.state_floats().values())
