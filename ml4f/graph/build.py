"""Model records -> graph of ops with concrete shapes: every layer through its
converter, then the graph passes (pipeline.py)."""
from __future__ import annotations

from ..errors import UnsupportedError
from ..model.records import Model
from . import keras_config as kc
from .ops import Graph
from .pipeline import run_passes
from .registry import kind_of


def _input_shape(model: Model) -> tuple[int, ...]:
    shape = tuple(model.input_shape)
    if not shape or any(d is None or int(d) < 1 for d in shape):
        raise UnsupportedError(f"input shape {list(shape)} must be fully known (batch excluded)",
                               key="input_shape", value=shape)
    return tuple(int(d) for d in shape)


def build_graph(model: Model) -> Graph:
    """The model's graph, converted and through every pass."""
    graph = convert(model)
    run_passes(graph, model)
    return graph


def convert(model: Model) -> Graph:
    """Every layer through its converter; free layers become aliases, resolved here."""
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise UnsupportedError("only models with one input and one output are supported")
    in_name = model.inputs[0]
    tensor_of: dict[str, str] = {in_name: in_name}    # layer name -> its output tensor
    shapes: dict[str, tuple[int, ...]] = {in_name: _input_shape(model)}
    aliases: dict[str, str] = {}
    graph = Graph(input=in_name, output="", input_shape=shapes[in_name], output_shape=())
    for layer in model.layers:
        if layer.name == in_name:
            continue
        if layer.class_name == "InputLayer":
            raise kc.unsupported(layer, "a second input layer is not supported")
        kind = kind_of(layer)
        tins = [tensor_of[name] for name in layer.inbound]
        if kind.many_inputs:
            res = kind.convert(layer, [shapes[t] for t in tins], tins, layer.name)
        elif len(tins) != 1:
            raise kc.unsupported(layer, f"layers with {len(tins)} inputs are not supported")
        else:
            res = kind.convert(layer, shapes[tins[0]], tins[0], layer.name)
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
