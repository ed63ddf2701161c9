"""Where a convolution or pooling window meets the input: output sizes, the
valid kernel range of every output row and column (padding is skipped, never
copied), and runs of output columns sharing a range."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from ..graph.shapes import hwc, valid_taps


@dataclass(frozen=True)
class Geometry:
    H: int
    W: int
    cin: int
    OH: int
    OW: int
    cout: int
    KH: int
    KW: int
    sh: int
    sw: int
    dh: int
    dw: int
    pt: int
    pl: int

    @staticmethod
    def of(op) -> "Geometry":
        """Geometry of a convolution-like op (kernel shape (KH, KW, ...))."""
        h, w, cin = hwc(op.in_shape)
        oh, ow, cout = hwc(op.out_shape)
        kh, kw = op.kernel.shape[:2]
        return Geometry(h, w, cin, oh, ow, cout, kh, kw, op.strides[0], op.strides[1],
                        op.dilation[0], op.dilation[1], op.pads[0], op.pads[1])

    def k_range(self, o: int, stride: int, pad: int, dil: int, k: int, size: int):
        return valid_taps(o, stride, pad, dil, k, size)

    def ky_range(self, oy):
        return self.k_range(oy, self.sh, self.pt, self.dh, self.KH, self.H)

    def kx_range(self, ox):
        return self.k_range(ox, self.sw, self.pl, self.dw, self.KW, self.W)

    @cache
    def interior(self) -> tuple[int, int]:
        """Output columns [lo, hi) whose window lies wholly inside the input (all KW taps);
        only the columns outside it need their range computed (long 1-D inputs have
        millions of columns)."""
        lo = -(-self.pl // self.sw)
        hi = min(self.OW, (self.W - 1 - (self.KW - 1) * self.dw + self.pl) // self.sw + 1)
        return (lo, hi) if hi > lo else (0, 0)

    def border_columns(self):
        """The output columns outside the interior, in order."""
        lo, hi = self.interior()
        return [*range(0, lo), *range(max(hi, lo), self.OW)] if hi > lo else range(self.OW)

    @cache
    def column_runs(self):
        """Consecutive output columns sharing a kx range: (ox0, count, kx0, kx1)."""
        runs = []
        lo, hi = self.interior()

        def add(ox, n, kr):
            if runs and tuple(runs[-1][2:]) == kr:
                runs[-1][1] += n
            else:
                runs.append([ox, n, *kr])
        ox = 0
        while ox < self.OW:
            if ox == lo and hi > lo:
                add(ox, hi - lo, (0, self.KW))
                ox = hi
                continue
            add(ox, 1, self.kx_range(ox))
            ox += 1
        return [tuple(r) for r in runs]

    @cache
    def row_ranges(self):
        return [self.ky_range(oy) for oy in range(self.OH)]


def row_tiles(g: Geometry, p: int):
    """Tiles of p pixels along an output row, grouped: (ox0, count, pixels, ranges)
    where `ranges` holds each pixel's valid (kx0, kx1); consecutive identical
    tiles form one loop.  Border pixels share tiles with interior ones: their
    invalid taps are simply not computed (decided at compile time)."""
    tiles = []
    lo, hi = g.interior()
    full = (0, g.KW)

    def add(ox0, n, q, ranges):
        if tiles and tiles[-1][2:] == [q, ranges]:
            tiles[-1][1] += n
        else:
            tiles.append([ox0, n, q, ranges])
    ox0 = 0
    while ox0 < g.OW:
        n = (hi - ox0) // p if lo <= ox0 < hi else 0      # whole tiles of interior pixels
        if n >= 1:
            add(ox0, n, p, (full,) * p)
            ox0 += n * p
            continue
        q = min(p, g.OW - ox0)
        add(ox0, 1, q, tuple(g.kx_range(ox0 + i) for i in range(q)))
        ox0 += p
    return [tuple(t) for t in tiles]


def window_columns(g: Geometry, ranges) -> list[int]:
    """Input columns (relative to the tile's first window) a tile reads."""
    return sorted({q * g.sw + kx * g.dw for q, (k0, k1) in enumerate(ranges) for kx in range(k0, k1)})
