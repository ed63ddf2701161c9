"""Base of the ops of the compiler's graph: concrete shapes, numpy weights, no Keras and no Thumb.

Tensors are float32, channels last, batch dimension dropped.  Spatial ops see
their tensors as (H, W, C); 1-D layers are mapped to H = 1.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np


def elems(shape) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


@dataclass(frozen=True)
class Activation:
    """An element-wise activation: applied to an op's result before it is
    stored (the FUSABLE kinds), or as an op of its own.

    kind: linear, relu (with alpha = negative slope, max_value, threshold:
    relu6 and leaky_relu are relus), hard_sigmoid, hard_silu, hard_tanh,
    sigmoid, silu, tanh, exponential, softplus, log_sigmoid, softsign,
    elu (alpha), selu, gelu, mish.
    variant: hard_sigmoid "keras3" (relu6(x + 3) / 6) or "keras2"
    (clip(0.2 x + 0.5, 0, 1)), by the generation that wrote the file;
    gelu "erf" (exact) or "tanh" (the tanh approximation)."""

    kind: str = "linear"
    alpha: float = 0.0
    max_value: float | None = None
    threshold: float = 0.0
    variant: str = ""

    # piecewise linear: a few instructions per value in the producer's store
    FUSABLE: ClassVar[frozenset] = frozenset({"linear", "relu", "hard_sigmoid", "hard_tanh",
                                              "hard_silu"})

    @property
    def is_linear(self) -> bool:
        return self.kind == "linear"

    @property
    def fusable(self) -> bool:
        return self.kind in self.FUSABLE


LINEAR = Activation()
RELU = Activation("relu")


@dataclass
class Op:
    """Base op: one output tensor computed from input tensors."""

    name: str                     # the Keras layer path name(s) it comes from
    layer_class: str
    inputs: list[str]             # tensor names
    output: str
    in_shapes: list[tuple[int, ...]]
    out_shape: tuple[int, ...]

    kind: ClassVar[str] = "op"
    inplace: ClassVar[bool] = False         # may write its output over its (dying) first input
    WEIGHTS: ClassVar[tuple[str, ...]] = ()  # array fields stored in the weight type (f32 or f16)
    FLOAT32: ClassVar[tuple[str, ...]] = ()  # array fields always stored as float32

    @property
    def in_shape(self) -> tuple[int, ...]:
        return self.in_shapes[0]

    def macs(self) -> int:
        return 0

    def weight_arrays(self) -> list[np.ndarray]:
        return []


@dataclass
class Graph:
    input: str
    output: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    ops: list[Op] = field(default_factory=list)
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def consumers(self, tensor: str) -> list[Op]:
        return [op for op in self.ops if tensor in op.inputs]

    def macs(self) -> int:
        return sum(op.macs() for op in self.ops)
