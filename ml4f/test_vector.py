"""The test vector an object may carry: an input and the output its own code
computes for it, so that a runtime on the device can check the object
(`ml4f_test` in the C runtime)."""
from __future__ import annotations

import numpy as np

from .emulator import Machine

SEARCH = 100            # inputs tried for a classifier whose outputs are not saturated


def find_test_vector(machine: Machine, input_shape, rng: np.random.Generator):
    """An input in [-1, 1) and what the compiled code outputs for it.  For
    classifier outputs, prefer an input whose probabilities are not saturated."""
    best = None
    for _ in range(SEARCH):
        x = rng.uniform(-1.0, 1.0, input_shape).astype(np.float32)
        y = machine.run(x).output
        if not np.isclose(float(np.sum(y)), 1.0, atol=0.1) or np.any(y < 0):
            return x, y
        score = float(np.prod(y.astype(np.float64)))
        if best is None or score > best[0]:
            best = (score, x, y)
        if score > 0.1:
            break
    return best[1], best[2]
