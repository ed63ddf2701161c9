"""Every graph pass, in the order they run after conversion.  Each is exact:
the graph computes the same function after it (never silent wrong numbers)."""
from __future__ import annotations

from typing import Callable

from ..model.records import Model
from .fold import (
    fold_affine,
    fold_padding,
    fuse_activations,
    resolve_generation,
    split_activations,
)
from .ops import Graph
from .rewrite import relu_after_max_pool, whole_window_pools
from .schedule import schedule

PASSES: list[tuple[str, Callable[[Graph, Model], None]]] = [
    ("hard_sigmoid of the file's Keras generation", lambda g, m: resolve_generation(g, m.keras_version)),
    ("activations not applied in a store become ops", lambda g, m: split_activations(g)),
    ("depth-first order", lambda g, m: schedule(g)),
    ("zero padding into convolutions", lambda g, m: fold_padding(g)),
    ("affine ops into convolutions and dense layers", lambda g, m: fold_affine(g)),
    ("activations into their producer's store", lambda g, m: fuse_activations(g)),
    ("whole-window pools are global pools", lambda g, m: whole_window_pools(g)),
    ("ReLU after max pooling", lambda g, m: relu_after_max_pool(g)),
]


def run_passes(graph: Graph, model: Model) -> None:
    for _, run in PASSES:
        run(graph, model)
