"""Decoding: bytes back to Insn objects, through the same form table."""
from __future__ import annotations

from .encoding import FORMS, Ctx, Insn, invert_cond

_BY_SIZE = {size: [f for f in FORMS if f.size == size] for size in (2, 4)}
# (word, size, IT slot) -> the form that decodes it: code repeats a few thousand distinct
# instructions, and trying the whole table for each costs most of a profile's costing
_FORM_OF: dict = {}


def _is_32bit(hw1: int) -> bool:
    return hw1 >> 11 in (0b11101, 0b11110, 0b11111)


def decode(code: bytes, offset: int, origin: int = 0, it_cond: str | None = None, *,
           gas_check: bool = True) -> Insn:
    """The instruction at `offset` of `code` (loaded at `origin`).

    Branch targets become absolute addresses.  `it_cond` is the condition of
    the IT-block slot the instruction is in, if any (see `decode_all`).
    ValueError if the bytes are no instruction of the table, or (`gas_check`)
    an encoding GNU as would never choose for its text."""
    if not 0 <= offset <= len(code) - 2:
        raise ValueError(f"no instruction at offset {offset} of {len(code)} bytes")
    word = int.from_bytes(code[offset:offset + 2], "little")
    size = 2
    if _is_32bit(word):
        if offset + 4 > len(code):
            raise ValueError(f"truncated 32-bit instruction at offset {offset}")
        word = word << 16 | int.from_bytes(code[offset + 2:offset + 4], "little")
        size = 4
    address = origin + offset
    ctx = Ctx(address, None, it_cond is not None)
    key = (word, size, it_cond)
    known = _FORM_OF.get(key)
    for form in ([known] if known is not None else []) + _BY_SIZE[size]:
        found = form.decode(word, ctx, it_cond)
        if found is not None:
            _FORM_OF[key] = form
            ops, cond, setflags = found
            target = ops["target"] if "target" in ops else None
            insn = Insn(form, ops, cond, setflags, it_cond is not None, address, word, target)
            if gas_check and not insn.reachable:
                raise ValueError(f"{word:0{2 * size}x} at offset {offset} is an encoding GAS "
                                 f"never picks for '{insn.text()}'")
            return insn
    raise ValueError(f"no instruction form matches {word:0{2 * size}x} at offset {offset}")


def decode_all(code: bytes, origin: int = 0) -> list[tuple[int, Insn]]:
    """Every instruction of `code` in order, following IT blocks."""
    out, offset, slots = [], 0, []
    while offset < len(code):
        insn = decode(code, offset, origin, slots.pop(0) if slots else None)
        if insn.form.name == "it":
            first, pattern = insn.ops["it"]
            slots = [first] + [first if p == "t" else invert_cond(first) for p in pattern]
        out.append((offset, insn))
        offset += insn.size
    return out
