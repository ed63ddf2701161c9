"""Converters, one module per layer family; importing them fills the table."""
from . import conv, core, pool  # noqa: F401
from . import merge, shape  # noqa: F401,E402  (shape and merge layers)
from . import activations, normalization  # noqa: F401,E402  (activation and normalization layers)
