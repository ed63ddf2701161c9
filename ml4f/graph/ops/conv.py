"""Convolution ops."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..shapes import hwc, row_groups, transposed_taps, valid_taps
from .base import LINEAR, Activation, FusedResidual, Op, RowAccess, elems, window_access


#: pixels a group of channel passes covers at least (Conv2D.pass_rows): each
#: group reloads the weights of every block, about 30 cycles, against about
#: 47 cycles per pixel and block
PASS_GROUP_PIXELS = 128


@dataclass
class Conv2D(FusedResidual, Op):
    """Convolution (also 1-D convolutions as H = 1).  kernel: (KH, KW, Cin, Cout)."""

    kernel: np.ndarray = None
    bias: np.ndarray | None = None
    strides: tuple[int, int] = (1, 1)
    dilation: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)     # top, left, bottom, right
    activation: Activation = LINEAR
    residual: str = ""            # a merge fused into the store (RESIDUAL_MODES), inputs[1]
    channel_passes: bool = False  # 1x1: a pass over a group of rows per block of output channels (pointwise.py)

    kind = "conv2d"
    WEIGHTS = ("kernel",)
    FLOAT32 = ("bias",)

    def macs(self) -> int:
        kh, kw, cin, cout = self.kernel.shape
        return elems(self.out_shape) * kh * kw * cin

    def row_access(self) -> RowAccess:
        """With channel_passes every row of a group of pass_rows() reads the whole
        group's input rows: each pass over the group reads them again after the
        first pass has stored (rows top to bottom only)."""
        access = window_access(self, self.kernel.shape[0], self.strides[0], self.dilation[0],
                               self.pads[0], reversible=not self.channel_passes)
        if not self.channel_passes:
            return access
        n, rows = self.pass_rows(), access.rows
        grouped = [(rows[y - y % n][0], rows[min(y - y % n + n, len(rows)) - 1][1])
                   for y in range(len(rows))]
        return dataclasses.replace(access, rows=tuple(grouped))

    def pass_rows(self) -> int:
        """Output rows per group of channel passes: at least PASS_GROUP_PIXELS pixels."""
        oh, ow, _ = hwc(self.out_shape)
        return min(oh, -(-PASS_GROUP_PIXELS // ow))

    def weight_arrays(self):
        return [self.kernel] + ([self.bias] if self.bias is not None else [])

    def writes_pixels_apart(self) -> bool:
        return not self.residual         # a fused merge reads its operand with the same strides



#: Winograd's minimal filtering F(m, 3) per axis: m -> (B^T, G, A^T) (Lavin & Gray,
#: "Fast Algorithms for Convolutional Neural Networks", 2016); m = 1 is the trivial
#: axis of a 1-D convolution (alpha = 1).  Output tile y = A^T [(G g) * (B^T d)].
WINOGRAD = {
    1: (np.array([[1.0]]), np.array([[1.0]]), np.array([[1.0]])),
    2: (np.array([[1.0, 0.0, -1.0, 0.0], [0.0, 1.0, 1.0, 0.0],
                  [0.0, -1.0, 1.0, 0.0], [0.0, 1.0, 0.0, -1.0]]),
        np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]]),
        np.array([[1.0, 1.0, 1.0, 0.0], [0.0, 1.0, -1.0, -1.0]])),
    4: (np.array([[4.0, 0.0, -5.0, 0.0, 1.0, 0.0], [0.0, -4.0, -4.0, 1.0, 1.0, 0.0],
                  [0.0, 4.0, -4.0, -1.0, 1.0, 0.0], [0.0, -2.0, -1.0, 2.0, 1.0, 0.0],
                  [0.0, 2.0, -1.0, -2.0, 1.0, 0.0], [0.0, 4.0, 0.0, -5.0, 0.0, 1.0]]),
        np.array([[1 / 4, 0.0, 0.0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
                  [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0.0, 0.0, 1.0]]),
        np.array([[1.0, 1.0, 1.0, 1.0, 1.0, 0.0], [0.0, 1.0, -1.0, 2.0, -2.0, 0.0],
                  [0.0, 1.0, 1.0, 4.0, 4.0, 0.0], [0.0, 1.0, -1.0, 8.0, -8.0, 1.0]])),
}


def winograd_transform(kernel: np.ndarray, tile: tuple[int, int]) -> np.ndarray:
    """U = G_y g G_x^T per (input, output) channel, in float64: (alpha_y, alpha_x, Cin, Cout)."""
    gy, gx = WINOGRAD[tile[0]][1], WINOGRAD[tile[1]][1]
    return np.einsum("ak,kjcd,bj->abcd", gy, np.asarray(kernel, np.float64), gx)


@dataclass
class WinogradConv2D(Conv2D):
    """A stride-1, dilation-1 convolution with a kernel of 3 along each axis it
    slides on, computed by Winograd's minimal filtering F(m, 3) per axis (1-D
    as H = 1: the y axis is trivial).  `transformed` holds U = G g G^T per
    (input, output) channel: (alpha_y, alpha_x, Cin, Cout); it is what the
    code reads (and what float16 rounds); `kernel` keeps the original only
    for the geometry and the MAC count.  `tiles` x `block`: the element-wise
    stage's register tile (tiles of m_y x m_x outputs x output channels),
    which sizes the op's scratch."""

    transformed: np.ndarray = None
    tile: tuple[int, int] = (2, 2)        # outputs per tile (m_y, m_x)
    tiles: int = 4                        # tiles per group (the GEMM tile's rows)
    block: int = 4                        # output channels per block
    cblock: int = 1                       # input channels per block of the scratch layout

    kind = "winograd"
    WEIGHTS = ("transformed",)
    FLOAT32 = ("bias",)

    @property
    def alpha(self) -> tuple[int, int]:
        return tuple(int(d) for d in self.transformed.shape[:2])

    def scratch_bytes(self) -> int:
        """The input transforms of one group of tiles (every input channel) and
        the element-wise products of one block (every position)."""
        positions = self.alpha[0] * self.alpha[1]
        cin = self.kernel.shape[2]
        return 4 * positions * self.tiles * (cin + self.block)

    def row_access(self) -> RowAccess:
        """Output rows are made a tile row at a time (top to bottom only): each
        row of a tile row reads the whole tile row's input window."""
        h, w, c = hwc(self.in_shape)
        oh, ow, oc = hwc(self.out_shape)
        my = self.tile[0]
        rows = []
        for y in range(oh):
            y0 = (y // my) * my - self.pads[0]
            lo, hi = max(0, y0), min(h - 1, y0 + self.alpha[0] - 1)
            rows.append((lo, hi) if hi >= lo else (0, -1))
        return RowAccess(4 * w * c, 4 * ow * oc, tuple(rows), reversible=False)

    def weight_arrays(self):
        return [self.transformed] + ([self.bias] if self.bias is not None else [])

    def rows_made_together(self) -> int:
        return self.tile[0]

    def reads_window_rows_apart(self) -> bool:
        return True                      # a row pointer per window row (the strip table's)

    def writes_pixels_apart(self) -> bool:
        return False                     # the output transform stores dense tiles


@dataclass
class DepthwiseConv2D(FusedResidual, Op):
    """Depthwise convolution: every input channel c convolved with its own
    depth_multiplier filters; output channel c*M + m.  kernel: (KH, KW, C, M)."""

    kernel: np.ndarray = None
    bias: np.ndarray | None = None
    strides: tuple[int, int] = (1, 1)
    dilation: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    activation: Activation = LINEAR
    residual: str = ""            # a merge fused into the store (RESIDUAL_MODES), inputs[1]
    row_pairs: bool = False       # full rows made two per pass even over its input (depthwise_pairs.py)
    channels_outer: bool = False  # its output apart from its input: channel groups may run outermost (depthwise_pairs.py)

    kind: ClassVar[str] = "depthwise"
    WEIGHTS: ClassVar[tuple[str, ...]] = ("kernel",)
    FLOAT32: ClassVar[tuple[str, ...]] = ("bias",)

    def macs(self) -> int:
        kh, kw = self.kernel.shape[:2]
        return elems(self.out_shape) * kh * kw

    def row_access(self) -> RowAccess | None:
        """With row_pairs, both rows of a pair read the pair's whole window (both
        are stored while it is read); with channels_outer, none (the kernel may
        write every row of a channel before reading the next channel's rows, so
        the output must not overlap the input)."""
        return None if self.channels_outer else self.stream_access()

    def stream_access(self) -> RowAccess:
        access = window_access(self, self.kernel.shape[0], self.strides[0], self.dilation[0],
                               self.pads[0], reversible=True)
        if not self.row_pairs:
            return access
        rows = list(access.rows)
        for kind, y in row_groups(self.full_rows(), True):
            if kind == "pair":
                rows[y] = rows[y + 1] = (rows[y][0], rows[y + 1][1])
        return dataclasses.replace(access, rows=tuple(rows))

    def full_rows(self) -> list[bool]:
        """Per output row: whether its window sees all kernel rows (no padding rows)."""
        h = hwc(self.in_shape)[0]
        kh = self.kernel.shape[0]
        return [valid_taps(y, self.strides[0], self.pads[0], self.dilation[0], kh, h) == (0, kh)
                for y in range(hwc(self.out_shape)[0])]

    def weight_arrays(self):
        return [self.kernel] + ([self.bias] if self.bias is not None else [])


@dataclass
class Conv2DTranspose(Op):
    """Transposed convolution (also 1-D as H = 1).  kernel: (KH, KW, Cin, Cout)
    (Keras stores (KH, KW, Cout, Cin)); output position o receives
    x[i] * kernel[t] wherever i * stride + t == o + crops (per axis), so
    output positions no tap reaches hold the bias."""

    kernel: np.ndarray = None
    bias: np.ndarray | None = None
    strides: tuple[int, int] = (1, 1)
    crops: tuple[int, int] = (0, 0)          # top, left
    activation: Activation = LINEAR

    kind: ClassVar[str] = "conv_transpose"
    WEIGHTS: ClassVar[tuple[str, ...]] = ("kernel",)
    FLOAT32: ClassVar[tuple[str, ...]] = ("bias",)

    def macs(self) -> int:
        """Useful MACs: the products that land inside the output."""
        kh, kw, cin, cout = self.kernel.shape
        h, w, _ = hwc(self.in_shape)
        oh, ow, _ = hwc(self.out_shape)
        return (transposed_taps(h, oh, kh, self.strides[0], self.crops[0])
                * transposed_taps(w, ow, kw, self.strides[1], self.crops[1]) * cin * cout)

    def weight_arrays(self):
        return [self.kernel] + ([self.bias] if self.bias is not None else [])
