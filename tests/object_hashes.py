"""Golden SHA-256 hashes of the objects compiled from the example and benchmark models.

Refactoring the compiler must not change a single byte of its output; a change
that is meant to change objects (a faster kernel, a new layout) regenerates the
table in the same commit:

    python -m tests.object_hashes        # rewrites tests/data/object_hashes.json
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TABLE = REPO / "tests" / "data" / "object_hashes.json"
MODELS = sorted((REPO / "examples" / "models").glob("*.h5")) + \
    sorted((REPO / "benchmarks" / "models").glob("*.h5"))
# (float16, optimize, test_data)
CONFIGS = [(f16, opt, False) for f16 in (False, True) for opt in ("size", "balanced", "speed")] + \
    [(False, "balanced", True)]


def key(path: Path, float16: bool, optimize: str, test_data: bool) -> str:
    return (f"{path.relative_to(REPO)} {'f16' if float16 else 'f32'} {optimize}"
            + (" test-data" if test_data else ""))


def object_bytes(path: Path, float16: bool, optimize: str, test_data: bool) -> bytes:
    """The object compile_file makes, by the same steps without validation and the
    cycle profile (the slow parts, which do not change the object)."""
    import numpy as np

    from ml4f.backend import choose_kernels, compile_graph, plan_memory
    from ml4f.container import attach_test_data
    from ml4f.emulator import Machine
    from ml4f.graph.build import build_graph
    from ml4f.graph.registry import LAYER_KINDS
    from ml4f.model import load_model
    from ml4f.options import Options
    from ml4f.test_vector import find_test_vector

    options = Options()
    graph, _ = plan_memory(build_graph(load_model(path, LAYER_KINDS)), options.arena_goal,
                           options.max_arena)
    graph = choose_kernels(graph, float16=float16, optimize=optimize, winograd=options.winograd,
                           max_arena=options.max_arena)
    obj = compile_graph(graph, float16=float16, optimize=optimize).object
    if test_data:
        x, y = find_test_vector(Machine(obj), graph, np.random.default_rng(options.seed))
        obj = attach_test_data(obj, x.astype("<f4").tobytes(), y.astype("<f4").tobytes())
    return obj


def object_hash(path: Path, float16: bool, optimize: str, test_data: bool) -> str:
    return hashlib.sha256(object_bytes(path, float16, optimize, test_data)).hexdigest()


def cases():
    return [(p, *c) for p in MODELS for c in CONFIGS]


def main() -> int:
    table = {}
    for case in cases():
        table[key(*case)] = object_hash(*case)
        print(key(*case), table[key(*case)][:16], file=sys.stderr)
    TABLE.parent.mkdir(parents=True, exist_ok=True)
    TABLE.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
