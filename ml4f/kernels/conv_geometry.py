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
    def column_runs(self):
        """Consecutive output columns sharing a kx range: (ox0, count, kx0, kx1)."""
        runs = []
        for ox in range(self.OW):
            kr = self.kx_range(ox)
            if runs and tuple(runs[-1][2:]) == kr:
                runs[-1][1] += 1
            else:
                runs.append([ox, 1, *kr])
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
    for ox0 in range(0, g.OW, p):
        q = min(p, g.OW - ox0)
        ranges = tuple(g.kx_range(ox0 + i) for i in range(q))
        if tiles and tiles[-1][2:] == [q, ranges]:
            tiles[-1][1] += 1
        else:
            tiles.append([ox0, 1, q, ranges])
    return [tuple(t) for t in tiles]


def window_columns(g: Geometry, ranges) -> list[int]:
    """Input columns (relative to the tile's first window) a tile reads."""
    return sorted({q * g.sw + kx * g.dw for q, (k0, k1) in enumerate(ranges) for kx in range(k0, k1)})
