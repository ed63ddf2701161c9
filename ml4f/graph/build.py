"""Model records -> graph of ops with concrete shapes."""
from __future__ import annotations

from ..errors import UnsupportedError
from ..model.records import Model
from . import keras_config as kc
from .convert import CONVERTERS
from .ops import Elementwise, Graph, Pool2D, Conv2D, Dense


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
        if len(layer.inbound) != 1:
            raise kc.unsupported(layer, f"layers with {len(layer.inbound)} inputs are not supported")
        tin = tensor_of[layer.inbound[0]]
        convert = CONVERTERS.get(layer.class_name)
        if convert is None:
            raise kc.unsupported(layer, f"unsupported layer kind {layer.class_name}")
        res = convert(layer, shapes[tin], tin, layer.name)
        if res.ops:
            graph.ops.extend(res.ops)
            for op in res.ops:
                shapes[op.output] = op.out_shape
            tensor_of[layer.name] = res.ops[-1].output
        else:
            tensor_of[layer.name] = layer.name
            shapes[layer.name] = res.out_shape
            _alias(graph, layer.name, tin)
    out = tensor_of[model.outputs[0]]
    graph.output = out
    graph.output_shape = shapes[out]
    graph.shapes = shapes
    _resolve_aliases(graph)
    _check_single_consumers(graph)
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


def _check_single_consumers(graph: Graph) -> None:
    seen: dict[str, str] = {}
    for op in graph.ops:
        for t in op.inputs:
            if t in seen:
                raise UnsupportedError(
                    f"tensor of '{t}' feeds both '{seen[t]}' and '{op.name}': "
                    "only chain-shaped models are supported", layer=op.name,
                    layer_class=op.layer_class)
            seen[t] = op.name


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
