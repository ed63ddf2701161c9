"""Element-wise float code written once, run on several lanes.

A `LaneProgram` is a straight-line sequence of single-precision operations on
per-lane values (virtual registers), constants and shared registers.  The
emitter runs it on a group of lanes operation by operation -- the same
instruction for lane 0, 1, 2, ... -- so that neighbouring instructions belong
to independent dependency chains and never wait for each other's results.
Registers are allocated per lane by live range; every lane's input and output
live in its own register (`xs[i]`), so a group is loaded and stored with one
VLDM / VSTM.

Comparisons use condition codes that are false for unordered operands
(`gt`, `ge`, `mi` for less than, `ls` for less or equal), so a NaN input
never takes a clamp's or a select's branch and propagates.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field

from ..thumb import Assembler
from ..thumb.encoding import is_vfp_imm
from ..thumb.regs import SReg

CONDITIONS = ("gt", "ge", "mi", "ls")           # all false when unordered (NaN)


@dataclass(frozen=True)
class Val:
    """A per-lane value (virtual register)."""
    id: int


@dataclass(frozen=True)
class Const:
    """A float constant, held in one register shared by all lanes."""
    value: float

    @property
    def bits(self) -> int:
        return struct.unpack("<I", struct.pack("<f", self.value))[0]


@dataclass(frozen=True)
class Streamed(Const):
    """A polynomial coefficient that is not kept in a register for the whole
    program: its group is loaded by one VLDM into a scratch block shared by
    all lanes right before it is used (when registers are short)."""
    group: int = 0
    index: int = 0


ZERO = Const(0.0)

_BINARY = {"add": "vadd", "sub": "vsub", "mul": "vmul", "div": "vdiv"}
_UNARY = {"neg": "vneg", "abs": "vabs", "mov": "vmov", "cvtr_s32": "vcvtr_s32_f32",
          "cvt_s32": "vcvt_s32_f32", "cvt_f32": "vcvt_f32_s32"}


@dataclass
class _Op:
    name: str
    dst: Val | None                 # new value defined (None: updates `srcs[0]` in place)
    srcs: tuple


@dataclass
class LaneProgram:
    """Build with the methods below; `x` is each lane's input, `ret(v)` its output."""

    stream_polys: bool = False        # Horner coefficients as Streamed groups
    ops: list = field(default_factory=list)
    output: Val | None = None
    groups: list = field(default_factory=list)

    def __post_init__(self) -> None:
        self._n = 0
        self.x = self._new()

    def _new(self) -> Val:
        self._n += 1
        return Val(self._n - 1)

    def _def(self, name, *srcs) -> Val:
        v = self._new()
        self.ops.append(_Op(name, v, tuple(_operand(s) for s in srcs)))
        return v

    # arithmetic: each returns a new value
    def add(self, a, b): return self._def("add", a, b)
    def sub(self, a, b): return self._def("sub", a, b)
    def mul(self, a, b): return self._def("mul", a, b)
    def div(self, a, b): return self._def("div", a, b)
    def neg(self, a): return self._def("neg", a)
    def abs(self, a): return self._def("abs", a)
    def copy(self, a): return self._def("mov", a)
    def cvtr_s32(self, a): return self._def("cvtr_s32", a)      # round to nearest, saturating
    def cvt_s32(self, a): return self._def("cvt_s32", a)        # toward zero, saturating
    def cvt_f32(self, a): return self._def("cvt_f32", a)        # int32 image -> float

    def fma(self, acc: Val, a, b) -> None:
        """acc += a*b with one rounding (VFMA), in place."""
        self.ops.append(_Op("fma", None, (acc, _operand(a), _operand(b))))

    def set_if(self, dst: Val, a, cond: str, b, value) -> None:
        """dst = value where (a cond b), in place; b may be 0.0 (VCMP #0)."""
        if cond not in CONDITIONS:
            raise ValueError(f"condition {cond!r} is not NaN-safe; use one of {CONDITIONS}")
        self.ops.append(_Op("set_if", None, (dst, _operand(a), cond, _operand(b), _operand(value))))

    def min_(self, x: Val, hi) -> None:
        self.set_if(x, x, "gt", hi, hi)

    def max_(self, x: Val, lo) -> None:
        self.set_if(x, x, "mi", lo, lo)

    def horner(self, x, coeffs) -> Val:
        """coeffs[0]*x^n + ... + coeffs[n], by Horner's rule."""
        if self.stream_polys:
            g = len(self.groups)
            coeffs = [Streamed(float(c), g, i) for i, c in enumerate(coeffs)]
            self.groups.append(coeffs)
        p = self.mul(x, coeffs[0])
        for i, c in enumerate(coeffs[1:]):
            p = self.add(p, c)
            if i < len(coeffs) - 2:
                p = self.mul(p, x)
        return p

    def ret(self, v: Val) -> None:
        self.output = v

    # ---------------------------------------------------------- analysis
    def constants(self) -> list[Const]:
        seen = []
        for op in self.ops:
            for i, s in enumerate(op.srcs):
                if (isinstance(s, Const) and not isinstance(s, Streamed) and s not in seen
                        and not _zero_compare(op, i)):
                    seen.append(s)
        return seen

    def _slots(self):
        """Slot per value (slot 0: the lane's own register) and whether a final move is needed."""
        last = {}
        for i, op in enumerate(self.ops):
            for s in op.srcs:
                if isinstance(s, Val):
                    last[s] = i
        last[self.output] = len(self.ops)
        slot = {self.x: 0}
        free: set[int] = set() if self.x in last else {0}
        used = 1
        for i, op in enumerate(self.ops):
            for s in set(op.srcs):
                if isinstance(s, Val) and last[s] == i:
                    free.add(slot[s])              # read before the result is written
            if op.dst is not None:
                if op.dst == self.output and 0 in free:
                    k = 0                          # the output where the store expects it
                elif free - {0}:
                    k = min(free - {0})
                elif free:
                    k = 0
                else:
                    k, used = used, used + 1
                free.discard(k)
                slot[op.dst] = k
                if op.dst not in last:
                    free.add(k)
        move = 0 if slot[self.output] == 0 else 1
        return slot, move, used

    def temps_per_lane(self) -> int:
        return self._slots()[2] - 1


def _operand(v):
    if isinstance(v, (Val, Const, SReg)):
        return v
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return Const(float(v))
    raise TypeError(f"not an operand: {v!r}")


def _zero_compare(op: _Op, i: int) -> bool:
    """The compare operand of set_if against 0.0 needs no register (VCMP #0)."""
    return op.name == "set_if" and i == 3 and op.srcs[3] == ZERO


# ------------------------------------------------------------------ emitter
@dataclass
class Layout:
    """Registers for one run of a program on len(xs) lanes."""

    xs: list                       # each lane's input/output register
    temps: list                    # len(xs) * temps_per_lane registers
    consts: dict                   # Const -> SReg
    scratch: list = field(default_factory=list)   # for Streamed groups
    stream_ptr: object = None      # core register: the groups, in order (VLDM!)


def emit(asm: Assembler, prog: LaneProgram, layout: Layout) -> None:
    slot, move, used = prog._slots()
    per = used - 1
    lanes = len(layout.xs)
    assert len(layout.temps) >= lanes * per

    def reg(v, lane):
        if isinstance(v, SReg):
            return v
        if isinstance(v, Streamed):
            return layout.scratch[v.index]
        if isinstance(v, Const):
            return layout.consts[v]
        k = slot[v]
        return layout.xs[lane] if k == 0 else layout.temps[lane * per + k - 1]

    loaded = set()
    for op in prog.ops:
        for s in op.srcs:
            if isinstance(s, Streamed) and s.group not in loaded:
                loaded.add(s.group)
                asm.vldm(layout.stream_ptr, layout.scratch[0], len(prog.groups[s.group]), wb=True)
        for lane in range(lanes):
            r = lambda v: reg(v, lane)         # noqa: E731
            if op.name in _BINARY:
                getattr(asm, _BINARY[op.name])(r(op.dst), r(op.srcs[0]), r(op.srcs[1]))
            elif op.name in _UNARY:
                getattr(asm, _UNARY[op.name])(r(op.dst), r(op.srcs[0]))
            elif op.name == "fma":
                asm.vfma(r(op.srcs[0]), r(op.srcs[1]), r(op.srcs[2]))
            elif op.name == "set_if":
                dst, a, cond, b, value = op.srcs
                asm.vcmp(r(a), 0.0 if b == ZERO else r(b))
                asm.vmrs_apsr()
                asm.it(cond)
                asm.vmov(r(dst), r(value), cond=cond)
            else:
                raise AssertionError(op.name)
    if move:
        for lane in range(lanes):
            asm.vmov(layout.xs[lane], reg(prog.output, lane))


def load_consts_by_core(asm: Assembler, consts: dict, core) -> None:
    """Constants into their S registers without the weight blob: VMOV #imm where
    encodable, else MOVW/MOVT into `core` and VMOV."""
    for c, sreg in consts.items():
        if c.value != 0.0 and is_vfp_imm(c.value):
            asm.vmov_imm(sreg, c.value)
        else:
            asm.mov_const(core, c.bits)
            asm.vmov_from_core(sreg, core)
