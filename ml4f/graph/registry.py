"""The converter table: one converter per Keras layer kind.

A converter turns a layer (config + weights) and its input shape(s) into ops
with concrete shapes, or into an alias when the layer is free in channels-last
row-major layout (Flatten, Reshape, Dropout).  Converters live in
`ml4f/graph/layers/`, one module per family, and register themselves here.

Single-input converters are called as fn(layer, in_shape, tensor_in, tensor_out);
converters registered with `inputs="many"` as fn(layer, in_shapes, tensors_in, tensor_out).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..model.records import Layer
from . import keras_config as kc
from .ops import Op, Softmax


@dataclass
class Converted:
    out_shape: tuple[int, ...]
    ops: list[Op]                 # empty: the output is an alias of the input


ConvertFn = Callable[[Layer, tuple, str, str], Converted]
CONVERTERS: dict[str, ConvertFn] = {}
MULTI_INPUT: set[str] = set()


def converter(*class_names: str, inputs: str = "one"):
    def register(fn: ConvertFn) -> ConvertFn:
        for name in class_names:
            CONVERTERS[name] = fn
            if inputs == "many":
                MULTI_INPUT.add(name)
        return fn
    return register


def check_class(name: str, class_name: str, config: dict) -> None:
    """Refuse layer kinds without a converter (called before weights are read)."""
    if class_name not in CONVERTERS and class_name != "InputLayer":
        raise kc.unsupported(Layer(name, class_name, config),
                             f"unsupported layer kind {class_name}")


def with_softmax(layer: Layer, op: Op, softmax: bool) -> Converted:
    ops = [op]
    if softmax:
        ops.append(Softmax(layer.name, layer.class_name, [op.output], op.output + ":softmax",
                           [op.out_shape], op.out_shape))
    return Converted(ops[-1].out_shape, ops)


def weights_of(layer: Layer, use_bias: bool, n_main: int = 1):
    w = layer.weights
    expect = n_main + (1 if use_bias else 0)
    if len(w) != expect:
        raise kc.unsupported(layer, f"expected {expect} weight arrays, found {len(w)}")
    return w[:n_main], (w[n_main] if use_bias else None)
