"""Merge layers: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate."""
from __future__ import annotations

import numpy as np

from .. import keras_config as kc
from ..ops import elems
from ..ops.merge import Concat, Merge
from ..registry import Converted, converter

MODES = {"Add": "add", "Subtract": "sub", "Multiply": "mul", "Average": "avg",
         "Maximum": "max", "Minimum": "min"}


def _shapes_text(in_shapes) -> str:
    return ", ".join(str(list(s)) for s in in_shapes)


@converter(*MODES, inputs="many")
def _merge(layer, in_shapes, tins, tout):
    if layer.class_name == "Subtract" and len(tins) != 2:
        raise kc.unsupported(layer, f"Subtract needs exactly 2 inputs, found {len(tins)}")
    if len(tins) == 1:
        return Converted(in_shapes[0], [])
    shape = _broadcast_shape(layer, in_shapes)
    return Converted(shape, [Merge(layer.name, layer.class_name, list(tins), tout,
                                   [tuple(s) for s in in_shapes], shape,
                                   mode=MODES[layer.class_name])])


def _broadcast_shape(layer, in_shapes) -> tuple[int, ...]:
    """The output shape of an element-wise merge (NumPy broadcasting, as Keras
    does).  Supported: inputs of the output's shape, and inputs that repeat
    it over leading axes (e.g. (1, 1, C) or (C,) against (H, W, C)), all of
    the latter of one size."""
    try:
        out = tuple(int(d) for d in np.broadcast_shapes(*[tuple(s) for s in in_shapes]))
    except ValueError:
        raise kc.unsupported(layer, f"input shapes {_shapes_text(in_shapes)} do not broadcast") from None
    n = elems(out)
    periods = set()
    for s in in_shapes:
        core = list(s)
        while core and core[0] == 1:
            core.pop(0)
        if core and tuple(core) != out[len(out) - len(core):]:
            raise kc.unsupported(layer, f"inputs of shapes {_shapes_text(in_shapes)}: broadcasting "
                                 "is supported over leading axes only")
        if elems(s) != n:
            periods.add(elems(s))
    if len(periods) > 1:
        raise kc.unsupported(layer, f"inputs of shapes {_shapes_text(in_shapes)}: broadcast inputs "
                             "of different sizes are not supported")
    return out


@converter("Concatenate", inputs="many")
def _concatenate(layer, in_shapes, tins, tout):
    if len(tins) == 1:
        return Converted(in_shapes[0], [])
    rank = len(in_shapes[0])
    axis = kc.get(layer, "axis", -1)
    if not isinstance(axis, int) or isinstance(axis, bool) or not -(rank + 1) <= axis <= rank:
        raise kc.unsupported(layer, f"unsupported axis={axis!r} for inputs of rank {rank + 1}",
                             "axis", axis)
    a = (axis if axis >= 0 else axis + rank + 1) - 1        # without the batch axis
    if a < 0:
        raise kc.unsupported(layer, "concatenation along the batch axis is not supported",
                             "axis", axis)
    if any(len(s) != rank or tuple(s[:a]) + tuple(s[a + 1:]) !=
           tuple(in_shapes[0][:a]) + tuple(in_shapes[0][a + 1:]) for s in in_shapes):
        raise kc.unsupported(layer, f"input shapes {_shapes_text(in_shapes)} differ outside "
                             f"axis {axis}", "axis", axis)
    out_shape = tuple(in_shapes[0][:a]) + (sum(s[a] for s in in_shapes),) + tuple(in_shapes[0][a + 1:])
    return Converted(out_shape, [Concat(layer.name, layer.class_name, list(tins), tout,
                                        [tuple(s) for s in in_shapes], out_shape, axis=a)])
