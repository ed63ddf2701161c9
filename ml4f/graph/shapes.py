"""Keras shape arithmetic: output sizes and TensorFlow's padding split."""
from __future__ import annotations

from functools import lru_cache


def conv_out_and_pads(size: int, k: int, stride: int, dilation: int, padding: str) -> tuple[int, int, int]:
    """Output length and (before, after) padding of one spatial axis, as TensorFlow computes them.

    `same` splits the total padding floor(total/2) before and the rest after;
    `causal` puts all of it before (Conv1D)."""
    eff = (k - 1) * dilation + 1
    if padding == "valid":
        out = (size - eff) // stride + 1
        return out, 0, 0
    if padding == "same":
        out = -(-size // stride)
        total = max((out - 1) * stride + eff - size, 0)
        return out, total // 2, total - total // 2
    if padding == "causal":
        # Keras pads (k-1)*d on the left, then runs a valid convolution
        padded = size + eff - 1
        out = (padded - eff) // stride + 1
        return out, eff - 1, 0
    raise ValueError(padding)


def hwc(shape: tuple[int, ...]) -> tuple[int, int, int]:
    """View a channels-last tensor shape as (H, W, C)."""
    if len(shape) == 3:
        return tuple(shape)
    if len(shape) == 2:
        return (1, shape[0], shape[1])
    if len(shape) == 1:
        return (1, 1, shape[0])
    raise ValueError(shape)


def valid_taps(o: int, stride: int, pad: int, dilation: int, k: int, size: int) -> tuple[int, int]:
    """The kernel taps [k0, k1) of output position `o` that land inside an input
    of `size` positions (the others read padding)."""
    i = o * stride - pad
    k0 = max(0, -(-(-i) // dilation)) if i < 0 else 0
    k1 = min(k, (size - 1 - i) // dilation + 1)
    return k0, max(k0, k1)


@lru_cache(maxsize=4096)
def rows_read(in_rows: int, out_rows: int, k: int, stride: int, dilation: int,
              pad: int) -> tuple[tuple[int, int], ...]:
    """Per output row, the first and last input row its window reads
    ((0, -1) for a row that sees padding only)."""
    out = []
    for o in range(out_rows):
        k0, k1 = valid_taps(o, stride, pad, dilation, k, in_rows)
        i = o * stride - pad
        out.append((i + k0 * dilation, i + (k1 - 1) * dilation) if k1 > k0 else (0, -1))
    return tuple(out)


def row_groups(full, pairs: bool) -> list[tuple[str, int]]:
    """A windowed kernel's row loop in row order, given which output rows see all
    their kernel rows (`full`): ("edge", y) for a clipped row, ("single", y), or,
    with `pairs`, ("pair", y) for two full rows y, y + 1 made in one pass."""
    out, y = [], 0
    while y < len(full):
        if not full[y]:
            out.append(("edge", y))
            y += 1
        elif pairs and y + 1 < len(full) and full[y + 1]:
            out.append(("pair", y))
            y += 2
        else:
            out.append(("single", y))
            y += 1
    return out


def deconv_out_and_pad(size: int, k: int, stride: int, padding: str,
                       output_padding: int | None) -> tuple[int, int]:
    """Output length and leading crop of one axis of a transposed convolution.

    The length is Keras' deconv_output_length; the crop is the leading padding
    of the convolution whose gradient it is (TensorFlow's rule for that
    convolution run from the output back to the input): output position o
    receives x[i] * w[t] wherever i * stride + t == o + crop."""
    if output_padding is None:
        out = size * stride + (max(k - stride, 0) if padding == "valid" else 0)
    else:
        pad = k // 2 if padding == "same" else 0
        out = (size - 1) * stride + k - 2 * pad + output_padding
    crop = max((size - 1) * stride + k - out, 0) // 2 if padding == "same" else 0
    return out, crop


def transposed_taps(size: int, out: int, k: int, stride: int, crop: int) -> int:
    """Pairs (input position, tap) of one axis that land inside the output."""
    return sum(1 for i in range(size) for t in range(k) if 0 <= i * stride + t - crop < out)


def deconv_runs_back(size: int, out: int, k: int, stride: int, padding: str) -> bool:
    """Whether the convolution a transposed one is the gradient of maps `out`
    positions back to `size` (TensorFlow refuses to run the layer otherwise)."""
    if out < 1:
        return False
    forward = -(-out // stride) if padding == "same" else -(-(out - k + 1) // stride)
    return forward == size
