"""Ops of the compiler's graph, one module per family; the common ones exported here."""
from ...families import load_family
from .base import LINEAR, OP_CLASSES, RELU, Activation, Graph, Op, elems
from .conv import Conv2D, DepthwiseConv2D
from .dense import Dense
from .elementwise import Elementwise, Softmax
from .pool import GlobalPool, Pool2D

load_family(__name__, __path__)

__all__ = ["LINEAR", "OP_CLASSES", "RELU", "Activation", "Graph", "Op", "elems", "Conv2D",
           "DepthwiseConv2D", "Dense", "Elementwise", "Softmax", "Pool2D", "GlobalPool"]
