"""Code generators, one module per op family, registered by op kind."""
from . import conv, dense, depthwise, elementwise, pool, softmax  # noqa: F401  (registration)
from .registry import KERNELS, kernel

__all__ = ["KERNELS", "kernel"]
