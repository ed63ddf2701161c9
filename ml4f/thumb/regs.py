"""Register operands: core registers r0-r15 and single-precision registers s0-s31.

Both are interned value objects, so `core(4) is r4` and they hash by number.
`str()` gives the GAS spelling ("sp", "s5"); `.canon` gives the name used in
read/write sets, where sp, lr and pc are "r13", "r14", "r15".
"""
from __future__ import annotations

_CORE_NAMES = tuple(f"r{i}" for i in range(13)) + ("sp", "lr", "pc")


class _Register:
    """Immutable register value: one class per register file, equal by number."""

    __slots__ = ("num",)
    PREFIX = ""
    HASH_BASE = 0

    def __init__(self, num: int) -> None:
        object.__setattr__(self, "num", num)

    def __setattr__(self, name, value):
        raise AttributeError("registers are immutable")

    @property
    def canon(self) -> str:
        return f"{self.PREFIX}{self.num}"

    def __str__(self) -> str:
        return self.canon

    __repr__ = __str__

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and other.num == self.num

    def __hash__(self) -> int:
        return self.HASH_BASE + self.num


class Reg(_Register):
    """Core register r0-r15."""

    __slots__ = ()
    PREFIX = "r"

    @property
    def is_low(self) -> bool:
        return self.num < 8

    def __str__(self) -> str:
        return _CORE_NAMES[self.num]

    __repr__ = __str__

    def __reduce__(self):
        return core, (self.num,)


class SReg(_Register):
    """Single-precision FP register s0-s31."""

    __slots__ = ()
    PREFIX = "s"
    HASH_BASE = 32

    def __reduce__(self):
        return _sreg, (self.num,)


_CORE = tuple(Reg(i) for i in range(16))
S = tuple(SReg(i) for i in range(32))

r0, r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, r11, r12, sp, lr, pc = _CORE
r13, r14, r15 = sp, lr, pc


def core(n: int) -> Reg:
    """Core register number n (0..15)."""
    if not isinstance(n, int) or not 0 <= n < 16:
        raise ValueError(f"no core register r{n}")
    return _CORE[n]


def _sreg(n: int) -> SReg:
    return S[n]
