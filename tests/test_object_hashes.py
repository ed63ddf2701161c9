"""Objects compiled from the example and benchmark models are byte-identical to the
golden table (see tests/object_hashes.py for when and how to regenerate it)."""
from __future__ import annotations

import json

import pytest

from object_hashes import TABLE, cases, key, object_hash

pytestmark = pytest.mark.slow
GOLDEN = json.loads(TABLE.read_text())


def test_table_covers_every_case():
    assert sorted(GOLDEN) == sorted(key(*c) for c in cases())


@pytest.mark.parametrize("case", cases(), ids=lambda c: key(*c))
def test_object_bytes_unchanged(case):
    assert object_hash(*case) == GOLDEN[key(*case)]
