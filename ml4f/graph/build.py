"""Model records -> graph of ops with concrete shapes."""
from __future__ import annotations

from ..errors import UnsupportedError
from ..model.records import Model
from . import keras_config as kc
from .convert import CONVERTERS, MULTI_INPUT
from .ops import Conv2D, Dense, Elementwise, Graph, Pool2D


def _input_shape(model: Model) -> tuple[int, ...]:
    shape = tuple(model.input_shape)
    if not shape or any(d is None or int(d) < 1 for d in shape):
        raise UnsupportedError(f"input shape {list(shape)} must be fully known (batch excluded)",
                               key="input_shape", value=shape)
    return tuple(int(d) for d in shape)


def build_graph(model: Model) -> Graph:
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise UnsupportedError("only models with one input and one output are supported")
    in_name = model.inputs[0]
    tensor_of: dict[str, str] = {in_name: in_name}    # layer name -> its output tensor
    shapes: dict[str, tuple[int, ...]] = {in_name: _input_shape(model)}
    graph = Graph(input=in_name, output="", input_shape=shapes[in_name], output_shape=())
    for layer in model.layers:
        if layer.name == in_name:
            continue
        if layer.class_name == "InputLayer":
            raise kc.unsupported(layer, "a second input layer is not supported")
        convert = CONVERTERS.get(layer.class_name)
        if convert is None:
            raise kc.unsupported(layer, f"unsupported layer kind {layer.class_name}")
        tins = [tensor_of[name] for name in layer.inbound]
        if layer.class_name in MULTI_INPUT:
            res = convert(layer, [shapes[t] for t in tins], tins, layer.name)
        elif len(tins) != 1:
            raise kc.unsupported(layer, f"layers with {len(tins)} inputs are not supported")
        else:
            res = convert(layer, shapes[tins[0]], tins[0], layer.name)
        if res.ops:
            graph.ops.extend(res.ops)
            for op in res.ops:
                shapes[op.output] = op.out_shape
            tensor_of[layer.name] = res.ops[-1].output
        else:
            tensor_of[layer.name] = layer.name
            shapes[layer.name] = res.out_shape
            _alias(graph, layer.name, tins[0])
    out = tensor_of[model.outputs[0]]
    graph.output = out
    graph.output_shape = shapes[out]
    graph.shapes = shapes
    _resolve_aliases(graph)
    fuse_activations(graph)
    return graph


def _alias(graph: Graph, name: str, target: str) -> None:
    graph.__dict__.setdefault("_aliases", {})[name] = target


def _resolve_aliases(graph: Graph) -> None:
    aliases = graph.__dict__.pop("_aliases", {})

    def root(t):
        while t in aliases:
            t = aliases[t]
        return t
    for op in graph.ops:
        op.inputs = [root(t) for t in op.inputs]
    graph.output = root(graph.output)


def fuse_activations(graph: Graph) -> None:
    """Fold a standalone activation into the op that produces its input, so the
    activation is applied in registers before the store."""
    fused = []
    for op in graph.ops:
        prev = fused[-1] if fused else None
        if (isinstance(op, Elementwise) and prev is not None
                and isinstance(prev, (Conv2D, Dense, Pool2D))
                and prev.activation.is_linear and op.inputs == [prev.output]
                and len(graph.consumers(prev.output)) == 1 and prev.output != graph.output):
            prev.activation = op.activation
            prev.output = op.output
            prev.name = f"{prev.name}+{op.name}"
            continue
        fused.append(op)
    graph.ops = fused
