"""The ML4F object: fixed header, shapes, code, weights, optional test vectors.

Layout and header semantics are those of the original ML4F so that its runtimes
load our objects unchanged (see docs/object-format.md).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

from .errors import ModelFormatError

MAGIC0 = 0x30470F62
MAGIC1 = 0x46344C4D          # "ML4F"
TYPE_FLOAT32 = 1
FIXED_HEADER_WORDS = 16
ALIGN_FILE = 16


@dataclass(frozen=True)
class Header:
    header_size: int
    object_size: int
    weights_offset: int
    test_input_offset: int
    test_output_offset: int
    arena_bytes: int
    input_offset: int
    input_type: int
    output_offset: int
    output_type: int
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]

    @property
    def entry_offset(self) -> int:
        return self.header_size

    @property
    def input_elems(self) -> int:
        return _prod(self.input_shape)

    @property
    def output_elems(self) -> int:
        return _prod(self.output_shape)

    @property
    def has_test_data(self) -> bool:
        return self.test_input_offset != 0


def _prod(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def header_size_for(input_shape, output_shape) -> int:
    return 4 * (FIXED_HEADER_WORDS + len(input_shape) + 1 + len(output_shape) + 1)


def build_object(*, input_shape, output_shape, code: bytes, weights: bytes, arena_bytes: int,
                 input_offset: int, output_offset: int, test_input: bytes = b"",
                 test_output: bytes = b"") -> bytes:
    """Assemble the object.  `code` must have been assembled for origin `header_size`
    and be padded to a word boundary; `weights` follows it directly."""
    hsize = header_size_for(input_shape, output_shape)
    if len(code) % 4:
        raise ValueError("code must be word padded")
    weights_offset = hsize + len(code)
    pos = weights_offset + len(weights)
    pos += -pos % 4
    test_in_off = test_out_off = 0
    if test_input:
        test_in_off = pos
        test_out_off = pos + len(test_input)
        pos = test_out_off + len(test_output)
    object_size = pos
    words = [MAGIC0, MAGIC1, hsize, object_size, weights_offset, test_in_off, test_out_off,
             arena_bytes, input_offset, TYPE_FLOAT32, output_offset, TYPE_FLOAT32, 0, 0, 0, 0]
    words += list(input_shape) + [0] + list(output_shape) + [0]
    blob = bytearray(struct.pack("<%dI" % len(words), *words))
    blob += code
    blob += weights
    blob += b"\0" * (-len(blob) % 4)
    blob += test_input + test_output
    assert len(blob) == object_size
    blob += b"\0" * (-len(blob) % ALIGN_FILE)
    return bytes(blob)


def attach_test_data(obj: bytes, test_input: bytes, test_output: bytes) -> bytes:
    """The object with a test vector appended after its weights (header words 3, 5
    and 6 updated: object size and the offsets of the test input and output)."""
    h = parse_header(obj)
    if h.has_test_data:
        raise ValueError("the object already carries test data")
    body = bytearray(obj[:h.object_size])
    pos = len(body)
    body += test_input + test_output
    struct.pack_into("<I", body, 12, len(body))
    struct.pack_into("<2I", body, 20, pos, pos + len(test_input))
    body += b"\0" * (-len(body) % ALIGN_FILE)
    return bytes(body)


def parse_header(obj: bytes, path: str | None = None) -> Header:
    """Read and check the header of an ML4F object."""
    def bad(msg):
        return ModelFormatError(f"not a valid ML4F object: {msg}", path=path)

    if len(obj) < 4 * FIXED_HEADER_WORDS + 8:
        raise bad("too short")
    w = struct.unpack_from("<16I", obj, 0)
    if w[0] != MAGIC0 or w[1] != MAGIC1:
        raise bad("bad magic")
    if w[9] != TYPE_FLOAT32 or w[11] != TYPE_FLOAT32:
        raise bad("unsupported input/output type")
    hsize, osize = w[2], w[3]
    if hsize % 2 or hsize > len(obj) or osize > len(obj) or hsize > osize:
        raise bad("inconsistent sizes")
    dims = struct.unpack_from("<%dI" % ((hsize - 64) // 4), obj, 64)
    try:
        z1 = dims.index(0)
        z2 = dims.index(0, z1 + 1)
    except ValueError:
        raise bad("shapes not zero-terminated") from None
    return Header(header_size=hsize, object_size=osize, weights_offset=w[4],
                  test_input_offset=w[5], test_output_offset=w[6], arena_bytes=w[7],
                  input_offset=w[8], input_type=w[9], output_offset=w[10], output_type=w[11],
                  input_shape=tuple(dims[:z1]), output_shape=tuple(dims[z1 + 1:z2]))
