"""Base of the ops of the compiler's graph: concrete shapes, numpy weights, no Keras and no Thumb.

Tensors are float32, channels last, batch dimension dropped.  Spatial ops see
their tensors as (H, W, C); 1-D layers are mapped to H = 1.
"""
from __future__ import annotations

from functools import lru_cache

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from ..shapes import hwc, rows_read

# keras.activations.selu
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
# hard_sigmoid = clip((x + c) * a, 0, 1): Keras 3 relu6(x + 3) / 6, Keras 2 clip(0.2 x + 0.5, 0, 1)
HARD_SIGMOID = {"keras3": (3.0, 1.0 / 6.0), "keras2": (2.5, 0.2)}


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

    @property
    def is_plain_relu(self) -> bool:
        """max(x, 0): no slope, threshold or clip."""
        return (self.kind == "relu" and self.alpha == 0 and self.threshold == 0
                and self.max_value is None)

    @property
    def nonnegative(self) -> bool:
        """Every output is >= +0 (or NaN), whatever the input."""
        if self.kind == "relu":
            return self.alpha == 0 and self.threshold >= 0
        return self.kind in ("sigmoid", "hard_sigmoid", "softplus", "exponential")


LINEAR = Activation()
RELU = Activation("relu")

#: a merge fused into a producer's store: mode -> what it computes of the
#: producer's result a and the other operand b (inputs[1])
RESIDUAL_MODES = {"add": "a + b", "sub": "a - b", "rsub": "b - a", "mul": "a * b",
                  "avg": "(a + b) / 2", "max": "max(a, b)", "min": "min(a, b)"}


class FusedResidual:
    """Mixin of the ops that can take a two-operand merge into their store
    (`residual`, the other operand being inputs[1]); the result may then be
    written over that operand when it dies there (it is read element by
    element right before the same element is stored)."""

    residual: str
    # the first input is read through windows: the output may not take a buffer it lives in
    inplace_over_other_inputs: ClassVar[bool] = False

    def inplace_inputs(self) -> list[int]:
        return [1] if self.residual else []


@dataclass(frozen=True)
class RowAccess:
    """How a windowed op walks its tensors: output row y is computed from input
    rows rows[y] = (lo, hi) of its first input; its kernel runs the output rows
    in order (or, if `reversible`, bottom to top when asked) and reads no input
    row outside the windows of the rows still to come.  The arena planner uses
    it to let the output overlap the input behind the read front."""

    in_row_bytes: int
    out_row_bytes: int
    rows: tuple            # ((lo, hi), ...) per output row; (0, -1): padding only
    reversible: bool = False


#: op kind -> op class, filled as the op modules are imported
OP_CLASSES: dict[str, type] = {}


@dataclass
class Op:
    """Base op: one output tensor computed from input tensors."""

    name: str                     # the Keras layer path name(s) it comes from
    layer_class: str
    inputs: list[str]             # tensor names
    output: str
    in_shapes: list[tuple[int, ...]]
    out_shape: tuple[int, ...]

    kind: ClassVar[str] = "op"              # the op's one name (report, tables); unique per class
    inplace: ClassVar[bool] = False         # may write its output over its (dying) first input
    # in place also where another input shares that buffer (element-wise readers)
    inplace_over_other_inputs: ClassVar[bool] = True
    WEIGHTS: ClassVar[tuple[str, ...]] = ()  # array fields stored in the weight type (f32 or f16)
    FLOAT32: ClassVar[tuple[str, ...]] = ()  # array fields always stored as float32

    def __init_subclass__(cls, **kw) -> None:
        super().__init_subclass__(**kw)
        other = OP_CLASSES.setdefault(cls.kind, cls)
        if other is not cls and other.__qualname__ != cls.__qualname__:
            raise TypeError(f"op kind {cls.kind!r} of {cls.__name__} is taken by {other.__name__}")
        OP_CLASSES[cls.kind] = cls

    @property
    def in_shape(self) -> tuple[int, ...]:
        return self.in_shapes[0]

    def row_access(self) -> RowAccess | None:
        """The op's row-by-row access pattern, for ops that have one."""
        return None

    def stream_access(self) -> RowAccess | None:
        """The access pattern inside a streamed region (streaming.py): the
        windowed ops' row access; element-wise ops read the row they write."""
        return self.row_access()

    def rows_made_together(self) -> int:
        """Output rows its kernel makes in one pass inside a streamed region
        (streaming.py makes them together; their ring holds whole groups)."""
        return 1

    def reads_window_rows_apart(self) -> bool:
        """Whether its kernel, inside a streamed region, addresses each row of its
        window by itself (a ring it reads then needs no repeated rows for it)."""
        return False

    def map_arrays(self, fn) -> "Op":
        """A copy with fn(field, array, stored_as_weights) applied to each array
        (WEIGHTS: in the weight type, f32 or f16; FLOAT32: always float32)."""
        import dataclasses
        changes = {}
        for name in self.WEIGHTS + self.FLOAT32:
            arr = getattr(self, name)
            if arr is not None:
                changes[name] = fn(name, arr, name in self.WEIGHTS)
        return dataclasses.replace(self, **changes)

    def scratch_bytes(self) -> int:
        """Arena bytes the op needs for itself while it runs (beyond its tensors)."""
        return 0

    def writes_pixels_apart(self) -> bool:
        """Whether the op's kernel can write its output pixels further apart than
        its channels (into its channel slice of a concatenation, plan.py)."""
        return False

    def overlap_offsets(self):
        """(forward, reverse) offsets at which the output may overlap inputs[0]
        behind its read front (see plan.overlap_offsets), or None."""
        access = self.row_access()
        if access is None:
            return None
        return overlap_offsets(access, 4 * elems(self.in_shapes[0]), 4 * elems(self.out_shape))

    def inplace_inputs(self) -> list[int]:
        """The inputs whose buffer the output may take when they die here."""
        if not self.inplace:
            return []
        return list(range(len(self.inputs))) if getattr(self, "inplace_any_input", False) else [0]

    def nonnegative(self, inputs: list[bool]) -> bool:
        """Every output value is >= +0 (or NaN), given which inputs are known to be."""
        act = getattr(self, "activation", None)
        return act is not None and act.nonnegative

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


def window_access(op: Op, k: int, stride: int, dilation: int, pad: int,
                  reversible: bool) -> RowAccess:
    """The RowAccess of an op sliding a window of k rows over its (H, W, C) input."""
    h, w, c = hwc(op.in_shape)
    oh, ow, oc = hwc(op.out_shape)
    return RowAccess(4 * w * c, 4 * ow * oc, rows_read(h, oh, k, stride, dilation, pad),
                     reversible)


@lru_cache(maxsize=4096)         # the planner asks again for every candidate plan
def overlap_offsets(access, x_bytes: int, y_bytes: int) -> tuple[int, int | None]:
    """(forward, reverse): the highest offset of the output below the input, and
    the lowest above it, at which output rows are written behind the read front
    (see RowAccess): row y of the output must end before the first input row
    still to be read (rows top to bottom), or start after the last one (bottom
    to top)."""
    rx, ry, rows = access.in_row_bytes, access.out_row_bytes, access.rows
    forward, first = x_bytes, None
    for y in range(len(rows) - 1, -1, -1):         # first input row read from row y on
        lo, hi = rows[y]
        if hi >= lo:
            first = lo if first is None else min(first, lo)
        if first is not None:
            forward = min(forward, first * rx - (y + 1) * ry)
    if not access.reversible:
        return forward, None
    reverse, last = -y_bytes, None
    for y in range(len(rows)):                     # last input row read from row y down
        lo, hi = rows[y]
        if hi >= lo:
            last = hi if last is None else max(last, hi)
        if last is not None:
            reverse = max(reverse, (last + 1) * rx - y * ry)
    return forward, reverse
