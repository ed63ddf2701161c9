"""Model records -> graph of ops with concrete shapes."""
from __future__ import annotations

from ..errors import UnsupportedError
from ..model.records import Model
from . import keras_config as kc
from .convert import CONVERTERS, MULTI_INPUT
from .shapes import hwc
from .fold import fold_affine, resolve_generation, split_activations
from .ops import Conv2D, Dense, DepthwiseConv2D, Elementwise, GlobalPool, Graph, Pool2D
from .ops.affine import Affine
from .ops.merge import Merge
from .ops.shape import Pad


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
    resolve_generation(graph, model.keras_version)
    split_activations(graph)
    schedule(graph)
    fold_padding(graph)
    fold_affine(graph)
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


# ops whose kernels apply a fusable activation in their store (store_activated)
FUSE_INTO = (Conv2D, DepthwiseConv2D, Dense, Pool2D, GlobalPool, Merge, Affine)


def fuse_activations(graph: Graph) -> None:
    """Fold a standalone piecewise-linear activation (Activation.FUSABLE) into
    the op that produces its input, so it is applied in registers before the
    store; the transcendental ones stay ops of their own."""
    fused = []
    for op in graph.ops:
        prev = fused[-1] if fused else None
        if (isinstance(op, Elementwise) and op.activation.fusable and prev is not None
                and isinstance(prev, FUSE_INTO)
                and prev.activation.is_linear and op.inputs == [prev.output]
                and len(graph.consumers(prev.output)) == 1 and prev.output != graph.output):
            prev.activation = op.activation
            prev.output = op.output
            prev.name = f"{prev.name}+{op.name}"
            continue
        fused.append(op)
    graph.ops = fused


def schedule(graph: Graph) -> None:
    """Order the ops depth first: of the ops whose inputs are ready, run the one
    that reads the most recently computed tensor (ties: file order).  An
    activation then follows its producer (and can be fused into it), and the
    branches of a block run one after the other instead of interleaved, which
    keeps fewer tensors alive at once."""
    ops = graph.ops
    producer = {op.output: i for i, op in enumerate(ops)}
    deps = [{producer[t] for t in op.inputs if t in producer} for op in ops]
    ran_at: dict[int, int] = {}
    while len(ran_at) < len(ops):
        ready = [i for i in range(len(ops)) if i not in ran_at and deps[i] <= ran_at.keys()]
        pick = max(ready, key=lambda i: (max((ran_at[d] for d in deps[i]), default=-1), -i))
        ran_at[pick] = len(ran_at)
    graph.ops = sorted(ops, key=lambda op: ran_at[producer[op.output]])


# ops that read padding taps as zeros (skipped taps), so explicit zero padding
# in front of them can become part of their own padding
PAD_FOLDS_INTO = (Conv2D, DepthwiseConv2D)


def fold_padding(graph: Graph) -> None:
    """Fold a ZeroPadding op into the convolution that alone reads its output:
    the padding becomes part of the convolution's pads, exactly (the kernel
    skips padding taps, i.e. treats them as zeros).  Not done where a window
    would see padding only, nor into pooling (max pads with -inf, average
    counts only real elements)."""
    kept = []
    for op in graph.ops:
        users = graph.consumers(op.output)
        if (isinstance(op, Pad) and op.output != graph.output and len(users) == 1
                and isinstance(users[0], PAD_FOLDS_INTO) and users[0].inputs[0] == op.output
                and users[0].inputs.count(op.output) == 1):
            conv = users[0]
            pads = tuple(a + b for a, b in zip(conv.pads, op.pads))
            if _windows_see_input(op.in_shapes[0], conv, pads):
                conv.inputs[0], conv.in_shapes[0] = op.inputs[0], op.in_shapes[0]
                conv.pads = pads
                conv.name = f"{op.name}+{conv.name}"
                continue
        kept.append(op)
    graph.ops = kept


def _windows_see_input(in_shape, conv, pads) -> bool:
    h, w, _ = hwc(in_shape)
    oh, ow, _ = hwc(conv.out_shape)
    kh, kw = conv.kernel.shape[:2]
    for size, out, k, stride, dil, before in ((h, oh, kh, conv.strides[0], conv.dilation[0], pads[0]),
                                              (w, ow, kw, conv.strides[1], conv.dilation[1], pads[1])):
        for o in range(out):
            first = o * stride - before
            if not any(0 <= first + j * dil < size for j in range(k)):
                return False
    return True
