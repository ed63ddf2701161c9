"""Objects compiled from the example and benchmark models are byte-identical to the
golden table (see tests/object_hashes.py for when and how to regenerate it)."""
from __future__ import annotations

import json

import pytest

import ml4f
from object_hashes import REPO, TABLE, cases, key, object_bytes, object_hash

pytestmark = pytest.mark.slow
GOLDEN = json.loads(TABLE.read_text())


def test_table_covers_every_case():
    assert sorted(GOLDEN) == sorted(key(*c) for c in cases())


@pytest.mark.parametrize("case", cases(), ids=lambda c: key(*c))
def test_object_bytes_unchanged(case):
    assert object_hash(*case) == GOLDEN[key(*case)]


@pytest.mark.parametrize("test_data", [False, True])
def test_the_table_is_what_compile_file_makes(test_data):
    """The shortcut the table is made with gives compile_file's object."""
    path = REPO / "examples" / "models" / "digits.h5"
    compiled = ml4f.compile_file(path, test_data=test_data)
    assert compiled.object == object_bytes(path, False, "balanced", test_data)
