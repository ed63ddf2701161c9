"""Code generators, one module per op family, each registering itself by op class."""
from ..families import load_family
from .registry import KERNELS, kernel, kernel_for

load_family(__name__, __path__)

__all__ = ["KERNELS", "kernel", "kernel_for"]
