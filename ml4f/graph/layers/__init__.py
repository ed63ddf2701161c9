"""Converters, one module per layer family; importing them fills the table."""
from . import conv, core, pool  # noqa: F401
