"""BatchNormalization (inference: moving statistics), Rescaling and
Normalization, each as a per-channel affine op y = x * scale + offset over
the last axis (folded into a preceding convolution or dense layer by
fold.fold_affine where that is exact); LayerNormalization and
UnitNormalization over the last axis, as row-wise ops."""
from __future__ import annotations

import numpy as np

from .. import keras_config as kc
from ..ops.affine import Affine
from ..ops.elementwise import LayerNorm, UnitNorm
from ..registry import Converted, converter, flag, named_weights

KERAS_EPSILON = 1e-7            # keras.backend.epsilon(): Normalization's floor of sqrt(variance)


def _affine(layer, in_shape, tin, tout, scale, offset) -> Converted:
    c = in_shape[-1]
    scale = np.broadcast_to(np.asarray(scale, np.float64), (c,))
    offset = np.broadcast_to(np.asarray(offset, np.float64), (c,))
    with np.errstate(over="ignore", invalid="ignore"):
        scale32, offset32 = scale.astype(np.float32), offset.astype(np.float32)
    # finite as the code computes with them: in float32 (1e39 is finite only in float64)
    if not (np.all(np.isfinite(scale32)) and np.all(np.isfinite(offset32))):
        raise kc.unsupported(layer, "the layer's parameters give a scale or offset that is not "
                             "a finite float32")
    op = Affine(layer.name, layer.class_name, [tin], tout, [in_shape], in_shape,
                scale=scale32, offset=offset32)
    return Converted(in_shape, [op])


def _last_axis_only(layer, in_shape, key: str, axis) -> None:
    """Accept the last axis given as -1 or as its index (batch axis = 0), alone or in a list."""
    axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
    if len(axes) != 1 or axes[0] not in (-1, len(in_shape)):
        raise kc.unsupported(layer, f"{key}={axis!r}: only the last (channel) axis is supported",
                             key, axis)


# ------------------------------------------------------- BatchNormalization
def _batch_norm_weights(config: dict) -> list[str]:
    return ((["gamma"] if flag(config, "scale") else []) + (["beta"] if flag(config, "center") else [])
            + ["moving_mean", "moving_variance"])


@converter("BatchNormalization", weights=_batch_norm_weights)
def _batch_norm(layer, in_shape, tin, tout):
    _last_axis_only(layer, in_shape, "axis", kc.get(layer, "axis", -1))
    for key in ("renorm", "virtual_batch_size", "adjustment"):
        if kc.get(layer, key) not in (None, False):
            raise kc.unsupported(layer, f"unsupported {key}={kc.get(layer, key)!r}", key,
                                 kc.get(layer, key))
    eps = kc.number(layer, "epsilon", 1e-3, minimum=0.0)
    w = {k: np.asarray(a, np.float64) for k, a in named_weights(layer).items()}
    gamma, beta = w.get("gamma", 1.0), w.get("beta", 0.0)
    mean, var = w["moving_mean"], w["moving_variance"]
    if any(a.shape != (in_shape[-1],) for a in w.values()):
        shapes = ", ".join(f"{k} {a.shape}" for k, a in w.items())
        raise kc.unsupported(layer, f"statistics of shapes {shapes} do not fit input {list(in_shape)}")
    if np.any(var + eps <= 0):
        raise kc.unsupported(layer, "moving_variance + epsilon is not positive")
    m = gamma / np.sqrt(var + eps)
    return _affine(layer, in_shape, tin, tout, m, beta - mean * m)


# ---------------------------------------------------------------- Rescaling
def _param(layer, key: str, default: float, c: int) -> np.ndarray:
    """A scalar, a per-channel list, or a serialized numpy array broadcastable
    to the channel axis only."""
    v = kc.get(layer, key, default)
    if isinstance(v, dict) and isinstance(v.get("config"), dict) and "value" in v["config"]:
        v = v["config"]["value"]                    # {"class_name": "__numpy__", ...}
    try:
        a = np.asarray(v, np.float64)
    except (TypeError, ValueError):
        raise kc.unsupported(layer, f"unsupported {key}={v!r}", key, v) from None
    while a.ndim > 1 and a.shape[0] == 1:
        a = a[0]
    if a.ndim > 1 or (a.ndim == 1 and a.shape[0] not in (1, c)):
        raise kc.unsupported(layer, f"{key} of shape {list(np.shape(v))} is not per channel "
                             f"(last axis {c})", key, v)
    return a


@converter("Rescaling")
def _rescaling(layer, in_shape, tin, tout):
    kc.channels_last(layer)
    c = in_shape[-1]
    return _affine(layer, in_shape, tin, tout, _param(layer, "scale", 1.0, c),
                   _param(layer, "offset", 0.0, c))


# ------------------------------------------------------------ Normalization
@converter("Normalization", weights=lambda config: None, integer_weights=(2,))
def _normalization(layer, in_shape, tin, tout):
    """(x - mean) / max(sqrt(variance), 1e-7), or with invert=True
    mean + x * max(sqrt(variance), 1e-7); statistics per channel (axis -1) or
    one for all (axis None)."""
    axis = kc.get(layer, "axis", -1)
    per_channel = not (axis is None or axis == [] or axis == ())
    if per_channel:
        _last_axis_only(layer, in_shape, "axis", axis)
    c = in_shape[-1]
    if kc.get(layer, "mean") is not None:
        mean, var = _param(layer, "mean", 0.0, c), _param(layer, "variance", 1.0, c)
    elif len(layer.weights) == 3:                    # adapted: mean, variance, count
        mean, var = (np.asarray(a, np.float64).reshape(-1) for a in layer.weights[:2])
        if mean.size not in (1, c):
            raise kc.unsupported(layer, f"statistics of shape {layer.weights[0].shape} do not "
                                 f"fit input {list(in_shape)}")
    else:
        raise kc.unsupported(layer, f"expected mean and variance (config or 3 weight arrays), "
                             f"found {len(layer.weights)} arrays")
    if np.any(var < 0):
        raise kc.unsupported(layer, "negative variance")
    d = np.maximum(np.sqrt(var), KERAS_EPSILON)
    if kc.get(layer, "invert", False):
        return _affine(layer, in_shape, tin, tout, d, mean)
    return _affine(layer, in_shape, tin, tout, 1.0 / d, -mean / d)


# ------------------------------------------------------- LayerNormalization
def _layer_norm_weights(config: dict) -> list[str]:
    rms = flag(config, "rms_scaling", False)           # Keras 3 keeps gamma only then
    return ((["gamma"] if flag(config, "scale") or rms else [])
            + (["beta"] if flag(config, "center") and not rms else []))


@converter("LayerNormalization", weights=_layer_norm_weights)
def _layer_norm(layer, in_shape, tin, tout):
    _last_axis_only(layer, in_shape, "axis", kc.get(layer, "axis", -1))
    if kc.get(layer, "rms_scaling", False):
        raise kc.unsupported(layer, "unsupported rms_scaling=True", "rms_scaling", True)
    eps = kc.number(layer, "epsilon", 1e-3, minimum=0.0)
    w = named_weights(layer)
    if any(a.shape != (in_shape[-1],) for a in w.values()):
        shapes = ", ".join(f"{k} {a.shape}" for k, a in w.items())
        raise kc.unsupported(layer, f"parameters of shapes {shapes} do not fit input {list(in_shape)}")
    op = LayerNorm(layer.name, layer.class_name, [tin], tout, [in_shape], in_shape,
                   gamma=w.get("gamma"), beta=w.get("beta"), epsilon=eps)
    return Converted(in_shape, [op])


# -------------------------------------------------------- UnitNormalization
@converter("UnitNormalization")
def _unit_norm(layer, in_shape, tin, tout):
    _last_axis_only(layer, in_shape, "axis", kc.get(layer, "axis", -1))
    return Converted(in_shape, [UnitNorm(layer.name, layer.class_name, [tin], tout, [in_shape],
                                         in_shape)])
