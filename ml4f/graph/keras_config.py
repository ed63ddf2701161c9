"""Reading layer options from Keras configs, with errors that name the option."""
from __future__ import annotations

from ..errors import UnsupportedError
from ..model.records import Layer
from .ops import Activation, LINEAR


def unsupported(layer: Layer, message: str, key: str | None = None, value=None) -> UnsupportedError:
    return UnsupportedError(message, layer=layer.name, layer_class=layer.class_name, key=key, value=value)


def get(layer: Layer, key: str, default=None):
    return layer.config.get(key, default)


def int_tuple(layer: Layer, key: str, n: int, default=None) -> tuple[int, ...]:
    v = layer.config.get(key, default)
    if v is None:
        v = default
    if isinstance(v, int):
        v = (v,) * n
    v = tuple(int(x) for x in v)
    if len(v) != n:
        raise unsupported(layer, f"{key}={list(v)} must have {n} entries", key, v)
    if any(x < 1 for x in v):
        raise unsupported(layer, f"{key}={list(v)} must be positive", key, v)
    return v


def require(layer: Layer, key: str, allowed, default=None):
    v = layer.config.get(key, default)
    if v is None:
        v = default
    if v not in allowed:
        choices = ", ".join(repr(a) for a in allowed)
        raise unsupported(layer, f"unsupported {key}={v!r} (supported: {choices})", key, v)
    return v


def channels_last(layer: Layer) -> None:
    require(layer, "data_format", ("channels_last",), default="channels_last")


def activation_name(layer: Layer, value) -> str:
    """Name of a built-in activation as stored in either Keras version's config."""
    if value is None:
        return "linear"
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        cfg = value.get("config")
        if value.get("class_name") in ("function", "__function__") and isinstance(cfg, str):
            return cfg
        if isinstance(value.get("class_name"), str) and not cfg:
            return value["class_name"]
    raise unsupported(layer, f"unsupported activation {value!r}", "activation", value)


# Activations that can be fused into the producing op's store, by Keras name.
FUSABLE = {
    "linear": LINEAR,
    "relu": Activation("relu"),
}


def activation(layer: Layer, key: str = "activation") -> tuple[Activation, bool]:
    """(element-wise activation, softmax_after) for a layer's `activation` option."""
    name = activation_name(layer, layer.config.get(key))
    if name == "softmax":
        return LINEAR, True
    if name in FUSABLE:
        return FUSABLE[name], False
    raise unsupported(layer, f"unsupported activation '{name}'", key, name)
