"""The weight blob: every kernel appends its constants in the order it reads them."""
from __future__ import annotations

import struct

import numpy as np

from .errors import CodegenError, InvalidModelError

F16_MAX = 65504.0


class WeightBlob:
    def __init__(self, float16: bool) -> None:
        self.float16 = float16
        self.data = bytearray()

    def _start(self) -> int:
        self.data += b"\0" * (-len(self.data) % 4)
        return len(self.data)

    def add_f32(self, values) -> int:
        """Append float32 values (biases, tables of constants); returns the byte offset."""
        off = self._start()
        self.data += np.ascontiguousarray(values, dtype="<f4").tobytes()
        return off

    def add_weights(self, values, *, layer: str = "", layer_class: str = "") -> int:
        """Append weights in the blob's type: float32, or float16 (round to nearest even,
        two halves per word, element 2k in the low half, padded to a word)."""
        off = self._start()
        v = np.ascontiguousarray(values, dtype=np.float32).ravel()
        if self.float16:
            if v.size and np.max(np.abs(v)) > F16_MAX:
                raise InvalidModelError(
                    f"weight {float(np.max(np.abs(v))):g} exceeds the float16 range (--float16)",
                    layer=layer or None, layer_class=layer_class or None)
            self.data += v.astype("<f2").tobytes()
        else:
            self.data += v.astype("<f4").tobytes()
        self.data += b"\0" * (-len(self.data) % 4)
        return off

    def add_words(self, words) -> int:
        off = self._start()
        words = check_words(words)
        self.data += struct.pack("<%di" % len(words), *words)
        return off

    def bytes(self) -> bytes:
        return bytes(self.data) + b"\0" * (-len(self.data) % 4)


def f16_round(values: np.ndarray) -> np.ndarray:
    """The float32 values the generated code sees for float16-stored weights."""
    return np.asarray(values, dtype=np.float32).astype(np.float16).astype(np.float32)


def check_words(words) -> list[int]:
    """The words as ints, each an address offset or count that fits 32 bits (else CodegenError)."""
    words = [int(w) for w in words]
    wide = next((w for w in words if not -(1 << 31) <= w < 1 << 31), None)
    if wide is not None:
        raise CodegenError(f"a table entry ({wide:,}: an address offset or count) does not "
                           "fit 32 bits (absurd strides, dilation or padding?)")
    return words
