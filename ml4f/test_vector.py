"""The test vector an object may carry: an input and the output its own code
computes for it, so that a runtime on the device can check the object
(`ml4f_test` in the C runtime)."""
from __future__ import annotations

import numpy as np

from . import reference
from .emulator import Machine
from .graph.ops import Graph

CANDIDATES = 16         # inputs the reference scores for a classifier (cheap: no emulation)


def _looks_like_probabilities(y: np.ndarray) -> bool:
    return bool(np.isclose(float(np.sum(y)), 1.0, atol=0.1) and not np.any(y < 0))


def _entropy(y: np.ndarray) -> float:
    p = np.clip(y.astype(np.float64).ravel(), 1e-30, 1.0)
    return float(-np.sum(p * np.log(p)))


def find_test_vector(machine: Machine, graph: Graph, rng: np.random.Generator):
    """An input in [-1, 1) and what the compiled code outputs for it.  For a
    classifier (outputs that sum to 1), the least saturated of a few inputs as
    the reference scores them, so a wrong object cannot pass by luck; the code
    runs once, on the input chosen."""
    x = rng.uniform(-1.0, 1.0, graph.input_shape).astype(np.float32)
    y = reference.run_graph(graph, x)
    if _looks_like_probabilities(y):
        best = (_entropy(y), x)
        for _ in range(CANDIDATES - 1):
            x = rng.uniform(-1.0, 1.0, graph.input_shape).astype(np.float32)
            best = max(best, (_entropy(reference.run_graph(graph, x)), x), key=lambda t: t[0])
        x = best[1]
    return x, machine.run(x).output
