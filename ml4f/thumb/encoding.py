"""Thumb-2 + FPv4-SP-D16 instruction forms and the Insn object built from them.

`FORMS` is the one table that serves encoding and decoding.  Encoding picks
the first form, in GAS's preference order, whose constraints accept the
operands; decoding picks the first form whose fixed bits match and whose
fields decode to operands that encode back to the same bits.

A form's bit pattern is written as in the ARM ARM: 16 or 32 characters of
'0', '1' or field letters (spaces ignored; 32-bit forms as hw1 then hw2).
All bits carrying one letter, most significant first, make that field; an
operand concatenates the fields of its letters in the order it names them
("Ii" gives MOVW's imm4:i:imm3:imm8, "dD" gives Sd = Vd:D).  The letter 'c'
is reserved for a condition field and 'S' for the flag-setting bit.
"""
from __future__ import annotations

import struct
from typing import Callable

from ..errors import AssemblyError
from .regs import Reg, S, SReg, core, lr, pc, sp

CONDS = ("eq", "ne", "cs", "cc", "mi", "pl", "vs", "vc",
         "hi", "ls", "ge", "lt", "gt", "le", "al")
COND_ALIASES = {"hs": "cs", "lo": "cc"}


def invert_cond(cond: str) -> str:
    return CONDS[CONDS.index(cond) ^ 1]


class Label:
    """A position in the code; created by `Assembler.label()`."""

    __slots__ = ("name", "owner")

    def __init__(self, name: str, owner: object = None) -> None:
        self.name = name
        self.owner = owner

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"Label({self.name!r})"


class Reject(Exception):
    """A form does not accept the operands; the message says why."""


class Mismatch(Reject):
    """The operands are of another shape than the form's (not worth reporting)."""


class Ctx:
    """Where an instruction is being encoded or decoded."""

    __slots__ = ("address", "resolve", "in_it", "mnem")

    def __init__(self, address: int | None = None,
                 resolve: Callable[[Label], int | None] | None = None,
                 in_it: bool = False) -> None:
        self.address = address          # absolute address of the instruction
        self.resolve = resolve          # Label -> absolute address (None: not known yet)
        self.in_it = in_it
        self.mnem = ""                  # mnemonic of the form being tried, for messages

    def target(self, v) -> int | None:
        if isinstance(v, Label):
            return self.resolve(v) if self.resolve else None
        return v


def _name(v) -> str:
    return f"'{v.name}'" if isinstance(v, Label) else f"0x{v:x}"


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


# --- immediates with special encodings -------------------------------------------------

def modimm_encode(v: int) -> int | None:
    """Thumb modified immediate (i:imm3:imm8) for a 32-bit value, or None."""
    v &= 0xFFFFFFFF
    if v <= 0xFF:
        return v
    lo, b1 = v & 0xFF, (v >> 8) & 0xFF
    if lo and v == lo * 0x00010001:
        return 0x100 | lo
    if b1 and v == b1 * 0x01000100:
        return 0x200 | b1
    if v == lo * 0x01010101:
        return 0x300 | lo
    for rot in range(8, 32):
        x = ((v << rot) | (v >> (32 - rot))) & 0xFFFFFFFF     # undo ROR by rot
        if x <= 0xFF and x & 0x80:
            return (rot << 7) | (x & 0x7F)
    return None


def modimm_decode(imm12: int) -> int:
    if imm12 >> 10 == 0:
        b = imm12 & 0xFF
        return b * (1, 0x00010001, 0x01000100, 0x01010101)[(imm12 >> 8) & 3]
    x, rot = 0x80 | (imm12 & 0x7F), imm12 >> 7
    return ((x >> rot) | (x << (32 - rot))) & 0xFFFFFFFF


def _f32_bits(x: float) -> int:
    return struct.unpack("<I", struct.pack("<f", x))[0]


def vfp_imm_encode(x) -> int | None:
    """imm8 of `vmov.f32 sd, #x`, or None if x is not a VFP immediate."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    try:
        bits = _f32_bits(float(x))
    except OverflowError:
        return None
    if struct.unpack("<f", struct.pack("<I", bits))[0] != x:
        return None
    exp, frac = (bits >> 23) & 0xFF, bits & 0x7FFFFF
    b = (exp >> 6) & 1
    if frac & 0x7FFFF or (exp >> 2) & 0x1F != (0x1F if b else 0) or exp >> 7 != b ^ 1:
        return None
    return (bits >> 31) << 7 | b << 6 | (exp & 3) << 4 | frac >> 19


def vfp_imm_decode(imm8: int) -> float:
    b = (imm8 >> 6) & 1
    exp = (b ^ 1) << 7 | (0x1F if b else 0) << 2 | (imm8 >> 4) & 3
    bits = (imm8 >> 7) << 31 | exp << 23 | (imm8 & 0xF) << 19
    return struct.unpack("<f", struct.pack("<I", bits))[0]


def is_vfp_imm(value) -> bool:
    """True if `vmov.f32 sd, #value` can encode value."""
    return vfp_imm_encode(value) is not None


# --- operand types ------------------------------------------------------------------

class Operand:
    """How one operand maps to the fields named by `letters`."""

    letters = ""
    optional = False        # may be left out; `default` applies
    default = None
    what = "operand"

    def raw(self, v, ctx: Ctx, width: int) -> int:
        raise Mismatch("abstract operand")

    def value(self, raw: int, ctx: Ctx, width: int):
        return raw

    def render(self, v, insn) -> str:
        return str(v)


class RegClass:
    def __init__(self, desc: str, nums) -> None:
        self.desc = desc
        self.nums = frozenset(nums)


LOW = RegClass("r0-r7", range(8))
ANY = RegClass("any register", range(16))
NOPC = RegClass("r0-r12, sp or lr", range(15))
GP = RegClass("r0-r12 or lr", [*range(13), 14])


class CoreReg(Operand):
    def __init__(self, letters: str, cls: RegClass = GP, copies: int = 1) -> None:
        self.letters, self.cls, self.copies = letters, cls, copies

    def raw(self, v, ctx, width):
        if not isinstance(v, Reg):
            raise Mismatch(f"expected a core register, got {v!r}")
        if v.num not in self.cls.nums:
            raise Reject(f"{v} not allowed here ({self.cls.desc})")
        w = width // self.copies
        if v.num >> w:
            raise Reject(f"{v} not allowed here ({self.cls.desc})")
        return sum(v.num << (w * k) for k in range(self.copies))

    def value(self, raw, ctx, width):
        w = width // self.copies
        n = raw & ((1 << w) - 1)
        if any((raw >> (w * k)) & ((1 << w) - 1) != n for k in range(self.copies)):
            raise Reject("register fields differ")
        return core(n)


class SingleReg(Operand):
    def __init__(self, letters: str) -> None:
        self.letters = letters

    def raw(self, v, ctx, width):
        if not isinstance(v, SReg):
            raise Mismatch(f"expected an S register, got {v!r}")
        return v.num

    def value(self, raw, ctx, width):
        return S[raw]


class Imm(Operand):
    """Unsigned value lo..hi in steps of `step`; field = (v - base) / step.

    `wrap`: the field's all-zero value stands for 2**width * step (shift by 32)."""

    what = "immediate"

    def __init__(self, letters: str, lo: int, hi: int, step: int = 1, base: int = 0,
                 wrap: bool = False, fmt: str = "{}", what: str = "immediate") -> None:
        self.letters, self.lo, self.hi, self.step, self.base = letters, lo, hi, step, base
        self.wrap, self.fmt, self.what = wrap, fmt, what

    def raw(self, v, ctx, width):
        if not _is_int(v):
            raise Mismatch(f"expected an integer, got {v!r}")
        if not self.lo <= v <= self.hi:
            raise Reject(f"{self.what} {v} out of range {self.lo}..{self.hi}")
        if (v - self.base) % self.step:
            raise Reject(f"{self.what} {v} not a multiple of {self.step}")
        return ((v - self.base) // self.step) & ((1 << width) - 1)

    def value(self, raw, ctx, width):
        if self.wrap and raw == 0:
            raw = 1 << width
        return raw * self.step + self.base

    def render(self, v, insn):
        return self.fmt.format(v)


class LslAmount(Imm):
    """`, lsl #n` of a register offset (rendered empty for 0)."""

    optional = True
    default = 0

    def __init__(self, letters: str) -> None:
        super().__init__(letters, 0, 3, what="shift")

    def render(self, v, insn):
        return f", lsl #{v}" if v else ""


class SignedOffset(Operand):
    """-limit..limit in steps; the field is U:magnitude (U = add)."""

    what = "offset"

    def __init__(self, letters: str, limit: int, step: int = 1) -> None:
        self.letters, self.limit, self.step = letters, limit, step

    def raw(self, v, ctx, width):
        if not _is_int(v):
            raise Mismatch(f"expected an integer offset, got {v!r}")
        if not -self.limit <= v <= self.limit:
            raise Reject(f"offset {v} out of range -{self.limit}..{self.limit}")
        if v % self.step:
            raise Reject(f"offset {v} not a multiple of {self.step}")
        return (v >= 0) << (width - 1) | abs(v) // self.step

    def value(self, raw, ctx, width):
        mag = (raw & ((1 << (width - 1)) - 1)) * self.step
        return mag if raw >> (width - 1) else -mag


class ModImm(Operand):
    what = "immediate"

    def __init__(self, letters: str = "i") -> None:
        self.letters = letters

    def raw(self, v, ctx, width):
        if not _is_int(v):
            raise Mismatch(f"expected an integer, got {v!r}")
        if not -(1 << 31) <= v < (1 << 32):
            raise Reject(f"immediate {v} does not fit in 32 bits")
        enc = modimm_encode(v)
        if enc is None:
            raise Reject(f"immediate {v:#x} is not a modified immediate")
        return enc

    def value(self, raw, ctx, width):
        return modimm_decode(raw)

    def render(self, v, insn):
        return str(v) if v < 0x10000 else f"0x{v:x}"


class Fixed(Operand):
    """An operand implied by the form (no bits); `text` is how it is written."""

    def __init__(self, fixed, text: str | None = None) -> None:
        self.fixed, self.text = fixed, text

    def raw(self, v, ctx, width):
        if type(v) is not type(self.fixed) and not (_is_int(v) and isinstance(self.fixed, float)):
            raise Mismatch(f"expected {self.fixed!r}")
        if v != self.fixed:
            raise Mismatch(f"only {self.text or self.fixed} here")     # part of the form's shape
        return 0

    def value(self, raw, ctx, width):
        return self.fixed

    def render(self, v, insn):
        return str(v) if self.text is None else self.text


class Flag(Operand):
    """A boolean bit, written as `text` when set (writeback '!')."""

    def __init__(self, letters: str, text: str = "!") -> None:
        self.letters, self.text = letters, text

    def raw(self, v, ctx, width):
        if not isinstance(v, bool):
            raise Mismatch(f"expected a bool, got {v!r}")
        return int(v)

    def value(self, raw, ctx, width):
        return bool(raw)

    def render(self, v, insn):
        return self.text if v else ""


INDEX_MODES = {"offset": 0b10, "pre": 0b11, "post": 0b01}


class Index(Operand):
    """Addressing mode from the P:W bits."""

    def __init__(self, letters: str = "PW") -> None:
        self.letters = letters

    def raw(self, v, ctx, width):
        if v not in INDEX_MODES:
            raise Mismatch(f"index must be one of {', '.join(INDEX_MODES)}")
        return INDEX_MODES[v]

    def value(self, raw, ctx, width):
        for k, bits in INDEX_MODES.items():
            if bits == raw:
                return k
        raise Reject("no addressing mode")


SHIFT_KINDS = ("lsl", "lsr", "asr", "ror")


class Shift(Operand):
    """Optional `, <kind> #n` on a register operand; field type(2):imm5."""

    optional = True

    def __init__(self, letters: str = "yh") -> None:
        self.letters = letters

    def raw(self, v, ctx, width):
        if v is None:
            return 0
        if not (isinstance(v, tuple) and len(v) == 2 and v[0] in SHIFT_KINDS and _is_int(v[1])):
            raise Mismatch(f"shift must be (kind, amount), got {v!r}")
        kind, n = v
        lo, hi = (0, 31) if kind == "lsl" else (1, 32) if kind in ("lsr", "asr") else (1, 31)
        if not lo <= n <= hi:
            raise Reject(f"{kind} #{n} out of range {lo}..{hi}")
        return SHIFT_KINDS.index(kind) << 5 | (n & 31)

    def value(self, raw, ctx, width):
        kind, n = SHIFT_KINDS[raw >> 5], raw & 31
        if n == 0:
            if kind == "lsl":
                return None
            if kind == "ror":
                raise Reject("rrx is not supported")
            n = 32
        return (kind, n)

    def render(self, v, insn):
        return f", {v[0]} #{v[1]}" if v else ""


class Branch(Operand):
    """Branch target (Label or absolute address); field = (target - pc) / 2.

    `t4`: the field is S:J1:J2:... with I = NOT(J XOR S) (B.W and BL)."""

    what = "target"

    def __init__(self, letters: str, signed: bool = True, t4: bool = False) -> None:
        self.letters, self.signed, self.t4 = letters, signed, t4

    def raw(self, v, ctx, width):
        if not (isinstance(v, Label) or _is_int(v)):
            raise Mismatch(f"expected a label, got {v!r}")
        target = ctx.target(v)
        if target is None or ctx.address is None:
            return 0
        off = target - (ctx.address + 4)
        if off & 1:
            raise Reject(f"branch to {_name(v)} is not halfword aligned")
        x = off >> 1
        lo, hi = (-(1 << (width - 1)), (1 << (width - 1)) - 1) if self.signed else (0, (1 << width) - 1)
        if not lo <= x <= hi:
            raise Reject(f"branch to {_name(v)} out of range for {ctx.mnem} ({off:+d} bytes)")
        raw = x & ((1 << width) - 1)
        if self.t4 and not raw >> (width - 1):
            raw ^= 3 << (width - 3)
        return raw

    def value(self, raw, ctx, width):
        if self.t4 and not raw >> (width - 1):
            raw ^= 3 << (width - 3)
        if self.signed and raw >> (width - 1):
            raw -= 1 << width
        return ctx.address + 4 + 2 * raw

    def render(self, v, insn):
        if isinstance(v, Label):
            return v.name
        d = v - insn.address
        return "." if d == 0 else f".{d:+d}"


class PcRel(Operand):
    """Literal or adr target: a Label, or (decoded) the raw offset from Align(pc, 4).

    Field = offset / step, or U:magnitude (`signmag`), or -offset (`negate`)."""

    what = "literal"

    def __init__(self, letters: str, lo: int, hi: int, step: int = 1,
                 signmag: bool = False, negate: bool = False) -> None:
        self.letters, self.lo, self.hi, self.step = letters, lo, hi, step
        self.signmag, self.negate = signmag, negate

    def raw(self, v, ctx, width):
        if isinstance(v, Label):
            target = ctx.target(v)
            if target is None or ctx.address is None:
                return 0
            off = target - ((ctx.address + 4) & ~3)
        elif _is_int(v):
            off = v
        else:
            raise Mismatch(f"expected a label, got {v!r}")
        field = -off if self.negate else off
        if field % self.step:
            raise Reject(f"{_name(v) if isinstance(v, Label) else off} is not word aligned "
                         f"for {ctx.mnem}")
        if not self.lo <= field <= self.hi:
            where = f"{_name(v)} " if isinstance(v, Label) else ""
            raise Reject(f"literal {where}out of range for {ctx.mnem} ({off:+d} bytes)")
        if self.signmag:
            return (field >= 0) << (width - 1) | abs(field) // self.step
        return field // self.step

    def value(self, raw, ctx, width):
        if self.signmag:
            mag = (raw & ((1 << (width - 1)) - 1)) * self.step
            field = mag if raw >> (width - 1) else -mag
        else:
            field = raw * self.step
        return -field if self.negate else field

    def render(self, v, insn):
        if isinstance(v, Label):
            return v.name
        return str(-v if self.negate else v)


class RegList(Operand):
    """Core register list; `nums` gives the register of each field bit, MSB first."""

    def __init__(self, letters: str, nums, min_count: int = 1) -> None:
        self.letters, self.nums, self.min_count = letters, tuple(nums), min_count

    def raw(self, v, ctx, width):
        if not (isinstance(v, tuple) and v and all(isinstance(r, Reg) for r in v)):
            raise Mismatch(f"expected a register list, got {v!r}")
        raw = 0
        for r in v:
            if r.num not in self.nums:
                raise Reject(f"{r} cannot be in this register list")
            raw |= 1 << (len(self.nums) - 1 - self.nums.index(r.num))
        if len(v) < self.min_count:
            raise Reject(f"needs at least {self.min_count} registers")
        return raw

    def value(self, raw, ctx, width):
        n = len(self.nums)
        return tuple(sorted((core(self.nums[k]) for k in range(n) if raw >> (n - 1 - k) & 1),
                            key=lambda r: r.num))

    def render(self, v, insn):
        return "{" + ", ".join(map(str, v)) + "}"


class SRegRange(Operand):
    """Consecutive S registers (first, count); field = first(5):count(8)."""

    def __init__(self, letters: str = "dDi") -> None:
        self.letters = letters

    def raw(self, v, ctx, width):
        if not (isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], SReg) and _is_int(v[1])):
            raise Mismatch(f"expected (first S register, count), got {v!r}")
        first, count = v
        if not 1 <= count <= 32 - first.num:
            raise Reject(f"{count} registers from {first} do not fit in s0-s31")
        return first.num << (width - 5) | count

    def value(self, raw, ctx, width):
        return (S[raw >> (width - 5)], raw & ((1 << (width - 5)) - 1))

    def render(self, v, insn):
        first, count = v
        return f"{{{first}}}" if count == 1 else f"{{{first}-s{first.num + count - 1}}}"


class VfpImm(Operand):
    what = "immediate"

    def __init__(self, letters: str = "hl") -> None:
        self.letters = letters

    def raw(self, v, ctx, width):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise Mismatch(f"expected a number, got {v!r}")
        enc = vfp_imm_encode(v)
        if enc is None:
            raise Reject(f"{v!r} is not a VFP immediate (±(16..31)/16 * 2**(-3..4))")
        return enc

    def value(self, raw, ctx, width):
        return vfp_imm_decode(raw)

    def render(self, v, insn):
        return repr(float(v))


class ItSpec(Operand):
    """(first condition, pattern of 't'/'e') of an IT instruction; field firstcond:mask."""

    def __init__(self, letters: str = "fm") -> None:
        self.letters = letters

    def raw(self, v, ctx, width):
        fc, pattern = v
        if fc not in CONDS[:14]:
            raise Reject(f"IT condition {fc!r} not allowed")
        if len(pattern) > 3 or set(pattern) - set("te"):
            raise Reject(f"IT pattern {pattern!r} must be up to three of 't'/'e'")
        c = CONDS.index(fc)
        mask = 1 << (3 - len(pattern))
        for k, p in enumerate(pattern):
            mask |= ((c & 1) ^ (p == "e")) << (3 - k)
        return c << 4 | mask

    def value(self, raw, ctx, width):
        c, mask = raw >> 4, raw & 15
        if not mask or c >= 14:
            raise Reject("not an IT instruction")
        n = 3 - (mask & -mask).bit_length() + 1
        return (CONDS[c], "".join("t" if (mask >> (3 - k)) & 1 == c & 1 else "e" for k in range(n)))

    def render(self, v, insn):
        return f"{v[1]} {v[0]}"


class Derived:
    """An operand the form does not encode: it follows from the others."""

    def __init__(self, fn: Callable[[dict], object], reason: str,
                 render: Callable[[object], str] = str) -> None:
        self.fn, self.reason, self.render = fn, reason, render


def same_as(other: str) -> Derived:
    return Derived(lambda o: o[other], f"needs the same register as {other}")


# --- forms --------------------------------------------------------------------------

SETFLAGS = ("no", "yes", "it", "bit")     # never / always / outside IT only / S bit


class Form:
    """One row of the table: one encoding of one instruction."""

    def __init__(self, name: str, text: str, bits: str, *, api: str, kind: str,
                 ops: dict[str, Operand] | None = None, reads: str = "", writes: str = "",
                 s: str = "no", raw_text: str | None = None,
                 derive: dict[str, Derived] | None = None,
                 where: tuple = (), commute: tuple[str, str] | None = None,
                 it: str = "ok") -> None:
        assert s in SETFLAGS and it in ("ok", "never")
        self.name, self.text, self.raw_text = name, text, raw_text
        self.apis = tuple(api.split())
        self.kind = kind
        self.ops = ops or {}
        self.derive = derive or {}
        self.reads, self.writes = tuple(reads.split()), tuple(writes.split())
        self.s, self.where, self.commute, self.it = s, where, commute, it
        b = bits.replace(" ", "")
        assert len(b) in (16, 32), (name, len(b))
        self.size = len(b) // 8
        self.mask = self.match = 0
        letters: dict[str, list[int]] = {}
        for k, ch in enumerate(b):
            pos = len(b) - 1 - k
            if ch in "01":
                self.mask |= 1 << pos
                self.match |= int(ch) << pos
            else:
                letters.setdefault(ch, []).append(pos)
        self._pos = {name: [p for ch in op.letters for p in letters[ch]]
                     for name, op in self.ops.items()}
        self._cond_pos = letters.get("c", [])
        self._s_pos = letters.get("S", [])
        used = {ch for op in self.ops.values() for ch in op.letters} | {"c", "S"}
        assert not set(letters) - used, (name, set(letters) - used)

    def __repr__(self) -> str:
        return f"<Form {self.name}>"

    def width(self, name: str) -> int:
        """Number of instruction bits holding operand `name`."""
        return len(self._pos[name])

    @property
    def cond_field(self) -> bool:
        """True if the condition is encoded in the instruction (B<c> outside IT)."""
        return bool(self._cond_pos)

    @staticmethod
    def _spread(positions: list[int], raw: int) -> int:
        n, word = len(positions), 0
        for k, pos in enumerate(positions):
            word |= ((raw >> (n - 1 - k)) & 1) << pos
        return word

    @staticmethod
    def _gather(positions: list[int], word: int) -> int:
        raw = 0
        for pos in positions:
            raw = raw << 1 | (word >> pos) & 1
        return raw

    def flags_for(self, in_it: bool, s_bit: int = 0) -> bool:
        return {"no": False, "yes": True, "it": not in_it, "bit": bool(s_bit)}[self.s]

    def mnemonic(self, setflags: bool, raw: bool = False, cond: str | None = None) -> str:
        tmpl = self.raw_text if raw and self.raw_text else self.text
        return tmpl.split(" ")[0].format_map(_Blank(s="s" if setflags else "", c=cond or ""))

    # encoding

    def encode(self, ops: dict, ctx: Ctx, cond: str | None = None,
               setflags: bool = False) -> tuple[int, dict]:
        """(instruction word, canonical operands), or Reject saying why not."""
        if ctx.in_it:
            if self._cond_pos or self.it == "never":
                raise Mismatch("not allowed in an IT block")
        elif (cond is not None) != bool(self._cond_pos):
            raise Mismatch("condition only inside an IT block")
        if self.s != "bit" and self.flags_for(ctx.in_it) != setflags:
            if self.s == "it" and setflags:
                raise Reject("the 16-bit flag-setting form is not available inside an IT block")
            raise Mismatch("flag setting differs")
        ctx.mnem = self.mnemonic(setflags, cond=cond)
        try:
            return self._encode(ops, ctx, cond, setflags)
        except Reject:
            if not self.commute or any(k not in ops for k in self.commute):
                raise
            a, b = self.commute
            return self._encode({**ops, a: ops[b], b: ops[a]}, ctx, cond, setflags)

    def _encode(self, ops, ctx, cond, setflags):
        extra = [k for k, v in ops.items()
                 if k not in self.ops and k not in self.derive and v is not None]
        if extra:
            raise Mismatch(f"no operand {extra[0]}")
        word, canon = self.match, {}
        for name, op in self.ops.items():
            if name in ops:
                v = ops[name]
            elif op.optional:
                v = op.default
            else:
                raise Mismatch(f"missing operand {name}")
            positions = self._pos[name]
            raw = op.raw(v, ctx, len(positions))
            if not 0 <= raw < 1 << len(positions):
                raise Reject(f"{op.what} {v} does not fit")
            word |= self._spread(positions, raw)
            canon[name] = v if isinstance(v, Label) else op.value(raw, ctx, len(positions))
        for name, d in self.derive.items():
            want = d.fn(canon)
            if name in ops and ops[name] != want:
                raise Reject(d.reason)
            canon[name] = want
        for pred, reason in self.where:
            if not pred(canon):
                raise Reject(reason)
        if self._cond_pos:
            word |= self._spread(self._cond_pos, CONDS.index(cond))
        if self._s_pos:
            word |= self._spread(self._s_pos, int(setflags))
        return word, canon

    # decoding

    def decode(self, word: int, ctx: Ctx, it_cond: str | None):
        """(operands, cond, setflags) if `word` is this form, else None."""
        if word & self.mask != self.match:
            return None
        if self._cond_pos:
            c = self._gather(self._cond_pos, word)
            if it_cond is not None or c >= 14:
                return None
            cond = CONDS[c]
        else:
            cond = it_cond
        setflags = self.flags_for(it_cond is not None, self._gather(self._s_pos, word))
        try:
            ops = {name: op.value(self._gather(self._pos[name], word), ctx, len(self._pos[name]))
                   for name, op in self.ops.items()}
            for name, d in self.derive.items():
                ops[name] = d.fn(ops)
            again, canon = self.encode(ops, ctx, cond, setflags)
        except Reject:
            return None
        return (canon, cond, setflags) if again == word else None

    def render(self, insn, wide: bool = False) -> str:
        raw = self.raw_text is not None and not any(isinstance(v, Label) for v in insn.ops.values())
        tmpl = self.raw_text if raw else self.text
        fields = {"s": "s" if insn.setflags else "", "c": insn.cond or ""}
        for name, op in self.ops.items():
            fields[name] = op.render(insn.ops[name], insn)
        for name, d in self.derive.items():
            fields[name] = d.render(insn.ops[name])
        if "{mem}" in tmpl:
            fields["mem"] = render_mem(insn.ops)
        text = tmpl.format_map(fields)
        if wide:
            first, _, rest = text.partition(" ")
            text = f"{first}.w {rest}" if rest else f"{first}.w"
        return text


class _Blank(dict):
    def __missing__(self, key):
        return ""


def render_mem(ops: dict) -> str:
    rn, off, idx = ops["rn"], ops.get("off", 0), ops.get("idx", "offset")
    if idx == "post":
        return f"[{rn}], #{off}"
    if idx == "pre":
        return f"[{rn}, #{off}]!"
    return f"[{rn}, #{off}]" if off else f"[{rn}]"


# --- instructions -------------------------------------------------------------------

def _reg_names(v) -> tuple[str, ...]:
    if isinstance(v, (Reg, SReg)):
        return (v.canon,)
    if isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], SReg) and _is_int(v[1]):
        return tuple(f"s{n}" for n in range(v[0].num, v[0].num + v[1]))
    if isinstance(v, tuple):
        return tuple(r.canon for r in v if isinstance(r, Reg))
    return ()


def word_bytes(word: int, size: int) -> bytes:
    if size == 2:
        return word.to_bytes(2, "little")
    return (word >> 16).to_bytes(2, "little") + (word & 0xFFFF).to_bytes(2, "little")


class Insn:
    """One encoded instruction: its form, canonical operands, bytes and timing facts."""

    __slots__ = ("form", "ops", "cond", "setflags", "in_it", "address", "code", "target")

    def __init__(self, form: Form, ops: dict, cond: str | None, setflags: bool,
                 in_it: bool, address: int | None, word: int, target: int | None = None):
        self.form, self.ops, self.cond, self.setflags = form, ops, cond, setflags
        self.in_it, self.address, self.target = in_it, address, target
        self.code = word_bytes(word, form.size)

    def at(self, address: int) -> "Insn":
        """The same instruction placed at `address`."""
        new = Insn.__new__(Insn)
        for slot in Insn.__slots__:
            setattr(new, slot, getattr(self, slot))
        new.address = address
        return new

    @property
    def size(self) -> int:
        return self.form.size

    def text(self) -> str:
        """GAS unified syntax that assembles to `code` at `address`."""
        return self.form.render(self, wide=self.size == 4 and self._first_form().size == 2)

    def _first_form(self, size: int | None = None) -> Form:
        """The form GAS picks for this text (of `size` bytes: for "mnemonic.w").

        GAS takes the first form of the mnemonic that fits, 16-bit ones first.
        Label operands are left to GAS's relaxation, which matches ours."""
        if any(isinstance(v, Label) for v in self.ops.values()):
            return self.form
        ctx = Ctx(self.address, None, self.in_it)
        for form in BY_MNEMONIC.get(self.form.mnemonic(self.setflags, raw=True), ()):
            if size and form.size != size:
                continue
            if form is self.form:
                return form
            try:
                form.encode(self.ops, ctx, self.cond, self.setflags)
            except Reject:
                continue
            return form
        return self.form

    @property
    def reachable(self) -> bool:
        """True if GAS produces exactly these bytes for `text()`."""
        return self._first_form(self.size) is self.form

    @property
    def kind(self) -> str:
        if self.form.kind == "ldm" and pc in self.ops["regs"]:
            return "pop_pc"
        return self.form.kind

    @property
    def nregs(self) -> int:
        if "regs" in self.ops:
            return len(self.ops["regs"])
        if "list" in self.ops:
            return self.ops["list"][1]
        return 2 if self.form.kind in ("ldrd", "strd") else 1

    def _writeback(self) -> bool:
        return self.ops.get("wb") is True or self.ops.get("idx") in ("pre", "post")

    def _names(self, spec) -> set[str]:
        names: set[str] = set()
        for tok in spec:
            if tok.endswith("!"):
                if not self._writeback():
                    continue
                tok = tok[:-1]
            names.update(_reg_names(self.ops[tok]) if tok in self.ops else (tok,))
        return names

    @property
    def writes(self) -> frozenset[str]:
        names = self._names(self.form.writes)
        if self.setflags:
            names.add("apsr")
        return frozenset(names)

    @property
    def reads(self) -> frozenset[str]:
        names = self._names(self.form.reads)
        if self.cond is not None:
            # a skipped instruction leaves its destinations as they were
            names |= {"apsr"} | (self.writes - {"r15"})
        return frozenset(names)

    @property
    def writes_pc(self) -> bool:
        return "r15" in self.writes

    @property
    def is_branch(self) -> bool:
        return self.writes_pc

    def _key(self):
        return (self.form.name, tuple(sorted(self.ops.items(), key=lambda kv: kv[0])),
                self.cond, self.setflags, self.code)

    def __eq__(self, other) -> bool:
        return isinstance(other, Insn) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash((self.form.name, self.code, self.cond))

    def __repr__(self) -> str:
        return f"<Insn {self.text()} [{self.code.hex()}]>"


# --- the table ----------------------------------------------------------------------
# Order matters: within one assembler entry point, the first accepting form is the
# one GAS picks; across the table, the first matching form is the decoding.

FORMS: list[Form] = []


def form(name: str, text: str, bits: str, api: str, kind: str, **kw) -> None:
    FORMS.append(Form(name, text, bits, api=api, kind=kind, **kw))


R = CoreReg
rd_is_sp_only_with_sp = (lambda o: o["rd"] != sp or o["rn"] == sp,
                         "rd may be sp only when rn is sp")
sp_shift_limit = (lambda o: o["rd"] != sp or o["shift"] is None
                  or (o["shift"][0] == "lsl" and o["shift"][1] <= 3),
                  "with rd = sp only lsl #0..3 is allowed")
not_both_low = (lambda o: not (o["rn"].is_low and o["rm"].is_low), "both registers are low")


def _data_processing():
    # 16-bit forms of the two-operand ALU group: 010000 op(4) Rm Rdn
    alu16 = {"and": "0000", "eor": "0001", "adc": "0101", "sbc": "0110",
             "orr": "1100", "bic": "1110"}
    commutative = {"and", "eor", "adc", "orr"}
    imm32 = {"and": "0000", "bic": "0001", "orr": "0010", "eor": "0100",
             "adc": "1010", "sbc": "1011", "rsb": "1110"}
    reads_c = {"adc", "sbc"}

    # ADD / SUB
    for op, o16i8, o16i3, o16r3, o32i, o32w, o32r in (
            ("add", "00110", "0001110", "0001100", "1000", "10000", "1000"),
            ("sub", "00111", "0001111", "0001101", "1101", "10101", "1101")):
        form(f"{op}.i8.n", f"{op}{{s}}{{c}} {{rd}}, {{rn}}, #{{imm}}", f"{o16i8} ddd iiiiiiii",
             op, "alu", ops=dict(rd=R("d", LOW), imm=Imm("i", 0, 255)),
             derive=dict(rn=same_as("rd")), s="it", reads="rn", writes="rd")
        form(f"{op}.i3.n", f"{op}{{s}}{{c}} {{rd}}, {{rn}}, #{{imm}}", f"{o16i3} iii nnn ddd",
             op, "alu", ops=dict(rd=R("d", LOW), rn=R("n", LOW), imm=Imm("i", 0, 7)),
             s="it", reads="rn", writes="rd")
        if op == "add":
            form("add.sp.n", "add{c} {rd}, {rn}, #{imm}", "10101 ddd iiiiiiii", "add", "alu",
                 ops=dict(rd=R("d", LOW), rn=Fixed(sp), imm=Imm("i", 0, 1020, 4)),
                 reads="r13", writes="rd")
        form(f"{op}.spsp.n", f"{op}{{c}} {{rd}}, {{rn}}, #{{imm}}",
             "101100000 iiiiiii" if op == "add" else "101100001 iiiiiii", op, "alu",
             ops=dict(rd=Fixed(sp), rn=Fixed(sp), imm=Imm("i", 0, 508, 4)),
             reads="r13", writes="r13")
        form(f"{op}.r3.n", f"{op}{{s}}{{c}} {{rd}}, {{rn}}, {{rm}}", f"{o16r3} mmm nnn ddd",
             op, "alu", ops=dict(rd=R("d", LOW), rn=R("n", LOW), rm=R("m", LOW)),
             s="it", reads="rn rm", writes="rd")
        if op == "add":
            form("add.r.n", "add{c} {rd}, {rn}, {rm}", "01000100 d mmmm ddd", "add", "alu",
                 ops=dict(rd=R("d", NOPC), rm=R("m", NOPC)), derive=dict(rn=same_as("rd")),
                 commute=("rn", "rm"), reads="rn rm", writes="rd",
                 where=((lambda o: not (o["rd"] == sp and o["rm"] == sp), "sp + sp"),))
        form(f"{op}.i.w", f"{op}{{s}}{{c}} {{rd}}, {{rn}}, #{{imm}}",
             f"11110 i 0 {o32i} S nnnn 0 iii dddd iiiiiiii", op, "alu",
             ops=dict(rd=R("d", NOPC), rn=R("n", NOPC), imm=ModImm()), s="bit",
             reads="rn", writes="rd", where=(rd_is_sp_only_with_sp,))
        form(f"{op}w", f"{op}w{{c}} {{rd}}, {{rn}}, #{{imm}}",
             f"11110 i {o32w} 0 nnnn 0 iii dddd iiiiiiii", f"{op} {op}w", "alu",
             ops=dict(rd=R("d", NOPC), rn=R("n", NOPC), imm=Imm("i", 0, 4095)),
             reads="rn", writes="rd", where=(rd_is_sp_only_with_sp,))
        form(f"{op}.r.w", f"{op}{{s}}{{c}} {{rd}}, {{rn}}, {{rm}}{{shift}}",
             f"11101 01 {o32r} S nnnn 0 hhh dddd hh yy mmmm", op, "alu",
             ops=dict(rd=R("d", NOPC), rn=R("n", NOPC), rm=R("m", GP), shift=Shift()),
             s="bit", reads="rn rm", writes="rd",
             where=(rd_is_sp_only_with_sp, sp_shift_limit))

    # RSB
    form("rsb.n", "rsb{s}{c} {rd}, {rn}, #{imm}", "010000 1001 nnn ddd", "rsb", "alu",
         ops=dict(rd=R("d", LOW), rn=R("n", LOW), imm=Fixed(0)), s="it",
         reads="rn", writes="rd")

    # 16-bit register ALU ops
    for op, code in alu16.items():
        form(f"{op}.n", f"{op}{{s}}{{c}} {{rd}}, {{rn}}, {{rm}}", f"010000 {code} mmm ddd",
             op, "alu", ops=dict(rd=R("d", LOW), rm=R("m", LOW)),
             derive=dict(rn=same_as("rd")), s="it",
             commute=("rn", "rm") if op in commutative else None,
             reads="rn rm" + (" apsr" if op in reads_c else ""), writes="rd")

    # 32-bit modified-immediate and shifted-register ALU ops
    for op, code in imm32.items():
        extra = " apsr" if op in reads_c else ""
        form(f"{op}.i.w", f"{op}{{s}}{{c}} {{rd}}, {{rn}}, #{{imm}}",
             f"11110 i 0 {code} S nnnn 0 iii dddd iiiiiiii", op, "alu",
             ops=dict(rd=R("d"), rn=R("n"), imm=ModImm()), s="bit",
             reads="rn" + extra, writes="rd")
        form(f"{op}.r.w", f"{op}{{s}}{{c}} {{rd}}, {{rn}}, {{rm}}{{shift}}",
             f"11101 01 {code} S nnnn 0 hhh dddd hh yy mmmm", op, "alu",
             ops=dict(rd=R("d"), rn=R("n"), rm=R("m"), shift=Shift()), s="bit",
             reads="rn rm" + extra, writes="rd")


def _compare():
    # CMP / CMN / TST: flags only
    form("cmp.i.n", "cmp{c} {rn}, #{imm}", "00101 nnn iiiiiiii", "cmp", "alu",
         ops=dict(rn=R("n", LOW), imm=Imm("i", 0, 255)), reads="rn", writes="apsr")
    for op, code in (("tst", "1000"), ("cmp", "1010"), ("cmn", "1011")):
        form(f"{op}.r.n", f"{op}{{c}} {{rn}}, {{rm}}", f"010000 {code} mmm nnn", op, "alu",
             ops=dict(rn=R("n", LOW), rm=R("m", LOW)), reads="rn rm", writes="apsr")
    form("cmp.r.hi", "cmp{c} {rn}, {rm}", "01000101 n mmmm nnn", "cmp", "alu",
         ops=dict(rn=R("n", NOPC), rm=R("m", GP)), where=(not_both_low,),
         reads="rn rm", writes="apsr")
    for op, code, rn in (("tst", "0000", GP), ("cmn", "1000", NOPC), ("cmp", "1101", NOPC)):
        form(f"{op}.i.w", f"{op}{{c}} {{rn}}, #{{imm}}", f"11110 i 0 {code} 1 nnnn 0 iii 1111 iiiiiiii",
             op, "alu", ops=dict(rn=R("n", rn), imm=ModImm()), reads="rn", writes="apsr")
        form(f"{op}.r.w", f"{op}{{c}} {{rn}}, {{rm}}{{shift}}",
             f"11101 01 {code} 1 nnnn 0 hhh 1111 hh yy mmmm", op, "alu",
             ops=dict(rn=R("n", rn), rm=R("m"), shift=Shift()), reads="rn rm", writes="apsr")


def _moves_and_shifts():
    form("mov.r.n", "mov{c} {rd}, {rm}", "01000110 d mmmm ddd", "mov", "alu",
         ops=dict(rd=R("d", NOPC), rm=R("m", NOPC)), reads="rm", writes="rd")
    form("movs.r.n", "mov{s}{c} {rd}, {rm}", "0000000000 mmm ddd", "mov", "alu",
         ops=dict(rd=R("d", LOW), rm=R("m", LOW)), s="it", reads="rm", writes="rd")
    form("mov.r.w", "mov{s}{c} {rd}, {rm}", "11101 01 0010 S 1111 0 000 dddd 0000 mmmm",
         "mov", "alu", ops=dict(rd=R("d"), rm=R("m")), s="bit", reads="rm", writes="rd")
    form("mov.i.n", "mov{s}{c} {rd}, #{imm}", "00100 ddd iiiiiiii", "mov_imm", "alu",
         ops=dict(rd=R("d", LOW), imm=Imm("i", 0, 255)), s="it", writes="rd")
    form("mov.i.w", "mov{s}{c} {rd}, #{imm}", "11110 i 0 0010 S 1111 0 iii dddd iiiiiiii",
         "mov_imm", "alu", ops=dict(rd=R("d"), imm=ModImm()), s="bit", writes="rd")
    form("movw", "movw{c} {rd}, #{imm}", "11110 i 10 0 1 0 0 IIII 0 iii dddd iiiiiiii",
         "mov_imm movw", "alu", ops=dict(rd=R("d"), imm=Imm("Ii", 0, 0xFFFF)), writes="rd")
    form("movt", "movt{c} {rd}, #{imm}", "11110 i 10 1 1 0 0 IIII 0 iii dddd iiiiiiii",
         "movt", "alu", ops=dict(rd=R("d"), imm=Imm("Ii", 0, 0xFFFF)), reads="rd", writes="rd")
    form("mvn.r.n", "mvn{s}{c} {rd}, {rm}", "010000 1111 mmm ddd", "mvn", "alu",
         ops=dict(rd=R("d", LOW), rm=R("m", LOW)), s="it", reads="rm", writes="rd")
    form("mvn.i.w", "mvn{s}{c} {rd}, #{imm}", "11110 i 0 0011 S 1111 0 iii dddd iiiiiiii",
         "mvn", "alu", ops=dict(rd=R("d"), imm=ModImm()), s="bit", writes="rd")
    form("mvn.r.w", "mvn{s}{c} {rd}, {rm}{shift}", "11101 01 0011 S 1111 0 hhh dddd hh yy mmmm",
         "mvn", "alu", ops=dict(rd=R("d"), rm=R("m"), shift=Shift()), s="bit",
         reads="rm", writes="rd")

    # shifts by immediate (LSL #0 is a move) and by register
    imm_ranges = {"lsl": (1, 31, False), "lsr": (1, 32, True), "asr": (1, 32, True),
                  "ror": (1, 31, False)}
    for k, op in enumerate(SHIFT_KINDS):
        lo, hi, wrap = imm_ranges[op]
        if op != "ror":
            form(f"{op}.i.n", f"{op}{{s}}{{c}} {{rd}}, {{rm}}, #{{imm}}", f"000 {k:02b} iiiii mmm ddd",
                 op, "alu", ops=dict(rd=R("d", LOW), rm=R("m", LOW), imm=Imm("i", lo, hi, wrap=wrap)),
                 s="it", reads="rm", writes="rd")
        code = {"lsl": "0010", "lsr": "0011", "asr": "0100", "ror": "0111"}[op]
        form(f"{op}.r.n", f"{op}{{s}}{{c}} {{rd}}, {{rm}}, {{rs}}", f"010000 {code} sss ddd",
             op, "alu", ops=dict(rd=R("d", LOW), rs=R("s", LOW)), derive=dict(rm=same_as("rd")),
             s="it", reads="rm rs", writes="rd")
        form(f"{op}.i.w", f"{op}{{s}}{{c}} {{rd}}, {{rm}}, #{{imm}}",
             f"11101 01 0010 S 1111 0 iii dddd ii {k:02b} mmmm", op, "alu",
             ops=dict(rd=R("d"), rm=R("m"), imm=Imm("i", lo, hi, wrap=wrap)), s="bit",
             reads="rm", writes="rd")
        form(f"{op}.r.w", f"{op}{{s}}{{c}} {{rd}}, {{rm}}, {{rs}}",
             f"11111010 0 {k:02b} S mmmm 1111 dddd 0000 ssss", op, "alu",
             ops=dict(rd=R("d"), rm=R("m"), rs=R("s")), s="bit", reads="rm rs", writes="rd")


def _multiply_and_bits():
    form("mul.n", "mul{s}{c} {rd}, {rn}, {rm}", "0100001101 nnn ddd", "mul", "mul",
         ops=dict(rd=R("d", LOW), rn=R("n", LOW)), derive=dict(rm=same_as("rd")),
         commute=("rn", "rm"), s="it", reads="rn rm", writes="rd")
    form("mul.w", "mul{c} {rd}, {rn}, {rm}", "11111011 0000 nnnn 1111 dddd 0000 mmmm", "mul",
         "mul", ops=dict(rd=R("d"), rn=R("n"), rm=R("m")), reads="rn rm", writes="rd")
    for op, bit in (("mla", "0"), ("mls", "1")):
        form(op, f"{op}{{c}} {{rd}}, {{rn}}, {{rm}}, {{ra}}",
             f"11111011 0000 nnnn aaaa dddd 000{bit} mmmm", op, "mul",
             ops=dict(rd=R("d"), rn=R("n"), rm=R("m"), ra=R("a")), reads="rn rm ra", writes="rd")
    for op, code in (("sdiv", "1001"), ("udiv", "1011")):
        form(op, f"{op}{{c}} {{rd}}, {{rn}}, {{rm}}", f"11111011 {code} nnnn 1111 dddd 1111 mmmm",
             op, "div", ops=dict(rd=R("d"), rn=R("n"), rm=R("m")), reads="rn rm", writes="rd")
    for op, code in (("sbfx", "010"), ("ubfx", "110")):
        form(op, f"{op}{{c}} {{rd}}, {{rn}}, #{{lsb}}, #{{width}}",
             f"11110 0 11 {code} 0 nnnn 0 lll dddd ll 0 wwwww", op, "alu",
             ops=dict(rd=R("d"), rn=R("n"), lsb=Imm("l", 0, 31, what="lsb"),
                      width=Imm("w", 1, 32, base=1, what="width")),
             where=((lambda o: o["lsb"] + o["width"] <= 32, "lsb + width exceeds 32"),),
             reads="rn", writes="rd")
    form("clz", "clz{c} {rd}, {rm}", "11111010 1011 mmmm 1111 dddd 1000 MMMM", "clz", "alu",
         ops=dict(rd=R("d"), rm=R("mM", copies=2)), reads="rm", writes="rd")


def _loads_and_stores():
    # (name, 16-bit imm5 opcode and scale, 16-bit sp opcode, 32-bit opcode bits, rt class)
    table = (
        ("str", "01100", 4, "10010", "0100", NOPC, "str"),
        ("ldr", "01101", 4, "10011", "0101", NOPC, "ldr"),
        ("strb", "01110", 1, None, "0000", GP, "str"),
        ("ldrb", "01111", 1, None, "0001", GP, "ldr"),
        ("strh", "10000", 2, None, "0010", GP, "str"),
        ("ldrh", "10001", 2, None, "0011", GP, "ldr"),
        ("ldrsb", None, 1, None, "1001", GP, "ldr"),
        ("ldrsh", None, 2, None, "1011", GP, "ldr"))
    reg16 = {"str": "000", "strh": "001", "strb": "010", "ldrsb": "011",
             "ldr": "100", "ldrh": "101", "ldrb": "110", "ldrsh": "111"}
    no_wb_onto_rt = (lambda o: o["idx"] == "offset" or o["rn"] != o["rt"],
                     "writeback to the transferred register")
    # M-profile: loading sp with writeback is unpredictable if an interrupt hits
    no_sp_with_wb = (lambda o: o["idx"] == "offset" or o["rt"] != sp,
                     "loading sp with writeback")
    for op, o16, scale, osp, o32, rtc, kind in table:
        load = kind == "ldr"
        rw = dict(reads="rn", writes="rt rn!") if load else dict(reads="rt rn", writes="rn!")
        hi, lo = o32[0], o32[1:]
        if o16:
            form(f"{op}.i.n", f"{op}{{c}} {{rt}}, {{mem}}", f"{o16} iiiii nnn ttt", op, kind,
                 ops=dict(rt=R("t", LOW), rn=R("n", LOW), off=Imm("i", 0, 31 * scale, scale, what="offset"),
                          idx=Fixed("offset")), **rw)
        if osp:
            form(f"{op}.sp.n", f"{op}{{c}} {{rt}}, {{mem}}", f"{osp} ttt iiiiiiii", op, kind,
                 ops=dict(rt=R("t", LOW), rn=Fixed(sp), off=Imm("i", 0, 1020, 4, what="offset"),
                          idx=Fixed("offset")), **rw)
        form(f"{op}.i12.w", f"{op}{{c}} {{rt}}, {{mem}}", f"1111100{hi} 1{lo} nnnn tttt iiiiiiiiiiii",
             op, kind, ops=dict(rt=R("t", rtc), rn=R("n", NOPC), off=Imm("i", 0, 4095, what="offset"),
                                idx=Fixed("offset")), **rw)
        form(f"{op}.i8.w", f"{op}{{c}} {{rt}}, {{mem}}", f"1111100{hi} 0{lo} nnnn tttt 1 P U W iiiiiiii",
             op, kind, ops=dict(rt=R("t", rtc), rn=R("n", NOPC), off=SignedOffset("Ui", 255),
                                idx=Index()),
             where=((lambda o: o["idx"] != "offset" or o["off"] < 0,
                     "positive offsets without writeback use the 12-bit form"), no_wb_onto_rt)
             + ((no_sp_with_wb,) if load else ()), **rw)
        rrw = dict(reads="rn rm", writes="rt") if load else dict(reads="rt rn rm")
        form(f"{op}.r.n", f"{op}{{c}} {{rt}}, [{{rn}}, {{rm}}{{lsl}}]", f"0101 {reg16[op]} mmm nnn ttt",
             f"{op}_reg", kind, ops=dict(rt=R("t", LOW), rn=R("n", LOW), rm=R("m", LOW),
                                         lsl=Fixed(0, "")), **rrw)
        form(f"{op}.r.w", f"{op}{{c}} {{rt}}, [{{rn}}, {{rm}}{{lsl}}]",
             f"1111100{hi} 0{lo} nnnn tttt 000000 ii mmmm", f"{op}_reg", kind,
             ops=dict(rt=R("t", rtc), rn=R("n", NOPC), rm=R("m"), lsl=LslAmount("i")), **rrw)

    form("ldr.lit.n", "ldr{c} {rt}, {lit}", "01001 ttt iiiiiiii", "ldr_label", "ldr",
         ops=dict(rt=R("t", LOW), lit=PcRel("i", 0, 1020, 4)), raw_text="ldr{c} {rt}, [pc, #{lit}]",
         reads="r15", writes="rt")
    form("ldr.lit.w", "ldr{c} {rt}, {lit}", "11111000 U 1011111 tttt iiiiiiiiiiii", "ldr_label", "ldr",
         ops=dict(rt=R("t", NOPC), lit=PcRel("Ui", -4095, 4095, signmag=True)),
         raw_text="ldr{c} {rt}, [pc, #{lit}]", reads="r15", writes="rt")

    pair_ok = (lambda o: o["idx"] == "offset" or o["rn"] not in (o["rt"], o["rt2"]),
               "writeback to a transferred register")
    form("ldrd", "ldrd{c} {rt}, {rt2}, {mem}", "1110100 P U 1 W 1 nnnn tttt TTTT iiiiiiii", "ldrd",
         "ldrd", ops=dict(rt=R("t"), rt2=R("T"), rn=R("n", NOPC), off=SignedOffset("Ui", 1020, 4),
                          idx=Index()),
         where=(pair_ok, (lambda o: o["rt"] != o["rt2"], "rt and rt2 must differ")),
         reads="rn", writes="rt rt2 rn!")
    form("strd", "strd{c} {rt}, {rt2}, {mem}", "1110100 P U 1 W 0 nnnn tttt TTTT iiiiiiii", "strd",
         "strd", ops=dict(rt=R("t"), rt2=R("T"), rn=R("n", NOPC), off=SignedOffset("Ui", 1020, 4),
                          idx=Index()),
         where=(pair_ok,), reads="rt rt2 rn", writes="rn!")


def _multiple():
    low8 = range(7, -1, -1)
    list13 = [*range(15, -1, -1)]
    no_pc_and_lr = (lambda o: not (pc in o["regs"] and lr in o["regs"]), "pc and lr together")
    no_sp = (lambda o: sp not in o["regs"], "sp in the register list")
    not_push_pop = (lambda o: not (o["rn"] == sp and o["wb"]), "sp! is push/pop")
    no_wb_into_list = (lambda o: not (o["wb"] and o["rn"] in o["regs"]),
                       "writeback base in the register list")
    SP, WB = Fixed(sp), Fixed(True)
    form("pop.n", "pop{c} {regs}", "1011110 P rrrrrrrr", "pop ldm", "ldm",
         ops=dict(rn=SP, wb=WB, regs=RegList("Pr", [15, *low8])), reads="r13", writes="regs r13")
    form("pop.w", "pop{c} {regs}", "1110100010 1 1 1101 rrrrrrrrrrrrrrrr", "pop ldm", "ldm",
         ops=dict(rn=SP, wb=WB, regs=RegList("r", list13, 2)), where=(no_pc_and_lr, no_sp),
         reads="r13", writes="regs r13")
    form("ldm.n", "ldm{c} {rn}{wb}, {regs}", "11001 nnn rrrrrrrr", "ldm", "ldm",
         ops=dict(rn=R("n", LOW), regs=RegList("r", low8)),
         derive=dict(wb=Derived(lambda o: o["rn"] not in o["regs"],
                                "the 16-bit ldm writes back exactly when rn is not loaded",
                                lambda v: "!" if v else "")),
         reads="rn", writes="regs rn!")
    form("ldm.w", "ldm{c} {rn}{wb}, {regs}", "1110100010 W 1 nnnn rrrrrrrrrrrrrrrr", "ldm", "ldm",
         ops=dict(rn=R("n", NOPC), wb=Flag("W"), regs=RegList("r", list13, 2)),
         where=(no_pc_and_lr, no_wb_into_list, no_sp, not_push_pop), reads="rn", writes="regs rn!")
    form("push.n", "push{c} {regs}", "1011010 M rrrrrrrr", "push stmdb", "stm",
         ops=dict(rn=SP, wb=WB, regs=RegList("Mr", [14, *low8])), reads="regs r13", writes="r13")
    no_sp_pc = [14, 13, *range(12, -1, -1)]
    form("push.w", "push{c} {regs}", "1110100100 1 0 1101 0 rrrrrrrrrrrrrrr", "push stmdb", "stm",
         ops=dict(rn=SP, wb=WB, regs=RegList("r", no_sp_pc, 2)),
         where=(no_sp,), reads="regs r13", writes="r13")
    form("stm.n", "stm{c} {rn}{wb}, {regs}", "11000 nnn rrrrrrrr", "stm", "stm",
         ops=dict(rn=R("n", LOW), wb=Fixed(True, "!"), regs=RegList("r", low8)),
         where=(no_wb_into_list,), reads="rn regs", writes="rn!")
    for op, bits in (("stm", "1110100010"), ("stmdb", "1110100100")):
        form(f"{op}.w", f"{op}{{c}} {{rn}}{{wb}}, {{regs}}", f"{bits} W 0 nnnn 0 rrrrrrrrrrrrrrr",
             op, "stm", ops=dict(rn=R("n", NOPC), wb=Flag("W"), regs=RegList("r", no_sp_pc, 2)),
             where=(no_wb_into_list, no_sp) + ((not_push_pop,) if op == "stmdb" else ()),
             reads="rn regs", writes="rn!")


def _branches_and_misc():
    form("b.cond.n", "b{c} {target}", "1101 cccc iiiiiiii", "b", "branch",
         ops=dict(target=Branch("i")), writes="r15", it="never")
    form("b.n", "b{c} {target}", "11100 iiiiiiiiiii", "b", "branch",
         ops=dict(target=Branch("i")), writes="r15")
    form("b.cond.w", "b{c} {target}", "11110 s cccc hhhhhh 10 j 0 k lllllllllll", "b", "branch",
         ops=dict(target=Branch("skjhl")), writes="r15", it="never")
    form("b.w", "b{c} {target}", "11110 s hhhhhhhhhh 10 j 1 k lllllllllll", "b", "branch",
         ops=dict(target=Branch("sjkhl", t4=True)), writes="r15")
    form("bl", "bl{c} {target}", "11110 s hhhhhhhhhh 11 j 1 k lllllllllll", "bl", "branch",
         ops=dict(target=Branch("sjkhl", t4=True)), writes="r15 r14")
    form("bx", "bx{c} {rm}", "010001110 mmmm 000", "bx", "branch",
         ops=dict(rm=R("m", NOPC)), reads="rm", writes="r15")
    form("blx", "blx{c} {rm}", "010001111 mmmm 000", "blx", "branch",
         ops=dict(rm=R("m", NOPC)), reads="rm", writes="r15 r14")
    for op, bit in (("cbz", "0"), ("cbnz", "1")):
        form(op, f"{op} {{rn}}, {{target}}", f"1011 {bit} 0 i 1 iiiii nnn", op, "branch",
             ops=dict(rn=R("n", LOW), target=Branch("i", signed=False)),
             reads="rn", writes="r15", it="never")
    form("it", "it{it}", "10111111 ffff mmmm", "it", "it", ops=dict(it=ItSpec("fm")), it="never")
    form("nop", "nop{c}", "10111111 00000000", "nop", "nop")
    form("nop.w", "nop{c}", "11110011 10101111 10000000 00000000", "nop", "nop")
    form("bkpt", "bkpt #{imm}", "10111110 iiiiiiii", "bkpt", "nop", ops=dict(imm=Imm("i", 0, 255)))
    form("udf", "udf #{imm}", "11011110 iiiiiiii", "udf", "nop", ops=dict(imm=Imm("i", 0, 255)),
         it="never")
    form("adr.n", "adr{c} {rd}, {lit}", "10100 ddd iiiiiiii", "adr", "alu",
         ops=dict(rd=R("d", LOW), lit=PcRel("i", 0, 1020, 4)), raw_text="add{c} {rd}, pc, #{lit}",
         reads="r15", writes="rd")
    form("adr.add.w", "adr{c} {rd}, {lit}", "11110 i 10000 0 1111 0 iii dddd iiiiiiii", "adr", "alu",
         ops=dict(rd=R("d"), lit=PcRel("i", 0, 4095)), raw_text="addw{c} {rd}, pc, #{lit}",
         reads="r15", writes="rd")
    form("adr.sub.w", "adr{c} {rd}, {lit}", "11110 i 10101 0 1111 0 iii dddd iiiiiiii", "adr", "alu",
         ops=dict(rd=R("d"), lit=PcRel("i", 1, 4095, negate=True)), raw_text="subw{c} {rd}, pc, #{lit}",
         reads="r15", writes="rd")


def _vfp():
    sd, sn, sm = SingleReg("dD"), SingleReg("nN"), SingleReg("mM")
    three = dict(sd=sd, sn=sn, sm=sm)
    # name: (hw1 bits 7..4 with D, hw2 bits 6 (op)), kind, reads the destination
    arith = {"vmla": ("0D00", "0", "vmac"), "vmls": ("0D00", "1", "vmac"),
             "vnmls": ("0D01", "0", "vmac"), "vnmla": ("0D01", "1", "vmac"),
             "vmul": ("0D10", "0", "vmul"), "vnmul": ("0D10", "1", "vmul"),
             "vadd": ("0D11", "0", "vadd"), "vsub": ("0D11", "1", "vadd"),
             "vdiv": ("1D00", "0", "vdiv"),
             "vfnms": ("1D01", "0", "vmac"), "vfnma": ("1D01", "1", "vmac"),
             "vfma": ("1D10", "0", "vmac"), "vfms": ("1D10", "1", "vmac")}
    for op, (opc, bit, kind) in arith.items():
        form(op, f"{op}{{c}}.f32 {{sd}}, {{sn}}, {{sm}}", f"11101110 {opc} nnnn dddd 1010 N {bit} M 0 mmmm",
             op, kind, ops=three, reads="sn sm" + (" sd" if kind == "vmac" else ""), writes="sd")
    # name: (hw1 bits 3..0, hw2 bit 7, kind, reads, writes)
    two = {"vmov.f32": ("0000", "0", "vmov", "sm", "sd"),
           "vabs.f32": ("0000", "1", "vmov", "sm", "sd"),
           "vneg.f32": ("0001", "0", "vmov", "sm", "sd"),
           "vsqrt.f32": ("0001", "1", "vsqrt", "sm", "sd"),
           "vcvtb.f32.f16": ("0010", "0", "vcvt", "sm", "sd"),
           "vcvtt.f32.f16": ("0010", "1", "vcvt", "sm", "sd"),
           "vcvtb.f16.f32": ("0011", "0", "vcvt", "sm sd", "sd"),    # writes half of sd
           "vcvtt.f16.f32": ("0011", "1", "vcvt", "sm sd", "sd"),
           "vcmp.f32": ("0100", "0", "vcmp", "sd sm", "fpscr"),
           "vcmpe.f32": ("0100", "1", "vcmp", "sd sm", "fpscr"),
           "vcvt.f32.u32": ("1000", "0", "vcvt", "sm", "sd"),
           "vcvt.f32.s32": ("1000", "1", "vcvt", "sm", "sd"),
           "vcvtr.u32.f32": ("1100", "0", "vcvt", "sm", "sd"),
           "vcvt.u32.f32": ("1100", "1", "vcvt", "sm", "sd"),
           "vcvtr.s32.f32": ("1101", "0", "vcvt", "sm", "sd"),
           "vcvt.s32.f32": ("1101", "1", "vcvt", "sm", "sd")}
    for name, (opc2, bit, kind, reads, writes) in two.items():
        mnem, dt = name.split(".", 1)
        api = mnem if dt == "f32" else f"{mnem}_{dt.replace('.', '_')}"
        form(name, f"{mnem}{{c}}.{dt} {{sd}}, {{sm}}", f"11101110 1D11 {opc2} dddd 1010 {bit} 1 M 0 mmmm",
             api, kind, ops=dict(sd=sd, sm=sm), reads=reads, writes=writes)
    for op, bit in (("vcmp", "0"), ("vcmpe", "1")):
        form(f"{op}.zero", f"{op}{{c}}.f32 {{sd}}, #{{zero}}", f"11101110 1D11 0101 dddd 1010 {bit} 100 0000",
             op, "vcmp", ops=dict(sd=sd, zero=Fixed(0.0, "0.0")), reads="sd", writes="fpscr")
    form("vmov.imm", "vmov{c}.f32 {sd}, #{imm}", "11101110 1D11 hhhh dddd 1010 0000 llll", "vmov_imm",
         "vmov", ops=dict(sd=sd, imm=VfpImm("hl")), writes="sd")
    form("vmov.to_core", "vmov{c} {rt}, {sn}", "11101110 000 1 nnnn tttt 1010 N 001 0000",
         "vmov_to_core", "vmov_core", ops=dict(rt=R("t"), sn=sn), reads="sn", writes="rt")
    # distinct operand names from to_core: the direction is in the names
    form("vmov.from_core", "vmov{c} {sd}, {rm}", "11101110 000 0 nnnn tttt 1010 N 001 0000",
         "vmov_from_core", "vmov_core", ops=dict(sd=sn, rm=R("t")), reads="rm", writes="sd")
    # two core registers <-> two consecutive S registers (one 2-cycle transfer for both)
    next_s = Derived(lambda o: S[min(o["sm"].num + 1, 31)], "needs the S register after sm")
    not_s31 = (lambda o: o["sm"].num < 31, "sm must not be s31 (sm+1 is the second register)")
    form("vmov.to_core2", "vmov{c} {rt}, {rt2}, {sm}, {sm1}", "11101100 010 1 TTTT tttt 1010 00 M 1 mmmm",
         "vmov_to_core2", "vmov_core", ops=dict(rt=R("t", NOPC), rt2=R("T", NOPC), sm=sm),
         derive=dict(sm1=next_s), where=(not_s31, (lambda o: o["rt"] != o["rt2"], "rt and rt2 must differ")),
         reads="sm sm1", writes="rt rt2")
    form("vmov.from_core2", "vmov{c} {sm}, {sm1}, {rt}, {rt2}", "11101100 010 0 TTTT tttt 1010 00 M 1 mmmm",
         "vmov_from_core2", "vmov_core", ops=dict(rt=R("t", NOPC), rt2=R("T", NOPC), sm=sm),
         derive=dict(sm1=next_s), where=(not_s31,), reads="rt rt2", writes="sm sm1")
    form("vmrs.apsr", "vmrs{c} APSR_nzcv, fpscr", "11101110 1111 0001 1111 1010 0001 0000",
         "vmrs_apsr", "vmrs", reads="fpscr", writes="apsr")
    form("vmrs", "vmrs{c} {rt}, fpscr", "11101110 1111 0001 tttt 1010 0001 0000", "vmrs", "vmrs",
         ops=dict(rt=R("t")), reads="fpscr", writes="rt")
    form("vmsr", "vmsr{c} fpscr, {rt}", "11101110 1110 0001 tttt 1010 0001 0000", "vmsr", "vmrs",
         ops=dict(rt=R("t")), reads="rt", writes="fpscr")

    for op, bit, kind in (("vldr", "1", "vldr"), ("vstr", "0", "vstr")):
        rw = dict(reads="rn", writes="sd") if bit == "1" else dict(reads="sd rn")
        form(op, f"{op}{{c}} {{sd}}, {{mem}}", f"1110 1101 U D 0 {bit} nnnn dddd 1010 iiiiiiii", op, kind,
             ops=dict(sd=sd, rn=R("n", NOPC), off=SignedOffset("Ui", 1020, 4), idx=Fixed("offset")), **rw)
    form("vldr.lit", "vldr{c} {sd}, {lit}", "1110 1101 U D 01 1111 dddd 1010 iiiiiiii", "vldr_label",
         "vldr", ops=dict(sd=sd, lit=PcRel("Ui", -1020, 1020, 4, signmag=True)),
         raw_text="vldr{c} {sd}, [pc, #{lit}]", reads="r15", writes="sd")

    regs = SRegRange("dDi")
    SP, WB = Fixed(sp), Fixed(True)
    form("vpop", "vpop{c} {list}", "1110 1100 1 D 11 1101 dddd 1010 iiiiiiii", "vpop vldm", "vldm",
         ops=dict(rn=SP, wb=WB, list=regs), reads="r13", writes="list r13")
    form("vpush", "vpush{c} {list}", "1110 1101 0 D 10 1101 dddd 1010 iiiiiiii", "vpush vstmdb", "vstm",
         ops=dict(rn=SP, wb=WB, list=regs), reads="list r13", writes="r13")
    for op, pu, load, alias in (("vldmia", "01", True, "vpop"), ("vstmia", "01", False, None),
                                ("vldmdb", "10", True, None), ("vstmdb", "10", False, "vpush")):
        wb = Flag("W") if pu == "01" else Fixed(True, "!")
        rw = dict(reads="rn", writes="list rn!") if load else dict(reads="list rn", writes="rn!")
        form(op, f"{op}{{c}} {{rn}}{{wb}}, {{list}}",
             f"1110 110 {pu[0]} {pu[1]} D {'W' if pu == '01' else '1'} {'1' if load else '0'} "
             f"nnnn dddd 1010 iiiiiiii",
             {"vldmia": "vldm", "vstmia": "vstm"}.get(op, op), "vldm" if load else "vstm",
             ops=dict(rn=R("n", NOPC), wb=wb, list=regs), **rw,
             where=((lambda o: not (o["rn"] == sp and o["wb"]), f"sp! is {alias}"),) if alias else ())

_data_processing()
_compare()
_moves_and_shifts()
_multiply_and_bits()
_loads_and_stores()
_multiple()
_branches_and_misc()
_vfp()

FORMS_BY_NAME = {f.name: f for f in FORMS}
assert len(FORMS_BY_NAME) == len(FORMS), "form names must be unique"
FORMS_BY_API: dict[str, list[Form]] = {}
for _f in FORMS:
    for _api in _f.apis:
        FORMS_BY_API.setdefault(_api, []).append(_f)
BY_MNEMONIC: dict[str, list[Form]] = {}
for _f in FORMS:
    for _key in {_f.mnemonic(flags, raw) for flags in (False, True) for raw in (False, True)}:
        BY_MNEMONIC.setdefault(_key, []).append(_f)


# --- choosing a form ----------------------------------------------------------------

def encode(api: str, ops: dict, ctx: Ctx, cond: str | None = None, setflags: bool = False,
           min_size: int = 2) -> Insn:
    """The first form of entry point `api` (of at least `min_size` bytes) that accepts
    the operands.  AssemblyError names the instruction and why not."""
    key = _encode_key(api, ops, ctx, cond, setflags, min_size)
    known = _ENCODED.get(key) if key is not None else None
    if known is not None:
        f, canon, word = known
        return Insn(f, dict(canon), cond, setflags, ctx.in_it, ctx.address, word, None)
    reasons: list[tuple[int, str]] = []
    for f in FORMS_BY_API[api]:
        if f.size < min_size:
            continue
        try:
            word, canon = f.encode(ops, ctx, cond, setflags)
        except Mismatch:
            continue
        except Reject as e:
            reasons.append((f.size, str(e)))
            continue
        target = ctx.target(canon["target"]) if "target" in canon else None
        if key is not None and "target" not in canon:
            _ENCODED[key] = (f, dict(canon), word)
        return Insn(f, canon, cond, setflags, ctx.in_it, ctx.address, word, target)
    # a 16-bit form's complaint is moot when a 32-bit form also had one
    if any(size == 4 for size, _ in reasons):
        reasons = [r for r in reasons if r[0] == 4]
    why = "; ".join(dict.fromkeys(r for _, r in reasons)) or "no encoding for these operands"
    if ctx.in_it and not reasons:
        why = "no encoding inside an IT block"
    raise AssemblyError(f"cannot encode '{describe(api, ops, cond, setflags, ctx)}': {why}")


# (entry point, operands, IT state, cond, flags, size) -> (form, operands, word): kernels
# emit the same few thousand instructions many times over
_ENCODED: dict = {}


def _encode_key(api, ops, ctx, cond, setflags, min_size):
    """A cache key for a request whose encoding depends on nothing but itself
    (no address, no label), else None."""
    if ctx.address is not None or any(isinstance(v, (Label, list, dict)) for v in ops.values()):
        return None
    key = (api, tuple(ops.items()), ctx.in_it, cond, setflags, min_size)
    try:
        hash(key)
    except TypeError:
        return None
    return key


class _Shell:
    """Just enough of an Insn to render a request that has no encoding."""

    def __init__(self, ops, cond, setflags, address):
        self.ops, self.cond, self.setflags, self.address = ops, cond, setflags, address


def describe(api: str, ops: dict, cond: str | None, setflags: bool, ctx: Ctx) -> str:
    """GAS-like text of a request that has no encoding, for error messages: rendered
    with the first form of the right shape."""
    for f in FORMS_BY_API.get(api, ()):
        try:
            f.encode(ops, Ctx(ctx.address, None, ctx.in_it), cond, setflags)
        except Mismatch:
            continue
        except Reject:
            pass
        full = {name: ops.get(name, op.default) for name, op in f.ops.items()}
        full.update({name: ops.get(name) for name in f.derive})
        try:
            return f.render(_Shell(full, cond, setflags, ctx.address or 0))
        except (KeyError, TypeError, ValueError, IndexError, AttributeError):
            break
    return f"{api} " + ", ".join(map(str, ops.values()))
