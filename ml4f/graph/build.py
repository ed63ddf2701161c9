"""Model records -> graph of ops with concrete shapes: every layer through its
converter, then the graph passes (pipeline.py)."""
from __future__ import annotations

import numpy as np

from .. import context
from ..errors import InvalidModelError, UnsupportedError
from ..limits import DEFAULT_MAX_BYTES, describe
from ..model.records import Model
from . import keras_config as kc
from .ops import Graph
from .pipeline import PASSES
from .registry import kind_of


def _input_shape(model: Model, max_bytes: int) -> tuple[int, ...]:
    shape = tuple(model.input_shape)
    if not shape or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in shape):
        raise UnsupportedError(f"input shape {list(shape)} must be fully known (batch excluded)",
                               key="input_shape", value=shape)
    _check_size(shape, max_bytes, "the input")
    return tuple(shape)


def _check_size(shape, max_bytes: int, what: str, layer=None) -> None:
    """A tensor of `shape` (float32) within the limit, checked before anything is made."""
    n = 4
    for d in shape:
        n *= int(d)
    if n > max_bytes:
        kw = dict(layer=layer.name, layer_class=layer.class_name) if layer is not None else {}
        raise InvalidModelError(f"{what} of shape {list(shape)} takes {describe(n)}, more than "
                                f"the limit of {describe(max_bytes)} for a tensor (--max-bytes)",
                                key="max_bytes", value=n, **kw)


def build_graph(model: Model, max_bytes: int = DEFAULT_MAX_BYTES) -> Graph:
    """The model's graph, converted and through every pass; every tensor (and weight
    array a converter makes) within `max_bytes`."""
    graph = convert(model, max_bytes)
    for name, run in PASSES:
        with context.step(f"running the graph pass '{name}'"):
            run(graph, model)
    _check_finite(graph)
    return graph


def _check_finite(graph: Graph) -> None:
    """Every array the code will hold is finite in float32 (folding a normalization into
    a convolution multiplies weights: large ones can overflow)."""
    for op in graph.ops:
        for field in op.WEIGHTS + op.FLOAT32:
            array = getattr(op, field)
            if array is not None and not np.all(np.isfinite(array)):
                raise InvalidModelError(f"the {field} array is not finite in float32 (after "
                                        "folding the following normalization or scaling)",
                                        layer=op.name, layer_class=op.layer_class)


def convert(model: Model, max_bytes: int = DEFAULT_MAX_BYTES) -> Graph:
    """Every layer through its converter; free layers become aliases, resolved here."""
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise UnsupportedError("only models with one input and one output are supported")
    in_name = model.inputs[0]
    tensor_of: dict[str, str] = {in_name: in_name}    # layer name -> its output tensor
    shapes: dict[str, tuple[int, ...]] = {in_name: _input_shape(model, max_bytes)}
    aliases: dict[str, str] = {}
    graph = Graph(input=in_name, output="", input_shape=shapes[in_name], output_shape=())
    for layer in model.layers:
        if layer.name == in_name:
            continue
        if layer.class_name == "InputLayer":
            raise kc.unsupported(layer, "a second input layer is not supported")
        kind = kind_of(layer)
        tins = [tensor_of[name] for name in layer.inbound]
        with context.step("converting", layer=layer.name, layer_class=layer.class_name):
            if kind.many_inputs:
                res = kind.convert(layer, [shapes[t] for t in tins], tins, layer.name)
            elif len(tins) != 1:
                raise kc.unsupported(layer, f"layers with {len(tins)} inputs are not supported")
            else:
                res = kind.convert(layer, shapes[tins[0]], tins[0], layer.name)
        _check_size(res.out_shape, max_bytes, "the output", layer)
        for op in res.ops:
            _check_size(op.out_shape, max_bytes, "the output", layer)
        if res.ops:
            graph.ops.extend(res.ops)
            for op in res.ops:
                shapes[op.output] = op.out_shape
            tensor_of[layer.name] = res.ops[-1].output
        else:
            tensor_of[layer.name] = layer.name
            shapes[layer.name] = res.out_shape
            aliases[layer.name] = tins[0]
    out = tensor_of[model.outputs[0]]
    graph.output = out
    graph.output_shape = shapes[out]
    graph.shapes = shapes
    _resolve_aliases(graph, aliases)
    return graph


def _resolve_aliases(graph: Graph, aliases: dict[str, str]) -> None:
    def root(t):
        while t in aliases:
            t = aliases[t]
        return t
    for op in graph.ops:
        op.inputs = [root(t) for t in op.inputs]
    graph.output = root(graph.output)
