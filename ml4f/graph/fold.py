"""Graph passes for activations and per-channel affine ops.

- `resolve_generation`: hard_sigmoid means clip(0.2 x + 0.5, 0, 1) in files
  written by Keras 2 and relu6(x + 3) / 6 in files written by Keras 3.
- `split_activations`: an activation that is not applied in its producer's
  store (the transcendental ones) becomes an element-wise op of its own.
- `fold_affine`: a per-channel affine op (BatchNormalization, Rescaling,
  Normalization) that alone reads the output of a convolution or dense layer
  with a linear activation is folded into that layer's kernel and bias
  (w' = w * scale[j], b' = b * scale[j] + offset[j] per output channel j),
  exactly the same function; the kernels never see it.
- `fuse_activations`: a piecewise-linear activation op is applied in the store
  of the op that produces its input.
- `fold_padding`: explicit zero padding becomes part of the padding of the
  convolution that reads it.
- `fuse_merges`: a two-operand merge (Add, Subtract, Multiply, Average,
  Maximum, Minimum) whose operand is computed by a convolution or dense layer
  that nothing else reads runs in that layer's store, before its activation.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ..errors import UnsupportedError
from . import keras_config as kc
from .ops import (
    LINEAR,
    Conv2D,
    Dense,
    DepthwiseConv2D,
    Elementwise,
    GlobalPool,
    Graph,
    Pool2D,
)
from .ops.affine import Affine
from .ops.conv import Conv2DTranspose
from .ops.merge import Merge
from .ops.shape import Pad
from .shapes import hwc

# ops an affine op after them folds into: fn(op) -> output-channel view of the kernel
FOLD_INTO = {
    Conv2D: lambda k: k,                                              # (KH, KW, Cin, Cout)
    Conv2DTranspose: lambda k: k,                                     # (KH, KW, Cin, Cout)
    Dense: lambda k: k,                                               # (in, units)
    DepthwiseConv2D: lambda k: k.reshape(k.shape[:2] + (k.shape[2] * k.shape[3],)),  # c*M + m
}


def resolve_generation(graph: Graph, keras_version: str) -> None:
    gen = kc.generation(keras_version)
    for op in graph.ops:
        if getattr(op, "BY_GENERATION", False) and not op.generation:
            if gen is None:                 # ops whose arithmetic differs between generations
                raise UnsupportedError(
                    f"{op.layer_class} computes differently in Keras 2 and Keras 3, and the file "
                    f"does not say which wrote it (keras_version {keras_version!r})",
                    layer=op.name, layer_class=op.layer_class)
            op.generation = gen
        # `activation`, and the activations inside a cell (recurrent ops)
        for key in ("activation",) + getattr(op, "ACTIVATION_FIELDS", ()):
            act = getattr(op, key, None)
            if act is None or act.kind != "hard_sigmoid" or act.variant:
                continue
            if gen is None:
                raise UnsupportedError(
                    "hard_sigmoid is 0.2x+0.5 in Keras 2 and relu6(x+3)/6 in Keras 3, and the "
                    f"file does not say which wrote it (keras_version {keras_version!r})",
                    layer=op.name, layer_class=op.layer_class, key="activation",
                    value="hard_sigmoid")
            setattr(op, key, dataclasses.replace(act, variant=gen))


def split_activations(graph: Graph) -> None:
    ops = []
    for op in graph.ops:
        act = getattr(op, "activation", None)
        if act is None or act.fusable or isinstance(op, Elementwise):
            ops.append(op)
            continue
        pre = f"{op.output}:linear"
        ops += [op, Elementwise(op.name, op.layer_class, [pre], op.output, [op.out_shape],
                                op.out_shape, activation=act)]
        op.output, op.activation = pre, LINEAR
        graph.shapes[pre] = op.out_shape
    graph.ops = ops


def fold_affine(graph: Graph) -> None:
    producer = {op.output: op for op in graph.ops}
    kept = []
    for op in graph.ops:
        prev = producer.get(op.inputs[0]) if isinstance(op, Affine) else None
        users = graph.consumers(op.inputs[0]) if prev is not None else []
        if (type(prev) in FOLD_INTO and prev.activation.is_linear and prev.output != graph.output
                and len(users) == 1 and users[0] is op):
            _fold(prev, op.scale, op.offset)
            prev.activation = op.activation
            prev.output = op.output
            prev.name = f"{prev.name}+{op.name}"
            producer[prev.output] = prev
            continue
        kept.append(op)
    graph.ops = kept


def _fold(op, scale: np.ndarray, offset: np.ndarray) -> None:
    """New kernel and bias arrays (never modified in place: layers may share them)."""
    s = np.asarray(scale, np.float64)
    k = np.asarray(op.kernel, np.float64)
    view = FOLD_INTO[type(op)](k)
    op.kernel = (view * s).reshape(k.shape).astype(np.float32)
    bias = np.zeros(s.shape) if op.bias is None else np.asarray(op.bias, np.float64)
    op.bias = (bias * s + np.asarray(offset, np.float64)).astype(np.float32)


# ops whose kernels apply a fusable activation in their store (store_activated)
FUSE_INTO = (Conv2D, Conv2DTranspose, DepthwiseConv2D, Dense, Pool2D, GlobalPool, Merge, Affine)


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


# producers whose store can apply a merge with a second operand (FusedResidual)
MERGE_INTO = (Conv2D, DepthwiseConv2D, Dense)
# merge mode -> (mode when the producer is the first operand, when it is the second)
RESIDUAL_OF = {"add": ("add", "add"), "sub": ("sub", "rsub"), "mul": ("mul", "mul"),
               "avg": ("avg", "avg"), "max": ("max", "max"), "min": ("min", "min")}


def fuse_merges(graph: Graph) -> None:
    """Merge(a, b) with a (or b) made by a producer P of MERGE_INTO with a linear
    activation whose output only the merge reads: P computes the merge in its
    store (its second input the other operand, the merge's activation its own),
    at its place in the schedule -- the later of two such producers, so the
    other operand exists by then.  Operands of the output's shape only."""
    position = {op.output: i for i, op in enumerate(graph.ops)}
    removed = set()
    for op in graph.ops:
        if not isinstance(op, Merge) or len(op.inputs) != 2 or op.inputs[0] == op.inputs[1]:
            continue
        if any(tuple(s) != tuple(op.out_shape) for s in op.in_shapes):
            continue
        choices = []
        for k, t in enumerate(op.inputs):
            p = graph.ops[position[t]] if t in position else None
            if (isinstance(p, MERGE_INTO) and not p.residual and p.activation.is_linear
                    and p.output != graph.output and len(graph.consumers(t)) == 1):
                choices.append((position[t], k, p))
        if not choices:
            continue
        _, k, p = max(choices, key=lambda c: c[0])
        other = op.inputs[1 - k]
        if other in position and position[other] > position[p.output]:
            continue                         # the other operand is computed after P
        p.residual = RESIDUAL_OF[op.mode][k]
        p.inputs = p.inputs + [other]
        p.in_shapes = p.in_shapes + [tuple(op.in_shapes[1 - k])]
        p.activation = op.activation
        p.output = op.output
        p.name = f"{p.name}+{op.name}"
        position[op.output] = position.pop(op.inputs[k])
        removed.add(id(op))
    graph.ops = [op for op in graph.ops if id(op) not in removed]
