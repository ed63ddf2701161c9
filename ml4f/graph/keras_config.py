"""Reading layer options from Keras configs, with errors that name the option."""
from __future__ import annotations

from ..errors import UnsupportedError
from ..model.records import Layer
from .ops import LINEAR, Activation


def unsupported(layer: Layer, message: str, key: str | None = None, value=None) -> UnsupportedError:
    return UnsupportedError(message, layer=layer.name, layer_class=layer.class_name, key=key, value=value)


def get(layer: Layer, key: str, default=None):
    return layer.config.get(key, default)


#: the largest finite float32
FLOAT32_MAX = 3.4028234663852886e38


def is_int(x) -> bool:
    """An integer as Keras writes one (bool is not)."""
    return isinstance(x, int) and not isinstance(x, bool)


def _shown(v) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def int_tuple(layer: Layer, key: str, n: int, default=None) -> tuple[int, ...]:
    """An int or a list of `n` ints, each positive (Keras's own check): missing or null
    takes `default`; strings, floats and bools are refused."""
    v = layer.config.get(key)
    if v is None:
        v = default
    if v is None:
        raise unsupported(layer, f"{key} is missing (an integer or a list of {n} is needed)",
                          key, v)
    if is_int(v):
        v = (v,) * n
    if not isinstance(v, (list, tuple)) or not all(is_int(x) for x in v):
        raise unsupported(layer, f"{key}={_shown(v)} must be an integer or a list of {n} "
                          "integers", key, v)
    v = tuple(v)
    if len(v) != n:
        raise unsupported(layer, f"{key}={list(v)} must have {n} entries", key, v)
    if any(x < 1 for x in v):
        raise unsupported(layer, f"{key}={list(v)} must be positive", key, v)
    return v


def integer(layer: Layer, key: str, default=None, *, minimum: int = 1) -> int:
    """An integer option (missing or null: `default`), refused below `minimum`."""
    v = layer.config.get(key)
    if v is None:
        v = default
    if not is_int(v):
        what = "is missing" if v is None else f"={_shown(v)} is not an integer"
        raise unsupported(layer, f"{key} {what}".replace(" =", "="), key, v)
    if v < minimum:
        raise unsupported(layer, f"{key}={v} must be >= {minimum}", key, v)
    return v


def boolean(layer: Layer, key: str, default: bool) -> bool:
    """A true/false option (missing or null: `default`)."""
    v = layer.config.get(key)
    if v is None:
        return default
    if not isinstance(v, bool):
        raise unsupported(layer, f"{key}={_shown(v)} must be true or false", key, v)
    return v


def require(layer: Layer, key: str, allowed, default=None):
    v = layer.config.get(key, default)
    if v is None:
        v = default
    if not isinstance(v, (str, int, float, type(None))) or v not in allowed:
        choices = ", ".join(repr(a) for a in allowed)
        raise unsupported(layer, f"unsupported {key}={_shown(v)} (supported: {choices})", key, v)
    return v


def spatial_rank(layer: Layer, in_shape) -> int:
    """1 for the 1-D kinds (class name ending in 1D), else 2; checks the input's
    rank (spatial axes + channels) and the channels-last layout."""
    rank = 1 if layer.class_name.endswith("1D") else 2
    if len(in_shape) != rank + 1:
        raise unsupported(layer, f"input shape {list(in_shape)} must have rank {rank + 1}")
    channels_last(layer)
    return rank


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
        if value.get("class_name") in ("__lambda__", "Lambda") or (
                isinstance(cfg, dict) and "code" in cfg):
            raise unsupported(layer, "activation is a Lambda/Python function: not supported "
                              "(use a built-in activation)", "activation", "lambda")
        if isinstance(value.get("class_name"), str):
            raise unsupported(layer, f"activation {value['class_name']!r} (a serialized object) "
                              "is not supported", "activation", value["class_name"])
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], str):
        # Keras 2 writes a Python function as [bytecode (base64), defaults, closure]
        raise unsupported(layer, "activation is a Lambda/Python function: not supported "
                          "(use a built-in activation)", "activation", "lambda")
    raise unsupported(layer, f"unsupported activation {_shown(value)}", "activation", value)


# Built-in activations by the name Keras stores (both generations), as the
# graph's Activation.  Keras 3 names that Keras 2 lacks (relu6, leaky_relu,
# hard_silu, ...) simply never occur in Keras 2 files.  hard_sigmoid is
# resolved per file by `resolve_generation` (its slope changed in Keras 3).
KERAS_ACTIVATIONS = {
    "linear": LINEAR,
    "relu": Activation("relu"),
    "relu6": Activation("relu", max_value=6.0),
    "leaky_relu": Activation("relu", alpha=0.2),       # keras.activations.leaky_relu default
    "elu": Activation("elu", alpha=1.0),
    "celu": Activation("elu", alpha=1.0),              # by name alpha = 1: the same function
    "selu": Activation("selu"),
    "sigmoid": Activation("sigmoid"),
    "hard_sigmoid": Activation("hard_sigmoid"),
    "hard_silu": Activation("hard_silu"),
    "hard_swish": Activation("hard_silu"),
    "hard_tanh": Activation("hard_tanh"),
    "tanh": Activation("tanh"),
    "exponential": Activation("exponential"),
    "softplus": Activation("softplus"),
    "softsign": Activation("softsign"),
    "log_sigmoid": Activation("log_sigmoid"),
    "swish": Activation("silu"),
    "silu": Activation("silu"),
    "gelu": Activation("gelu", variant="erf"),         # approximate=False, the default of both
    "mish": Activation("mish"),
}


def activation(layer: Layer, key: str = "activation") -> tuple[Activation, bool]:
    """(element-wise activation, softmax_after) for a layer's `activation` option.
    Activations that cannot be applied in a producer's store are split into an
    op of their own by the graph (see fold.split_activations)."""
    name = activation_name(layer, layer.config.get(key))
    if not isinstance(name, str):
        raise unsupported(layer, f"unsupported activation {_shown(name)}", key, name)
    if name == "softmax":
        return LINEAR, True
    if name in KERAS_ACTIVATIONS:
        return KERAS_ACTIVATIONS[name], False
    raise unsupported(layer, f"unsupported activation {_shown(name)}", key, name)


def number(layer: Layer, key: str, default=None, *, minimum: float | None = None,
           optional: bool = False) -> float | None:
    """A float option (None allowed if `optional`), refused below `minimum` and where it is
    not a finite float32 (the code computes with it in float32)."""
    v = layer.config.get(key, default)
    if v is None and optional:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v:
        raise unsupported(layer, f"{key}={_shown(v)} must be a number", key, v)
    if not abs(v) <= FLOAT32_MAX:
        raise unsupported(layer, f"{key}={_shown(v)} is not a finite float32", key, v)
    if minimum is not None and v < minimum:
        raise unsupported(layer, f"{key}={v!r} must be >= {minimum:g}", key, v)
    return float(v)


def generation(keras_version: str) -> str | None:
    """"keras2" or "keras3" from the version string a file records, else None."""
    major = str(keras_version).split(".")[0]
    return {"1": "keras2", "2": "keras2", "3": "keras3"}.get(major)
