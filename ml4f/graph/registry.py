"""The converter table: one converter per Keras layer kind.

A converter turns a layer (config + weights) and its input shape(s) into ops
with concrete shapes, or into an alias when the layer is free in channels-last
row-major layout (Flatten, Reshape, Dropout).  Converters live in
`ml4f/graph/layers/`, one module per family, and register themselves here
with the weights the layer kind keeps: the model reader asks this table which
arrays a layer must have (`LAYER_KINDS`), so the knowledge is in one place.

Single-input converters are called as fn(layer, in_shape, tensor_in, tensor_out);
converters registered with `inputs="many"` as fn(layer, in_shapes, tensors_in, tensor_out).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..model.records import Layer
from . import keras_config as kc
from .ops import Op, Softmax


@dataclass
class Converted:
    out_shape: tuple[int, ...]
    ops: list[Op]                 # empty: the output is an alias of the input


ConvertFn = Callable[[Layer, tuple, str, str], Converted]
WeightNames = Callable[[dict], "list[str] | None"]     # config -> get_weights() names


@dataclass(frozen=True)
class LayerKind:
    """What the compiler knows of one Keras layer class."""

    class_name: str
    convert: ConvertFn
    weights: WeightNames                  # None from it: the arrays are checked by the converter
    many_inputs: bool = False
    integer_weights: frozenset = frozenset()   # weight indices stored as integers (read as float32)


CONVERTERS: dict[str, LayerKind] = {}


def converters() -> dict[str, LayerKind]:
    """The table with every family loaded (they register themselves on import)."""
    from . import layers  # noqa: F401  (a family imports this module: loaded on first use)
    return CONVERTERS


def no_weights(config: dict) -> list[str]:
    return []


def flag(config: dict, key: str, default: bool = True) -> bool:
    value = config.get(key, default)
    return bool(value) if isinstance(value, (bool, int)) else default


def main_and_bias(*names: str) -> WeightNames:
    """The given arrays, then "bias" when use_bias is on (its default)."""
    def weights(config: dict) -> list[str]:
        return list(names) + (["bias"] if flag(config, "use_bias") else [])
    return weights


def converter(*class_names: str, inputs: str = "one", weights: WeightNames = no_weights,
              integer_weights=()):
    def register(fn: ConvertFn) -> ConvertFn:
        for name in class_names:
            CONVERTERS[name] = LayerKind(name, fn, weights, inputs == "many",
                                         frozenset(integer_weights))
        return fn
    return register


class _LayerKinds:
    """The table as the model reader sees it (see ml4f.model.load_model)."""

    def check(self, name: str, class_name: str, config: dict) -> None:
        """Refuse layer kinds without a converter (called before weights are read)."""
        if class_name != "InputLayer":
            kind_of(Layer(name, class_name, config))

    def weight_names(self, class_name: str, config: dict) -> list[str] | None:
        kind = converters().get(class_name)
        if class_name == "InputLayer":
            return []
        return kind.weights(config) if kind else None

    def integer_weights(self, class_name: str) -> frozenset:
        kind = converters().get(class_name)
        return kind.integer_weights if kind else frozenset()


LAYER_KINDS = _LayerKinds()


def kind_of(layer: Layer) -> LayerKind:
    """The layer's kind; refused with one message where there is no converter."""
    kind = converters().get(layer.class_name)
    if kind is None:
        raise kc.unsupported(layer, f"unsupported layer kind {layer.class_name}")
    return kind


def named_weights(layer: Layer) -> dict[str, np.ndarray]:
    """The layer's arrays by name, as its kind declares them."""
    names = CONVERTERS[layer.class_name].weights(layer.config) or []
    if len(names) != len(layer.weights):
        raise kc.unsupported(layer, f"expected {len(names)} weight arrays "
                             f"({', '.join(names) or 'none'}), found {len(layer.weights)}")
    return dict(zip(names, layer.weights))


def with_softmax(layer: Layer, op: Op, softmax: bool) -> Converted:
    ops = [op]
    if softmax:
        ops.append(Softmax(layer.name, layer.class_name, [op.output], op.output + ":softmax",
                           [op.out_shape], op.out_shape))
    return Converted(ops[-1].out_shape, ops)
