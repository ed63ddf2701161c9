"""ML4F benchmarks: cycles, floors, code size and a C baseline per model and layer
(`python -m benchmarks`; see README.md)."""
