"""The converter table with every layer family loaded."""
from . import layers  # noqa: F401  (registers the converters)
from .registry import CONVERTERS, MULTI_INPUT, Converted, check_class, converter

__all__ = ["CONVERTERS", "MULTI_INPUT", "Converted", "check_class", "converter"]
