"""Recurrent layers: LSTM, GRU, SimpleRNN, Bidirectional around one of them,
TimeDistributed around a layer that works frame by frame; Masking refused.

Inference only and stateless: dropout, recurrent_dropout, unroll and
implementation do not change what a layer computes and are ignored; options
that do (stateful, return_state, time_major, masks) are refused by name."""
from __future__ import annotations

import numpy as np

from .. import keras_config as kc
from ...model.records import Layer
from ..ops import LINEAR, Elementwise, Softmax
from ..ops.frames import Frames
from ..ops.merge import Concat, Merge
from ..ops.recurrent import GATES, Recurrent
from ..registry import Converted, converter, converters, flag, kind_of, named_weights

RECURRENT = {"LSTM": "lstm", "GRU": "gru", "SimpleRNN": "simple_rnn"}
GATE_ACTIVATIONS = ("tanh", "sigmoid", "hard_sigmoid", "relu", "linear")
#: Bidirectional merge_mode -> the merge of the two directions (None: refused)
MERGES = {"concat": None, "sum": "add", "mul": "mul", "ave": "avg"}
#: options that change the result and are not compiled (each refused when on)
REFUSED_FLAGS = {
    "stateful": "stateful=True is not supported (the compiled layer is stateless, its state "
                "starts at zero on every call)",
    "return_state": "return_state=True is not supported (a layer has one output)",
    "time_major": "time_major=True is not supported (inputs are (batch, time, features))",
}


def _weight_names(config: dict) -> list[str]:
    return ["kernel", "recurrent_kernel"] + (["bias"] if flag(config, "use_bias") else [])


def _activation(layer: Layer, key: str, default: str):
    name = kc.activation_name(layer, layer.config.get(key, default))
    if name not in GATE_ACTIVATIONS:
        choices = ", ".join(GATE_ACTIVATIONS)
        raise kc.unsupported(layer, f"unsupported {key} '{name}' (supported: {choices})", key, name)
    return kc.KERAS_ACTIVATIONS[name]


def _reset_after(layer: Layer, bias) -> bool:
    """GRU's reset_after as stated, else as the bias shape tells (Keras 2 files from before
    the option existed computed reset_after=False)."""
    value = layer.config.get("reset_after")
    if value is not None:
        return bool(value)
    return bias is not None and bias.ndim == 2


def recurrent_op(layer: Layer, in_shape, tin: str, tout: str, *,
                 reverse_output: bool = False) -> Recurrent:
    """The op of one LSTM / GRU / SimpleRNN layer (its weights already read)."""
    cell = RECURRENT[layer.class_name]
    for key, message in REFUSED_FLAGS.items():
        if flag(layer.config, key, False):
            raise kc.unsupported(layer, message, key, True)
    if len(in_shape) != 2:
        raise kc.unsupported(layer, f"input shape {list(in_shape)} must be (timesteps, features)")
    steps, n = in_shape
    u = kc.integer(layer, "units")
    w = named_weights(layer)
    g = GATES[cell]
    kernel, rec, bias = w["kernel"], w["recurrent_kernel"], w.get("bias")
    if kernel.shape != (n, g * u) or rec.shape != (u, g * u):
        raise kc.unsupported(layer, f"kernel {kernel.shape} / recurrent_kernel {rec.shape} do "
                             f"not fit input {list(in_shape)} and units={u}")
    reset_after = cell == "gru" and _reset_after(layer, bias)
    want = (2, g * u) if reset_after else (g * u,)
    if bias is not None and bias.shape != want:
        raise kc.unsupported(layer, f"bias has shape {bias.shape}, expected {want}")
    act = _activation(layer, "activation", "tanh")
    gate = (_activation(layer, "recurrent_activation", "sigmoid") if cell != "simple_rnn"
            else kc.KERAS_ACTIVATIONS["sigmoid"])
    seq = flag(layer.config, "return_sequences", False)
    out_shape = (steps, u) if seq else (u,)
    return Recurrent(layer.name, layer.class_name, [tin], tout, [tuple(in_shape)], out_shape,
                     cell=cell, units=u, kernel=kernel, recurrent_kernel=rec, bias=bias,
                     cell_activation=act, gate_activation=gate, reset_after=reset_after,
                     return_sequences=seq, go_backwards=flag(layer.config, "go_backwards", False),
                     reverse_output=reverse_output)


@converter(*RECURRENT, weights=_weight_names)
def _recurrent(layer, in_shape, tin, tout):
    op = recurrent_op(layer, in_shape, tin, tout)
    return Converted(op.out_shape, [op])


@converter("Masking")
def _masking(layer, in_shape, tin, tout):
    raise kc.unsupported(layer, "masking is not supported (recurrent layers run over every "
                         "timestep); remove the Masking layer to compute every step",
                         "mask_value", kc.get(layer, "mask_value"))


# ---------------------------------------------------------------- Bidirectional
def _inner(layer: Layer, key: str) -> tuple[str, dict]:
    entry = kc.get(layer, key)
    if not isinstance(entry, dict) or not isinstance(entry.get("config"), dict):
        raise kc.unsupported(layer, f"'{key}' is not a layer configuration", key)
    cls = entry.get("class_name")
    if cls not in RECURRENT:
        raise kc.unsupported(layer, f"{layer.class_name} around {cls} is not supported "
                             f"(supported: {', '.join(RECURRENT)})", key, cls)
    return cls, dict(entry["config"])


def _directions(config: dict) -> list[tuple[str, dict]]:
    """(class name, config) of the forward and the backward layer.  Keras 2 derives the
    backward layer from the forward one (go_backwards flipped); Keras 3 stores it."""
    fwd = config.get("layer") if isinstance(config.get("layer"), dict) else {}
    bwd = config.get("backward_layer")
    fcfg = dict(fwd.get("config") or {})
    if not isinstance(bwd, dict):
        bwd = {"class_name": fwd.get("class_name"),
               "config": {**fcfg, "go_backwards": not flag(fcfg, "go_backwards", False)}}
    return [(fwd.get("class_name"), fcfg), (bwd.get("class_name"), dict(bwd.get("config") or {}))]


def _bidirectional_weights(config: dict) -> list[str]:
    return [f"{side}_{name}" for side, (_, cfg) in zip(("forward", "backward"), _directions(config))
            for name in _weight_names(cfg)]


@converter("Bidirectional", weights=_bidirectional_weights)
def _bidirectional(layer, in_shape, tin, tout):
    mode = kc.get(layer, "merge_mode", "concat")
    if mode not in MERGES:
        raise kc.unsupported(layer, f"unsupported merge_mode={mode!r} (supported: "
                             f"{', '.join(repr(m) for m in MERGES)}; None has two outputs)",
                             "merge_mode", mode)
    _inner(layer, "layer")
    if kc.get(layer, "backward_layer") is not None:
        _inner(layer, "backward_layer")
    w = named_weights(layer)
    ops = []
    for side, (cls, cfg) in zip(("forward", "backward"), _directions(layer.config)):
        names = _weight_names(cfg)
        inner = Layer(f"{layer.name}/{side}", cls, cfg, [w[f"{side}_{n}"] for n in names])
        # the backward layer's sequence is put back in time order, as Keras does
        ops.append(recurrent_op(inner, in_shape, tin, f"{layer.name}:{side}",
                                reverse_output=side == "backward"))
    fwd, bwd = ops
    if fwd.return_sequences != bwd.return_sequences or fwd.units != bwd.units:
        raise kc.unsupported(layer, "the backward layer differs from the forward one in units "
                             "or return_sequences", "backward_layer")
    shape = fwd.out_shape
    names, shapes = [fwd.output, bwd.output], [shape, shape]
    if MERGES[mode] is None:
        out = shape[:-1] + (2 * shape[-1],)
        merge = Concat(layer.name, layer.class_name, names, tout, shapes, out, axis=len(shape) - 1)
    else:
        out = shape
        merge = Merge(layer.name, layer.class_name, names, tout, shapes, out, mode=MERGES[mode])
    return Converted(out, ops + [merge])


# ---------------------------------------------------------------- TimeDistributed
#: layers applied frame by frame as they are: they act on the last axis or element-wise
FRAMEWISE = ("Dense", "Activation", "ReLU", "LeakyReLU", "ELU", "Softmax", "Dropout",
             "GaussianNoise", "GaussianDropout", "AlphaDropout")
#: 1-D layers over (T, L, C): the 2-D layer with a window one frame high
AS_2D = {"Conv1D": "Conv2D", "MaxPooling1D": "MaxPooling2D",
         "AveragePooling1D": "AveragePooling2D"}
ONE_HIGH = ("kernel_size", "strides", "dilation_rate", "pool_size")
#: layers whose op runs on each frame in turn (a Frames op)
FRAME_BY_FRAME = ("Conv2D", "DepthwiseConv2D", "MaxPooling2D", "AveragePooling2D",
                  "GlobalMaxPooling1D", "GlobalAveragePooling1D", "GlobalMaxPooling2D",
                  "GlobalAveragePooling2D", "ZeroPadding2D", "UpSampling2D")


def _time_distributed_weights(config: dict):
    """The inner layer's weights, as its kind declares them."""
    entry = config.get("layer") if isinstance(config.get("layer"), dict) else {}
    kind = converters().get(entry.get("class_name"))
    return kind.weights(dict(entry.get("config") or {})) if kind else []


def _one_high(value, default):
    v = default if value is None else value
    v = v[0] if isinstance(v, (list, tuple)) and len(v) == 1 else v
    return [1, v]


@converter("TimeDistributed", weights=_time_distributed_weights)
def _time_distributed(layer, in_shape, tin, tout):
    entry = kc.get(layer, "layer")
    if not isinstance(entry, dict) or not isinstance(entry.get("config"), dict):
        raise kc.unsupported(layer, "'layer' is not a layer configuration", "layer")
    cls, cfg = entry.get("class_name"), dict(entry["config"])
    steps, frame = in_shape[0], tuple(in_shape[1:])
    name = f"{layer.name}/{cfg.get('name', cls)}"
    if cls == "Flatten":
        return Converted((steps, int(np.prod(frame))), [])
    if cls in FRAMEWISE:
        inner = Layer(name, cls, cfg, list(layer.weights))
        return kind_of(inner).convert(inner, in_shape, tin, tout)
    if cls in AS_2D and len(frame) == 2:
        if cfg.get("padding") == "causal":
            raise kc.unsupported(layer, "TimeDistributed(Conv1D) with padding='causal' is not "
                                 "supported", "padding", "causal")
        cfg2 = dict(cfg)
        for key in ONE_HIGH:
            if key in cfg2 or key in ("kernel_size", "pool_size"):
                cfg2[key] = _one_high(cfg2.get(key), 2 if key == "pool_size" else 1)
        if "strides" in cfg and cfg["strides"] is None:         # pooling: strides = pool_size
            cfg2["strides"] = cfg2["pool_size"]
        weights = list(layer.weights)
        if weights:
            weights[0] = weights[0].reshape((1,) + weights[0].shape)
        inner = Layer(name, AS_2D[cls], cfg2, weights)
        return kind_of(inner).convert(inner, in_shape, tin, tout)
    if cls in FRAME_BY_FRAME:
        return _frame_by_frame(layer, Layer(name, cls, cfg, list(layer.weights)), in_shape,
                               tin, tout)
    raise kc.unsupported(layer, f"TimeDistributed around {cls} is not supported (supported: "
                         f"{', '.join(FRAMEWISE + tuple(AS_2D) + ('Flatten',) + FRAME_BY_FRAME)})",
                         "layer", cls)


def _frame_by_frame(layer: Layer, inner: Layer, in_shape, tin, tout) -> Converted:
    """The inner layer's op run on each frame (a Frames op); an activation the inner
    layer applies after its op (a softmax, or any activation but a plain relu) runs
    over the whole sequence after it."""
    steps, frame = in_shape[0], tuple(in_shape[1:])
    res = kind_of(inner).convert(inner, frame, f"{tin}:frame", f"{tout}:frame")
    if not res.ops:
        return Converted((steps,) + tuple(res.out_shape), [])
    op, after = res.ops[0], res.ops[1:]
    act = getattr(op, "activation", None)
    if act is not None and not act.is_linear and not act.is_plain_relu:
        after.insert(0, Elementwise(op.name, op.layer_class, [op.output], op.output, [op.out_shape],
                                    op.out_shape, activation=act))
        op.activation = LINEAR
    if any(not isinstance(o, (Elementwise, Softmax)) for o in after):
        raise kc.unsupported(layer, f"TimeDistributed around {inner.class_name} with these "
                             "options is not supported", "layer", inner.class_name)
    shape = (steps,) + tuple(op.out_shape)
    mid = f"{tout}:frames" if after else tout
    ops = [Frames(layer.name, layer.class_name, [tin], mid, [tuple(in_shape)], shape, inner=op)]
    for k, o in enumerate(after):
        src, dst = ops[-1].output, tout if k == len(after) - 1 else f"{tout}:{k}"
        ops.append(type(o)(layer.name, layer.class_name, [src], dst, [shape], shape,
                           **({"activation": o.activation} if isinstance(o, Elementwise) else {})))
    return Converted(shape, ops)
