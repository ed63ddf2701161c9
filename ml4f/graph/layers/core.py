"""Free layers (aliases), Activation and Dense."""
from __future__ import annotations

from .. import keras_config as kc
from ..ops import Dense, Elementwise, Softmax, elems
from ..registry import Converted, converter, main_and_bias, named_weights, with_softmax


# --------------------------------------------------------------------- no-ops
@converter("Dropout", "SpatialDropout1D", "SpatialDropout2D", "GaussianNoise",
           "GaussianDropout", "AlphaDropout", "ActivityRegularization")
def _identity(layer, in_shape, tin, tout):
    return Converted(in_shape, [])


@converter("Flatten")
def _flatten(layer, in_shape, tin, tout):
    kc.channels_last(layer)
    return Converted((elems(in_shape),), [])


@converter("Reshape")
def _reshape(layer, in_shape, tin, tout):
    target = kc.get(layer, "target_shape")
    if not isinstance(target, (list, tuple)) or not target or \
            not all(kc.is_int(d) for d in target):
        raise kc.unsupported(layer, f"target_shape={target!r} must be a list of integers",
                             "target_shape", target)
    target = list(target)
    n = elems(in_shape)
    if target.count(-1) > 1 or any(d == 0 or d < -1 for d in target):
        raise kc.unsupported(layer, f"invalid target_shape {target}", "target_shape", target)
    if -1 in target:
        known = elems([d for d in target if d != -1])
        if known == 0 or n % known:
            raise kc.unsupported(layer, f"cannot reshape {list(in_shape)} to {target}",
                                 "target_shape", target)
        target[target.index(-1)] = n // known
    if elems(target) != n:
        raise kc.unsupported(layer, f"cannot reshape {list(in_shape)} to {target}",
                             "target_shape", target)
    return Converted(tuple(int(d) for d in target), [])


# ---------------------------------------------------------------- activation
@converter("Activation")
def _activation(layer, in_shape, tin, tout):
    act, softmax = kc.activation(layer)
    if softmax:
        return Converted(in_shape, [Softmax(layer.name, layer.class_name, [tin], tout,
                                            [in_shape], in_shape)])
    if act.is_linear:
        return Converted(in_shape, [])
    return Converted(in_shape, [Elementwise(layer.name, layer.class_name, [tin], tout,
                                            [in_shape], in_shape, activation=act)])


# --------------------------------------------------------------------- dense
@converter("Dense", weights=main_and_bias("kernel"))
def _dense(layer, in_shape, tin, tout):
    w = named_weights(layer)
    kernel, bias = w["kernel"], w.get("bias")
    if kernel.ndim != 2 or kernel.shape[0] != in_shape[-1]:
        raise kc.unsupported(layer, f"kernel shape {kernel.shape} does not fit input {list(in_shape)}")
    units = kc.integer(layer, "units")
    if units != kernel.shape[1]:
        raise kc.unsupported(layer, f"units={units} does not match the kernel's "
                             f"{kernel.shape[1]} outputs", "units", units)
    if bias is not None and bias.shape != (kernel.shape[1],):
        raise kc.unsupported(layer, f"bias has shape {bias.shape}, expected ({kernel.shape[1]},)")
    act, softmax = kc.activation(layer)
    out_shape = tuple(in_shape[:-1]) + (kernel.shape[1],)
    op = Dense(layer.name, layer.class_name, [tin], tout, [in_shape], out_shape,
               kernel=kernel, bias=bias, activation=act)
    return with_softmax(layer, op, softmax)
