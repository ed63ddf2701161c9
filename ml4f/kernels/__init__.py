"""Code generators, one module per op family, registered by op kind."""
from . import conv, dense, depthwise, elementwise, pool, softmax  # noqa: F401  (registration)
from . import copy, merge  # noqa: F401,E402  (shape and merge ops)
from . import affine  # noqa: F401,E402  (per-channel affine op)
from .registry import KERNELS, kernel

__all__ = ["KERNELS", "kernel"]
