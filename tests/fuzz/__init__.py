"""The fuzzer: a deterministic corpus of damaged, hostile and odd inputs (corpus.py), run
through `ml4f compile` one process each (harness.py) by tests/test_fuzz.py.  See
docs/reliability.md for its modes."""
