"""Activation layers: ReLU, LeakyReLU, ELU, ThresholdedReLU (Keras 2), PReLU
and Softmax.  (The Activation layer is in core.py.)"""
from __future__ import annotations

import numpy as np

from .. import keras_config as kc
from ..ops import Activation, Elementwise, Softmax, elems
from ..ops.elementwise import PReLU
from ..registry import Converted, converter, named_weights


def activation_op(layer, act: Activation, in_shape, tin, tout) -> Converted:
    """An element-wise op, or nothing for linear (the output is an alias)."""
    if act.is_linear:
        return Converted(in_shape, [])
    return Converted(in_shape, [Elementwise(layer.name, layer.class_name, [tin], tout,
                                            [in_shape], in_shape, activation=act)])


@converter("ReLU")
def _relu(layer, in_shape, tin, tout):
    """x > threshold: min(x, max_value); else negative_slope * (x - threshold)
    (both generations; Keras refuses negative values of all three)."""
    act = Activation("relu",
                     alpha=kc.number(layer, "negative_slope", 0.0, minimum=0.0),
                     max_value=kc.number(layer, "max_value", None, minimum=0.0, optional=True),
                     threshold=kc.number(layer, "threshold", 0.0, minimum=0.0))
    return activation_op(layer, act, in_shape, tin, tout)


@converter("LeakyReLU")
def _leaky_relu(layer, in_shape, tin, tout):
    key = "negative_slope" if "negative_slope" in layer.config else "alpha"   # Keras 3 / Keras 2
    slope = kc.number(layer, key, 0.3, minimum=0.0)
    return activation_op(layer, Activation("relu", alpha=slope), in_shape, tin, tout)


@converter("ThresholdedReLU")
def _thresholded_relu(layer, in_shape, tin, tout):
    theta = kc.number(layer, "theta", 1.0, minimum=0.0)
    return activation_op(layer, Activation("relu", threshold=theta), in_shape, tin, tout)


@converter("ELU")
def _elu(layer, in_shape, tin, tout):
    alpha = kc.number(layer, "alpha", 1.0)
    return activation_op(layer, Activation("elu", alpha=alpha), in_shape, tin, tout)


@converter("Softmax")
def _softmax(layer, in_shape, tin, tout):
    """Over any one axis: -rank..-1 or 1..rank (the batch axis is 0)."""
    axis = kc.get(layer, "axis", -1)
    axes = axis if isinstance(axis, (list, tuple)) else [axis]
    rank = len(in_shape)
    a = axes[0] if len(axes) == 1 else None
    if not isinstance(a, int) or isinstance(a, bool) or not (-rank <= a <= rank) or a == 0:
        raise kc.unsupported(layer, f"softmax over axis {axis!r} (one axis of 1..{rank} or "
                             f"-{rank}..-1; not the batch axis, not several)", "axis", axis)
    index = a - 1 if a > 0 else rank + a     # in the shape without the batch axis
    return Converted(in_shape, [Softmax(layer.name, layer.class_name, [tin], tout,
                                        [in_shape], in_shape,
                                        axis=-1 if index == rank - 1 else index)])


@converter("PReLU", weights=lambda config: ["alpha"])
def _prelu(layer, in_shape, tin, tout):
    """alpha has the input's shape with 1 on the shared axes (1-based, batch = 0).
    The leading shared axes are dropped (alpha repeats over them); a shared axis
    after an unshared one is broadcast at compile time."""
    shared = kc.get(layer, "shared_axes")
    rank = len(in_shape)
    if shared is not None and not kc.is_int(shared) and not isinstance(shared, (list, tuple)):
        raise kc.unsupported(layer, f"shared_axes={shared!r} must be axes 1..{rank}",
                             "shared_axes", shared)
    shared = [] if shared is None else ([shared] if kc.is_int(shared) else list(shared))
    if any(not isinstance(a, int) or isinstance(a, bool) or not 1 <= a <= rank for a in shared):
        raise kc.unsupported(layer, f"shared_axes={shared!r} must be axes 1..{rank}",
                             "shared_axes", shared)
    expected = tuple(1 if i + 1 in shared else d for i, d in enumerate(in_shape))
    alpha = named_weights(layer)["alpha"]
    if alpha.shape != expected:
        raise kc.unsupported(layer, f"alpha has shape {alpha.shape}, expected {expected}")
    lead = 0
    while lead < rank and lead + 1 in shared:
        lead += 1
    alpha = np.ascontiguousarray(np.broadcast_to(alpha[(0,) * lead], in_shape[lead:]),
                                 dtype=np.float32)
    op = PReLU(layer.name, layer.class_name, [tin], tout, [in_shape], in_shape, alpha=alpha)
    assert elems(in_shape) % op.period == 0
    return Converted(in_shape, [op])
