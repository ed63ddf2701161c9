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


def object_hash(path: Path, float16: bool, optimize: str, test_data: bool) -> str:
    import ml4f
    compiled = ml4f.compile_file(path, float16=float16, optimize=optimize, test_data=test_data,
                                 validate=False)
    return hashlib.sha256(compiled.object).hexdigest()


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
