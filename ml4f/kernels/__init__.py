"""Code generators, one per op family, behind a table keyed by op kind."""
from .conv import emit_conv2d
from .dense import emit_dense
from .elementwise import emit_elementwise
from .pool import emit_pool2d
from .softmax import emit_softmax

KERNELS = {
    "conv2d": emit_conv2d,
    "dense": emit_dense,
    "pool2d": emit_pool2d,
    "softmax": emit_softmax,
    "activation": emit_elementwise,
}
