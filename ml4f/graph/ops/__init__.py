"""Ops of the compiler's graph, one module per family, all exported here."""
from .base import LINEAR, RELU, Activation, Graph, Op, elems
from .conv import Conv2D, DepthwiseConv2D
from .dense import Dense
from .elementwise import Elementwise, Softmax
from .pool import GlobalPool, Pool2D

__all__ = ["LINEAR", "RELU", "Activation", "Graph", "Op", "elems", "Conv2D", "DepthwiseConv2D", "Dense",
           "Elementwise", "Softmax", "Pool2D", "GlobalPool"]
from . import merge, shape  # noqa: F401,E402  (shape and merge ops)
from . import affine  # noqa: F401,E402  (per-channel affine op)
