"""Accuracy per layer kind: random configurations of every supported layer,
saved by Keras 3, compiled, run in the emulator and compared with Keras.

    python -m benchmarks.accuracy [--per-kind N] [--out FILE.md]

Prints, per layer kind, the options exercised and the largest error seen with
the measure of ml4f/validate.py (relative, floored at the tensor's RMS).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np  # noqa: E402


def _scaled(model, rng):
    ws = []
    for w in model.get_weights():
        fan_in = int(np.prod(w.shape[:-1])) if w.ndim > 1 else 1
        ws.append((rng.uniform(-1, 1, w.shape) * np.sqrt(3.0 / fan_in)).astype(np.float32))
    model.set_weights(ws)


def _bn_weights(model, rng):
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            layer.set_weights([rng.uniform(0.5, 1.5, w.shape).astype(np.float32)
                               if v.name.endswith(("gamma", "variance")) else
                               rng.uniform(-0.5, 0.5, w.shape).astype(np.float32)
                               for w, v in zip(layer.get_weights(), layer.weights)])


def cases(K, rng):
    """(kind, options text, input shape, layers) for one random configuration of each kind."""
    L = K.layers
    pad = str(rng.choice(["valid", "same"]))
    k = int(rng.integers(1, 5))
    s = int(rng.integers(1, 3))
    c = int(rng.choice([1, 3, 8, 16]))
    act = str(rng.choice(["linear", "relu"]))
    yield ("Conv2D", f"k={k} s={s} {pad} c={c} {act}", (12, 11, c),
           [L.Conv2D(int(rng.choice([4, 8, 17])), k, strides=s, padding=pad, activation=act)])
    yield ("Conv2D dilated", f"k=3 d=2 {pad}", (12, 12, c), [L.Conv2D(8, 3, dilation_rate=2, padding=pad)])
    yield ("Conv1D causal", f"k={k + 1} d={s}", (40, c),
           [L.Conv1D(8, k + 1, dilation_rate=s, padding="causal", activation=act)])
    yield ("DepthwiseConv2D", f"k={k} s={s} {pad} M={s}", (11, 11, c),
           [L.DepthwiseConv2D(k, strides=s, padding=pad, depth_multiplier=s, activation=act)])
    yield ("DepthwiseConv1D", f"k={k} {pad}", (30, c), [L.DepthwiseConv1D(k, padding=pad)])
    yield ("SeparableConv2D", f"k={k} {pad}", (12, 12, c), [L.SeparableConv2D(8, k, padding=pad)])
    yield ("SeparableConv1D", f"k={k} {pad}", (30, c), [L.SeparableConv1D(8, k, padding=pad)])
    yield ("Dense", f"{act}", (int(rng.choice([7, 64, 300])),),
           [L.Dense(int(rng.choice([3, 16, 260])), activation=act)])
    yield ("MaxPooling2D", f"p={k} s={s} {pad}", (10, 9, c), [L.MaxPooling2D(k, s, pad)])
    yield ("AveragePooling2D", f"p={k} s={s} {pad}", (10, 9, c), [L.AveragePooling2D(k, s, pad)])
    yield ("MaxPooling1D / AveragePooling1D", f"p={k} {pad}", (20, c),
           [L.MaxPooling1D(k, padding=pad), L.AveragePooling1D(k, padding=pad)])
    yield ("Global pooling", "max+avg, keepdims", (7, 6, c),
           [L.GlobalMaxPooling2D(keepdims=True), L.GlobalAveragePooling2D()])
    yield ("BatchNormalization", "standalone", (6, 5, c), [L.BatchNormalization()])
    yield ("BatchNormalization", "folded into Conv2D", (8, 8, c), [L.Conv2D(8, 3), L.BatchNormalization()])
    for name in ("relu6", "leaky_relu", "elu", "selu", "sigmoid", "hard_sigmoid", "tanh", "softplus",
                 "softsign", "swish", "gelu", "mish", "exponential", "softmax"):
        yield (f"activation {name}", "", (24,), [L.Activation(name)])
    yield ("ReLU", "max_value, negative_slope, threshold", (24,),
           [L.ReLU(max_value=4.0, negative_slope=0.1, threshold=0.5)])
    yield ("ZeroPadding2D / Cropping2D", "", (6, 7, c), [L.ZeroPadding2D(((1, 2), (0, 3))),
                                                        L.Cropping2D(((1, 0), (2, 1)))])
    yield ("UpSampling2D / Permute", "", (4, 5, c), [L.UpSampling2D((2, 3)), L.Permute((2, 1, 3))])
    yield ("Rescaling", "", (5, c), [L.Rescaling(0.5, offset=-1.0)])
    opad = int(rng.integers(0, s)) if rng.random() < 0.5 and s > 1 else None
    yield ("Conv2DTranspose", f"k={k + 1} s={s + 1} {pad} c={c} {act}", (7, 6, c),
           [L.Conv2DTranspose(int(rng.choice([4, 8, 17])), k + 1, strides=s + 1, padding=pad,
                              activation=act)])
    yield ("Conv1DTranspose", f"k={k} s={s} {pad} output_padding={opad}", (15, c),
           [L.Conv1DTranspose(8, k, strides=s, padding=pad, output_padding=opad)])
    yield ("LayerNormalization", f"C={c * 5}", (3, c * 5),
           [L.LayerNormalization(center=bool(s - 1), scale=bool(k % 2))])
    yield ("UnitNormalization", f"C={c * 5}", (3, c * 5), [L.UnitNormalization()])
    yield ("Softmax", "axis=1 of (5, 4, c)", (5, 4, c), [L.Softmax(axis=1)])


def merges(K, rng):
    L = K.layers
    x = K.Input((6, 6, 4))
    a = L.Conv2D(4, 3, padding="same")(x)
    b = L.Conv2D(4, 1)(x)
    for name in ("Add", "Subtract", "Multiply", "Average", "Maximum"):
        yield (name, "two branches", K.Model(x, getattr(L, name)()([a, b])))
    yield ("Concatenate", "axis=-1", K.Model(x, L.Concatenate()([a, b])))


def run(per_kind: int, out: Path | None) -> int:
    import logging

    import keras as K
    logging.getLogger("absl").setLevel(logging.ERROR)

    from ml4f.api import compile_file
    from ml4f.emulator import Machine
    from ml4f.validate import error

    worst: dict[tuple[str, str], float] = {}
    options: dict[str, set] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(per_kind):
            rng = np.random.default_rng(rep)
            models = [(kind, opt, K.Sequential([K.Input(shape), *layers]))
                      for kind, opt, shape, layers in cases(K, rng)]
            if rep == 0:
                models += list(merges(K, rng))
            for i, (kind, opt, model) in enumerate(models):
                _scaled(model, rng)
                _bn_weights(model, rng)
                path = Path(tmp) / f"m{rep}_{i}.h5"
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model.save(str(path))
                compiled = compile_file(path)
                m = Machine(compiled.object)
                x = rng.standard_normal((4,) + tuple(model.input_shape[1:])).astype(np.float32)
                got = np.stack([m.run(v).output for v in x])
                expected = np.asarray(model(x, training=False))
                err = error(got.reshape(expected.shape), expected)
                worst[kind] = max(worst.get(kind, 0.0), err)
                options.setdefault(kind, set()).add(opt)
                print(f"{kind:34s} {opt:40s} {err:.2e}", file=sys.stderr)
    lines = ["| layer | options exercised | max error vs Keras |", "|---|---|---:|"]
    for kind in worst:
        opts = "; ".join(sorted(o for o in options[kind] if o))
        lines.append(f"| {kind} | {opts} | {worst[kind]:.1e} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if out:
        out.write_text(text)
    return 0 if max(worst.values()) <= 1e-5 else 1


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.accuracy", description=__doc__.split("\n")[0])
    p.add_argument("--per-kind", type=int, default=3, help="random configurations per layer kind")
    p.add_argument("--out", type=Path, help="also write the Markdown table here")
    args = p.parse_args(argv)
    return run(args.per_kind, args.out)


if __name__ == "__main__":
    sys.exit(main())
