"""Register operands: core registers r0-r15 and single-precision registers s0-s31.

Both are interned value objects, so `core(4) is r4` and they hash by number.
`str()` gives the GAS spelling ("sp", "s5"); `.canon` gives the name used in
read/write sets, where sp, lr and pc are "r13", "r14", "r15".
"""
from __future__ import annotations

_CORE_NAMES = tuple(f"r{i}" for i in range(13)) + ("sp", "lr", "pc")


class Reg:
    """Core register r0-r15."""

    __slots__ = ("num",)

    def __init__(self, num: int) -> None:
        object.__setattr__(self, "num", num)

    def __setattr__(self, name, value):
        raise AttributeError("registers are immutable")

    @property
    def canon(self) -> str:
        return f"r{self.num}"

    @property
    def is_low(self) -> bool:
        return self.num < 8

    def __str__(self) -> str:
        return _CORE_NAMES[self.num]

    __repr__ = __str__

    def __eq__(self, other) -> bool:
        return type(other) is Reg and other.num == self.num

    def __hash__(self) -> int:
        return self.num

    def __reduce__(self):
        return core, (self.num,)


class SReg:
    """Single-precision FP register s0-s31."""

    __slots__ = ("num",)

    def __init__(self, num: int) -> None:
        object.__setattr__(self, "num", num)

    def __setattr__(self, name, value):
        raise AttributeError("registers are immutable")

    @property
    def canon(self) -> str:
        return f"s{self.num}"

    def __str__(self) -> str:
        return f"s{self.num}"

    __repr__ = __str__

    def __eq__(self, other) -> bool:
        return type(other) is SReg and other.num == self.num

    def __hash__(self) -> int:
        return 32 + self.num

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
