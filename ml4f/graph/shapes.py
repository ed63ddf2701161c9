"""Keras shape arithmetic: output sizes and TensorFlow's padding split."""
from __future__ import annotations


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
