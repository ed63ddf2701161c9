"""A compiled model's graph -> one C file calling the baseline kernels layer by layer.

The C file holds the graph's own float32 weights as const arrays (exact hex-float
literals), one static buffer per intermediate tensor, one non-inlined function per
op (`model_layer_<i>`, so that the profile can charge each op's cycles to it) and
`model_run(const float *in, float *out)`.
"""
from __future__ import annotations

import numpy as np

from ml4f.graph.ops import Graph, elems
from ml4f.graph.shapes import hwc


class NotInBaseline(Exception):
    """The graph has an op the C baseline has no kernel for."""


def _floats(name: str, values: np.ndarray) -> str:
    flat = np.asarray(values, dtype=np.float32).ravel()
    items = [float(v).hex() + "f" for v in flat]
    lines = [", ".join(items[i:i + 6]) for i in range(0, len(items), 6)]
    body = ",\n    ".join(lines)
    return f"static const float {name}[{len(items)}] = {{\n    {body}\n}};\n"


def _relu(op) -> int:
    act = getattr(op, "activation", None)
    if act is None or act.kind == "linear":
        return 0
    if act.kind == "relu" and act.alpha == 0 and act.max_value is None and act.threshold == 0:
        return 1
    raise NotInBaseline(f"activation {act.kind} of {op.name}")


def _call(i: int, op, src: list[str], dst: str, weights: list[str]) -> str:
    """The kernel call(s) of op number i; appends its weight arrays to `weights`."""
    residual = getattr(op, "residual", "")
    if residual:
        # a merge fused into the op's store: the op, then the merge as its own pass
        if residual != "add":
            raise NotInBaseline(f"merge {residual!r} fused into {op.name}")
        return (_single(i, op, src[0], dst, weights, relu=0)
                + f"\n    k_add({dst}, {src[1]}, {elems(op.out_shape)}, {dst}, {_relu(op)});")
    if len(src) != 1:
        raise NotInBaseline(f"op {op.name} has {len(src)} inputs")
    return _single(i, op, src[0], dst, weights, _relu(op))


def _single(i: int, op, src: str, dst: str, weights: list[str], relu: int) -> str:
    kind = "conv2d" if op.kind == "winograd" else op.kind     # the original kernel is kept
    if kind in ("conv2d", "depthwise"):
        ih, iw, ic = hwc(op.in_shape)
        oh, ow, oc = hwc(op.out_shape)
        kh, kw = op.kernel.shape[:2]
        sh, sw = op.strides
        dh, dw = op.dilation
        pt, pl = op.pads[0], op.pads[1]
        if kind == "conv2d":
            w = np.transpose(op.kernel, (3, 0, 1, 2))             # [oc][kh][kw][ic]
        else:
            w = np.transpose(op.kernel, (2, 3, 0, 1))             # [ic][m][kh][kw]
        weights.append(_floats(f"w{i}", w))
        bias = "0"
        if op.bias is not None:
            weights.append(_floats(f"b{i}", op.bias))
            bias = f"b{i}"
        if kind == "conv2d":
            return (f"k_conv2d({src}, {ih}, {iw}, {ic}, w{i}, {bias}, {kh}, {kw}, {sh}, {sw}, "
                    f"{dh}, {dw}, {pt}, {pl}, {dst}, {oh}, {ow}, {oc}, {relu});")
        m = op.kernel.shape[3]
        return (f"k_depthwise({src}, {ih}, {iw}, {ic}, {m}, w{i}, {bias}, {kh}, {kw}, {sh}, {sw}, "
                f"{dh}, {dw}, {pt}, {pl}, {dst}, {oh}, {ow}, {relu});")
    if kind == "conv_transpose":
        ih, iw, ic = hwc(op.in_shape)
        oh, ow, oc = hwc(op.out_shape)
        kh, kw = op.kernel.shape[:2]
        weights.append(_floats(f"w{i}", np.transpose(op.kernel, (3, 0, 1, 2))))  # [oc][kh][kw][ic]
        bias = "0"
        if op.bias is not None:
            weights.append(_floats(f"b{i}", op.bias))
            bias = f"b{i}"
        return (f"k_conv_transpose({src}, {ih}, {iw}, {ic}, w{i}, {bias}, {kh}, {kw}, "
                f"{op.strides[0]}, {op.strides[1]}, {op.crops[0]}, {op.crops[1]}, {dst}, {oh}, "
                f"{ow}, {oc}, {relu});")
    if kind == "dense":
        n, units = op.kernel.shape
        rows = elems(op.in_shape) // n
        weights.append(_floats(f"w{i}", op.kernel.T))             # [units][n]
        bias = "0"
        if op.bias is not None:
            weights.append(_floats(f"b{i}", op.bias))
            bias = f"b{i}"
        return f"k_dense({src}, {rows}, {n}, w{i}, {bias}, {units}, {dst}, {relu});"
    if kind == "pool2d":
        ih, iw, c = hwc(op.in_shape)
        oh, ow, _ = hwc(op.out_shape)
        (ph, pw), (sh, sw) = op.pool, op.strides
        avg = 1 if op.mode == "avg" else 0
        return (f"k_pool2d({src}, {ih}, {iw}, {c}, {ph}, {pw}, {sh}, {sw}, {op.pads[0]}, "
                f"{op.pads[1]}, {dst}, {oh}, {ow}, {avg}, {relu});")
    if kind == "globalpool":
        c = op.in_shape[-1]
        avg = 1 if op.mode == "avg" else 0
        return f"k_global_pool({src}, {elems(op.in_shape) // c}, {c}, {dst}, {avg}, {relu});"
    if kind == "softmax":
        n = op.in_shape[-1]
        return f"k_softmax({src}, {elems(op.in_shape) // n}, {n}, {dst});"
    if kind == "affine":
        c = op.in_shape[-1]
        weights.append(_floats(f"w{i}", op.scale))
        weights.append(_floats(f"b{i}", op.offset))
        return (f"k_affine({src}, {elems(op.in_shape) // c}, {c}, w{i}, b{i}, {dst}, "
                f"{relu});")
    if kind == "activation":
        if relu != 1:
            raise NotInBaseline(f"activation {op.activation.kind} of {op.name}")
        return f"k_relu({src}, {elems(op.in_shape)}, {dst});"
    raise NotInBaseline(f"op kind {kind!r} ({op.name})")


def generate_c(graph: Graph) -> str:
    """The model's C source (raises NotInBaseline for ops without a kernel)."""
    names = {graph.input: "g_in", graph.output: "g_out"}
    buffers, weights, layers, calls = [], [], [], []
    for i, op in enumerate(graph.ops):
        if op.output not in names:
            names[op.output] = f"t{i}"
            buffers.append(f"static float t{i}[{elems(op.out_shape)}];")
        call = _call(i, op, [names[t] for t in op.inputs], names[op.output], weights)
        layers.append(f"__attribute__((noinline)) void model_layer_{i}(void)\n{{\n    {call}\n}}\n")
        calls.append(f"    model_layer_{i}();")
    n_in, n_out = elems(graph.input_shape), elems(graph.output_shape)
    return "\n".join([
        '#include "kernels.h"',
        "",
        *weights,
        *buffers,
        "static const float *g_in;",
        "static float *g_out;",
        f"float model_input[{n_in}];",
        f"float model_output[{n_out}];",
        "",
        *layers,
        "void model_run(const float *in, float *out)\n{",
        "    g_in = in;",
        "    g_out = out;",
        *calls,
        "}",
        "",
    ])
