"""Activation layers: ReLU, LeakyReLU, ELU, ThresholdedReLU (Keras 2) and
Softmax.  (The Activation layer is in core.py.)"""
from __future__ import annotations

from .. import keras_config as kc
from ..ops import Activation, Elementwise, Softmax
from ..registry import Converted, converter


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
    axis = kc.get(layer, "axis", -1)
    axes = axis if isinstance(axis, (list, tuple)) else [axis]
    last = len(in_shape)                     # the last axis, counting the batch axis as 0
    if len(axes) != 1 or axes[0] not in (-1, last):
        raise kc.unsupported(layer, f"softmax over axis {axis!r} (only the last axis is supported)",
                             "axis", axis)
    return Converted(in_shape, [Softmax(layer.name, layer.class_name, [tin], tout,
                                        [in_shape], in_shape)])
