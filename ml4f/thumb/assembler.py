"""Assembler: instructions, labels, data and branch/literal relaxation.

Each method appends one instruction (a few pseudo-instructions append more).
Instructions without label operands are encoded at once, so an impossible
operand raises AssemblyError at the call that wrote it.  Instructions that
refer to labels are sized by `assemble()` with GNU as's relaxation algorithm
(see `_relax`), so that even its choices between equally valid layouts match.
"""
from __future__ import annotations

import bisect
import re
import struct
from typing import Iterable

from ..errors import AssemblyError
from .encoding import (
    COND_ALIASES,
    CONDS,
    FORMS_BY_API,
    Ctx,
    Insn,
    Label,
    encode,
    invert_cond,
)
from .regs import Reg, SReg, sp

_NOP, _NOP_W = bytes.fromhex("00bf"), bytes.fromhex("aff30080")
_RESERVED = ({f"r{i}" for i in range(16)} | {f"s{i}" for i in range(32)} | {f"d{i}" for i in range(16)}
             | {"sp", "lr", "pc", "ip", "fp", "sl", "sb", "apsr", "fpscr", "apsr_nzcv"})
_SYMBOL = re.compile(r"[A-Za-z_.$][A-Za-z0-9_.$]*$")


def _u32(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not -(1 << 31) <= value < (1 << 32):
        raise AssemblyError(f"{what} {value!r} is not a 32-bit integer")
    return value & 0xFFFFFFFF


def _s32(value: int) -> int:
    return value - (1 << 32) if value >= (1 << 31) else value


class Data:
    """Bytes in the code stream (.word, .hword, .space; `.balign` filler of kind "nop")."""

    cond = None
    setflags = in_it = is_branch = writes_pc = False
    target = None
    nregs = 0
    reads = writes = frozenset()

    def __init__(self, text: str, code: bytes, address: int | None = None,
                 kind: str = "data") -> None:
        self._text, self.code, self.address, self.kind = text, code, address, kind

    @property
    def size(self) -> int:
        return len(self.code)

    def text(self) -> str:
        return self._text

    def at(self, address: int) -> "Data":
        return Data(self._text, self.code, address, self.kind)

    def __repr__(self) -> str:
        return f"<Data {self._text}>"


class _Late:
    """An instruction whose encoding depends on where its label ends up."""

    def __init__(self, api, ops, cond, setflags, in_it, first: Insn):
        self.api, self.ops, self.cond, self.setflags, self.in_it = api, ops, cond, setflags, in_it
        self.first_width = self.width = first.size
        # like GAS, only instructions with both a 16- and a 32-bit form relax
        self.relaxable = first.size == 2 and any(f.size == 4 for f in FORMS_BY_API[api])
        self.frozen = not self.relaxable

    def size(self, address: int) -> int:
        return self.width

    def _encode(self, ctx: Ctx, min_size: int = 2) -> Insn:
        if self.api in ("cbz", "cbnz") and ctx.target(self.ops["target"]) == ctx.address + 2:
            # GNU as assembles a cbz/cbnz to the next instruction as a nop
            return encode("nop", {}, ctx)
        return encode(self.api, self.ops, ctx, self.cond, self.setflags, min_size)

    def fits_narrow(self, address: int, target) -> bool:
        try:
            return self._encode(Ctx(address, target, self.in_it)).size == 2
        except AssemblyError:
            return False

    def emit(self, address: int, labels: dict) -> Insn:
        insn = self._encode(Ctx(address, labels.__getitem__, self.in_it), self.width)
        assert insn.size == self.width, "relaxation ended in an inconsistent layout"
        return insn


class _Bind:
    def __init__(self, label: Label) -> None:
        self.label = label

    def size(self, address: int) -> int:
        return 0


class _Fixed:
    def __init__(self, item: Insn | Data) -> None:
        self.item = item

    def size(self, address: int) -> int:
        return self.item.size

    def emit(self, address: int, labels: dict) -> Insn | Data:
        return self.item.at(address)


class _WordOf:
    """`.word label`: the label's offset from the start of the code."""

    def __init__(self, label: Label) -> None:
        self.label = label

    def size(self, address: int) -> int:
        return 4

    def emit(self, address: int, labels: dict) -> Data:
        return Data(f".word {self.label.name}", labels.offset(self.label).to_bytes(4, "little"),
                    address)


class _Align:
    def __init__(self, n: int) -> None:
        self.n = n

    def size(self, address: int) -> int:
        return -address % self.n

    def emit(self, address: int, labels: dict) -> Data:
        # kept even when empty: the listing then reassembles to the same bytes
        return Data(f".balign {self.n}", align_filler(address, self.n), address, kind="nop")


def align_filler(address: int, n: int) -> bytes:
    """GAS's Thumb-2 padding for `.balign n` at `address`: a zero byte if odd,
    a 16-bit nop if needed, then 32-bit nops."""
    pad = -address % n
    return b"\0" * (pad & 1) + _NOP * (pad >> 1 & 1) + _NOP_W * (pad >> 2)


class _Layout(dict):
    """Label -> absolute address for one layout pass."""

    def __init__(self, origin: int) -> None:
        super().__init__()
        self.origin = origin

    def offset(self, label: Label) -> int:
        return self[label] - self.origin


class Program:
    """Result of `Assembler.assemble()`."""

    def __init__(self, code: bytes, origin: int, entries: list) -> None:
        self.code, self.origin = code, origin
        self._entries = entries     # (offset, label name or Insn/Data) in program order
        self.insns: list[tuple[int, Insn | Data]] = [e for e in entries if not isinstance(e[1], str)]
        self.labels: dict[str, int] = {e[1]: e[0] for e in entries if isinstance(e[1], str)}

    def address(self, label: Label | str) -> int:
        """Offset of a label from the start of the code."""
        name = label.name if isinstance(label, Label) else label
        try:
            return self.labels[name]
        except KeyError:
            raise AssemblyError(f"label '{name}' is not bound in this program") from None

    def listing(self) -> str:
        """Label lines, and per item: offset, bytes (instructions as halfwords), GAS text."""
        return "".join(f"{item}:\n" if isinstance(item, str)
                       else f"  {off:06x}:  {_hex(item):<14} {item.text()}\n"
                       for off, item in self._entries)

    def source(self) -> str:
        """GAS source (after `.syntax unified`, `.thumb`) that GNU as assembles to `code`."""
        return "".join(f"{item}:\n" if isinstance(item, str) else f"{item.text()}\n"
                       for _, item in self._entries)


def _hex(item) -> str:
    """Instructions (and nop filler) as halfwords, words as values, other data as bytes."""
    code = item.code
    if isinstance(item, Insn) or (item.kind == "nop" and len(code) % 2 == 0):
        hws = [code[k:k + 2][::-1].hex() for k in range(0, len(code), 2)]
        return " ".join(hws[:2]) + (" ..." if len(hws) > 2 else "")
    if len(code) in (2, 4):
        return code[::-1].hex()
    return code[:4].hex() + ("..." if len(code) > 4 else "")


def _cond(cond: str | None) -> str | None:
    if cond is None:
        return None
    c = COND_ALIASES.get(str(cond).lower(), str(cond).lower())
    if c not in CONDS:
        raise AssemblyError(f"unknown condition {cond!r}")
    return None if c == "al" else c


def _regs(regs: Iterable[Reg], what: str) -> tuple[Reg, ...]:
    regs = tuple(regs)
    if not regs or not all(isinstance(r, Reg) for r in regs):
        raise AssemblyError(f"{what} needs a non-empty list of core registers, got {regs!r}")
    if len(set(regs)) != len(regs):
        raise AssemblyError(f"{what}: register listed twice in {regs!r}")
    return tuple(sorted(regs, key=lambda r: r.num))


def _shift(shift):
    if shift is None or (isinstance(shift, tuple) and len(shift) == 2 and shift[1] == 0
                         and shift[0] == "lsl"):
        return None
    if isinstance(shift, tuple) and len(shift) == 2 and isinstance(shift[0], str):
        return (shift[0].lower(), shift[1])
    raise AssemblyError(f"shift must be ('lsl'|'lsr'|'asr'|'ror', n), got {shift!r}")


# immediates an instruction cannot encode may fit its twin: add #-x is sub #x, and #x is bic #~x
def _neg(v):
    return -_s32(v)


def _inv(v):
    return ~v & 0xFFFFFFFF


_TWIN = {"add": ("sub", _neg), "sub": ("add", _neg), "cmp": ("cmn", _neg), "cmn": ("cmp", _neg),
         "adc": ("sbc", _inv), "sbc": ("adc", _inv), "and": ("bic", _inv), "bic": ("and", _inv),
         "mov_imm": ("mvn", _inv), "mvn": ("mov_imm", _inv)}


class Assembler:
    """Builds a Thumb-2 program one instruction at a time."""

    def __init__(self) -> None:
        self._items: list = []
        self._names: set[str] = set()
        self._bound: set[Label] = set()
        self._used: dict[Label, str] = {}
        self._it: list[str] = []        # conditions of the open IT block's remaining slots
        self._count = 0

    # labels

    def label(self, name: str | None = None) -> Label:
        """A new, unbound label; its name is made unique."""
        if name is None:
            name = f"L{self._count}"
        elif not isinstance(name, str) or not _SYMBOL.match(name):
            raise AssemblyError(f"label name {name!r} is not a valid symbol")
        base, k = name, 0
        while name in self._names or name.lower() in _RESERVED:
            k += 1
            name = f"{base}_{k}"
        self._count += 1
        self._names.add(name)
        return Label(name, self)

    def bind(self, label: Label) -> None:
        """Place `label` at the current position."""
        self._own(label)
        if label in self._bound:
            raise AssemblyError(f"label '{label.name}' is bound twice")
        if self._it:
            raise AssemblyError(f"label '{label.name}' inside an IT block")
        self._bound.add(label)
        self._items.append(_Bind(label))

    def here(self, name: str | None = None) -> Label:
        """A new label bound at the current position."""
        lab = self.label(name)
        self.bind(lab)
        return lab

    def _own(self, label) -> None:
        if not isinstance(label, Label) or label.owner is not self:
            raise AssemblyError(f"{label!r} is not a label of this assembler")

    # emitting

    def _slot(self, name: str, cond, *, branch: bool = False, in_it_ok: bool = True):
        """Condition and IT state for the next instruction; consumes an IT slot."""
        cond = _cond(cond)
        if not self._it:
            if cond is not None and not branch:
                raise AssemblyError(f"conditional '{name}{cond}' outside an IT block")
            return cond, False
        if not in_it_ok:
            raise AssemblyError(f"'{name}' cannot be inside an IT block")
        want = self._it.pop(0)
        if cond != want:
            raise AssemblyError(f"'{name}' in an IT block needs condition '{want}', "
                                f"got {cond or 'none'}")
        return cond, True

    def _emit(self, api: str, cond=None, s: bool = False, **ops) -> None:
        self._emit_any(api, [(api, ops)], cond, s)

    def _emit_any(self, name: str, choices, cond=None, s: bool = False, *,
                  branch: bool = False, in_it_ok: bool = True) -> None:
        """Append the first of (api, operands) `choices` that has an encoding."""
        cond, in_it = self._slot(name, cond, branch=branch, in_it_ok=in_it_ok)
        error = None
        for api, ops in choices:
            labels = [v for v in ops.values() if isinstance(v, Label)]
            for lab in labels:
                self._own(lab)
            try:
                insn = encode(api, ops, Ctx(None, None, in_it), cond, s)
            except AssemblyError as e:
                error = error or e
                continue
            if labels:
                self._items.append(_Late(api, ops, cond, s, in_it, insn))
                for lab in labels:
                    self._used.setdefault(lab, api)
            else:
                self._items.append(_Fixed(insn))
            if in_it and self._it and insn.writes_pc:
                raise AssemblyError(f"'{name}' changes pc and must be last in its IT block")
            return
        raise error

    def _data(self, text: str, code: bytes) -> None:
        if self._it:
            raise AssemblyError(f"data ({text}) inside an IT block")
        self._items.append(_Fixed(Data(text, code)))

    # moves

    def mov(self, rd: Reg, rm: Reg, cond=None) -> None:
        """Register move, `mov rd, rm` (never sets flags)."""
        self._emit("mov", cond, rd=rd, rm=rm)

    def movs(self, rd: Reg, src, cond=None) -> None:
        """`movs rd, rm` or `movs rd, #imm` (sets flags)."""
        if isinstance(src, Reg):
            self._emit("mov", cond, True, rd=rd, rm=src)
        else:
            self._emit("mov_imm", cond, True, rd=rd, imm=src)

    def mov_imm(self, rd: Reg, imm: int, cond=None) -> None:
        """`mov rd, #imm` as GAS encodes it (modified immediate, MOVW, or MVN of ~imm)."""
        self._emit_any("mov", self._twins("mov_imm", dict(rd=rd), imm), cond)

    def mvn(self, rd: Reg, src, shift=None, cond=None) -> None:
        """`mvn rd, #imm` or `mvn rd, rm{, shift}`."""
        if isinstance(src, Reg):
            self._emit("mvn", cond, rd=rd, rm=src, shift=_shift(shift))
        else:
            self._emit_any("mvn", self._twins("mvn", dict(rd=rd), src), cond)

    def movw(self, rd: Reg, imm16: int, cond=None) -> None:
        self._emit("movw", cond, rd=rd, imm=imm16)

    def movt(self, rd: Reg, imm16: int, cond=None) -> None:
        self._emit("movt", cond, rd=rd, imm=imm16)

    def mov_const(self, rd: Reg, value: int) -> None:
        """Load any 32-bit constant with the fewest instructions; flags untouched."""
        v = _u32(value, "constant")
        try:
            self.mov_imm(rd, v)
        except AssemblyError:
            if self._it:
                raise
            self.movw(rd, v & 0xFFFF)
            self.movt(rd, v >> 16)

    @staticmethod
    def _twins(api: str, ops: dict, imm) -> list:
        if isinstance(imm, bool) or not isinstance(imm, int):
            raise AssemblyError(f"{api}: immediate must be an integer, got {imm!r}")
        twin, f = _TWIN[api]
        first = (api, {**ops, "imm": imm})
        if not -(1 << 31) <= imm < (1 << 32):
            return [first]
        second = (twin, {**ops, "imm": f(imm)})
        # negative add/sub/cmp immediates are naturally the twin's positive ones
        return [second, first] if f is _neg and _s32(imm) < 0 else [first, second]

    # arithmetic and logic

    def _alu(self, api: str, rd, rn, op2, shift, cond, s) -> None:
        base = dict(rd=rd, rn=rn) if rd is not None else dict(rn=rn)
        if isinstance(op2, Reg):
            self._emit_any(api, [(api, {**base, "rm": op2, "shift": _shift(shift)})], cond, s)
        elif shift is not None:
            raise AssemblyError(f"{api}: a shift applies to a register operand only")
        elif api in _TWIN:
            self._emit_any(api, self._twins(api, base, op2), cond, s)
        else:
            self._emit_any(api, [(api, {**base, "imm": op2})], cond, s)

    def add(self, rd, rn, op2, shift=None, cond=None):
        self._alu("add", rd, rn, op2, shift, cond, False)

    def adds(self, rd, rn, op2, shift=None, cond=None):
        self._alu("add", rd, rn, op2, shift, cond, True)

    def sub(self, rd, rn, op2, shift=None, cond=None):
        self._alu("sub", rd, rn, op2, shift, cond, False)

    def subs(self, rd, rn, op2, shift=None, cond=None):
        self._alu("sub", rd, rn, op2, shift, cond, True)

    def rsb(self, rd, rn, op2, shift=None, cond=None):
        self._alu("rsb", rd, rn, op2, shift, cond, False)

    def rsbs(self, rd, rn, op2, shift=None, cond=None):
        self._alu("rsb", rd, rn, op2, shift, cond, True)

    def adc(self, rd, rn, op2, shift=None, cond=None):
        self._alu("adc", rd, rn, op2, shift, cond, False)

    def adcs(self, rd, rn, op2, shift=None, cond=None):
        self._alu("adc", rd, rn, op2, shift, cond, True)

    def sbc(self, rd, rn, op2, shift=None, cond=None):
        self._alu("sbc", rd, rn, op2, shift, cond, False)

    def sbcs(self, rd, rn, op2, shift=None, cond=None):
        self._alu("sbc", rd, rn, op2, shift, cond, True)

    def and_(self, rd, rn, op2, shift=None, cond=None):
        self._alu("and", rd, rn, op2, shift, cond, False)

    def ands(self, rd, rn, op2, shift=None, cond=None):
        self._alu("and", rd, rn, op2, shift, cond, True)

    def orr(self, rd, rn, op2, shift=None, cond=None):
        self._alu("orr", rd, rn, op2, shift, cond, False)

    def orrs(self, rd, rn, op2, shift=None, cond=None):
        self._alu("orr", rd, rn, op2, shift, cond, True)

    def eor(self, rd, rn, op2, shift=None, cond=None):
        self._alu("eor", rd, rn, op2, shift, cond, False)

    def eors(self, rd, rn, op2, shift=None, cond=None):
        self._alu("eor", rd, rn, op2, shift, cond, True)

    def bic(self, rd, rn, op2, shift=None, cond=None):
        self._alu("bic", rd, rn, op2, shift, cond, False)

    def bics(self, rd, rn, op2, shift=None, cond=None):
        self._alu("bic", rd, rn, op2, shift, cond, True)

    def cmp(self, rn, op2, shift=None, cond=None):
        self._alu("cmp", None, rn, op2, shift, cond, False)

    def cmn(self, rn, op2, shift=None, cond=None):
        self._alu("cmn", None, rn, op2, shift, cond, False)

    def tst(self, rn, op2, shift=None, cond=None):
        self._alu("tst", None, rn, op2, shift, cond, False)

    def addw(self, rd, rn, imm12, cond=None):
        self._emit("addw", cond, rd=rd, rn=rn, imm=imm12)

    def subw(self, rd, rn, imm12, cond=None):
        self._emit("subw", cond, rd=rd, rn=rn, imm=imm12)

    def _shift_op(self, api, rd, rm, amount, cond, s):
        if isinstance(amount, Reg):
            self._emit(api, cond, s, rd=rd, rm=rm, rs=amount)
        elif amount == 0 and isinstance(amount, int):
            self._emit("mov", cond, s, rd=rd, rm=rm)      # a shift by 0 is a move
        else:
            self._emit(api, cond, s, rd=rd, rm=rm, imm=amount)

    def lsl(self, rd, rm, amount, cond=None):
        self._shift_op("lsl", rd, rm, amount, cond, False)

    def lsls(self, rd, rm, amount, cond=None):
        self._shift_op("lsl", rd, rm, amount, cond, True)

    def lsr(self, rd, rm, amount, cond=None):
        self._shift_op("lsr", rd, rm, amount, cond, False)

    def lsrs(self, rd, rm, amount, cond=None):
        self._shift_op("lsr", rd, rm, amount, cond, True)

    def asr(self, rd, rm, amount, cond=None):
        self._shift_op("asr", rd, rm, amount, cond, False)

    def asrs(self, rd, rm, amount, cond=None):
        self._shift_op("asr", rd, rm, amount, cond, True)

    def ror(self, rd, rm, amount, cond=None):
        self._shift_op("ror", rd, rm, amount, cond, False)

    def rors(self, rd, rm, amount, cond=None):
        self._shift_op("ror", rd, rm, amount, cond, True)

    def mul(self, rd, rn, rm, cond=None):
        self._emit("mul", cond, rd=rd, rn=rn, rm=rm)

    def muls(self, rd, rn, rm, cond=None):
        """16-bit `muls rd, rn, rd` (low registers; rd must be rn or rm)."""
        self._emit("mul", cond, True, rd=rd, rn=rn, rm=rm)

    def mla(self, rd, rn, rm, ra, cond=None):
        self._emit("mla", cond, rd=rd, rn=rn, rm=rm, ra=ra)

    def mls(self, rd, rn, rm, ra, cond=None):
        self._emit("mls", cond, rd=rd, rn=rn, rm=rm, ra=ra)

    def sdiv(self, rd, rn, rm, cond=None):
        self._emit("sdiv", cond, rd=rd, rn=rn, rm=rm)

    def udiv(self, rd, rn, rm, cond=None):
        self._emit("udiv", cond, rd=rd, rn=rn, rm=rm)

    def ubfx(self, rd, rn, lsb, width, cond=None):
        self._emit("ubfx", cond, rd=rd, rn=rn, lsb=lsb, width=width)

    def sbfx(self, rd, rn, lsb, width, cond=None):
        self._emit("sbfx", cond, rd=rd, rn=rn, lsb=lsb, width=width)

    def clz(self, rd, rm, cond=None):
        self._emit("clz", cond, rd=rd, rm=rm)

    # loads and stores

    def _mem(self, api, rt, rn, offset, index, cond):
        if index not in ("offset", "pre", "post"):
            raise AssemblyError(f"{api}: index must be 'offset', 'pre' or 'post', got {index!r}")
        self._emit(api, cond, rt=rt, rn=rn, off=offset, idx=index)

    def ldr(self, rt, rn, offset=0, index="offset", cond=None):
        self._mem("ldr", rt, rn, offset, index, cond)

    def str(self, rt, rn, offset=0, index="offset", cond=None):
        self._mem("str", rt, rn, offset, index, cond)

    def ldrb(self, rt, rn, offset=0, index="offset", cond=None):
        self._mem("ldrb", rt, rn, offset, index, cond)

    def strb(self, rt, rn, offset=0, index="offset", cond=None):
        self._mem("strb", rt, rn, offset, index, cond)

    def ldrh(self, rt, rn, offset=0, index="offset", cond=None):
        self._mem("ldrh", rt, rn, offset, index, cond)

    def strh(self, rt, rn, offset=0, index="offset", cond=None):
        self._mem("strh", rt, rn, offset, index, cond)

    def ldrsb(self, rt, rn, offset=0, index="offset", cond=None):
        self._mem("ldrsb", rt, rn, offset, index, cond)

    def ldrsh(self, rt, rn, offset=0, index="offset", cond=None):
        self._mem("ldrsh", rt, rn, offset, index, cond)

    def _mem_reg(self, api, rt, rn, rm, lsl, cond):
        self._emit(api, cond, rt=rt, rn=rn, rm=rm, lsl=lsl)

    def ldr_reg(self, rt, rn, rm, lsl=0, cond=None):
        """`ldr rt, [rn, rm, lsl #n]`."""
        self._mem_reg("ldr_reg", rt, rn, rm, lsl, cond)

    def str_reg(self, rt, rn, rm, lsl=0, cond=None):
        self._mem_reg("str_reg", rt, rn, rm, lsl, cond)

    def ldrb_reg(self, rt, rn, rm, lsl=0, cond=None):
        self._mem_reg("ldrb_reg", rt, rn, rm, lsl, cond)

    def strb_reg(self, rt, rn, rm, lsl=0, cond=None):
        self._mem_reg("strb_reg", rt, rn, rm, lsl, cond)

    def ldrh_reg(self, rt, rn, rm, lsl=0, cond=None):
        self._mem_reg("ldrh_reg", rt, rn, rm, lsl, cond)

    def strh_reg(self, rt, rn, rm, lsl=0, cond=None):
        self._mem_reg("strh_reg", rt, rn, rm, lsl, cond)

    def ldrsb_reg(self, rt, rn, rm, lsl=0, cond=None):
        self._mem_reg("ldrsb_reg", rt, rn, rm, lsl, cond)

    def ldrsh_reg(self, rt, rn, rm, lsl=0, cond=None):
        self._mem_reg("ldrsh_reg", rt, rn, rm, lsl, cond)

    def ldrd(self, rt, rt2, rn, offset=0, index="offset", cond=None):
        if index not in ("offset", "pre", "post"):
            raise AssemblyError(f"ldrd: index must be 'offset', 'pre' or 'post', got {index!r}")
        self._emit("ldrd", cond, rt=rt, rt2=rt2, rn=rn, off=offset, idx=index)

    def strd(self, rt, rt2, rn, offset=0, index="offset", cond=None):
        if index not in ("offset", "pre", "post"):
            raise AssemblyError(f"strd: index must be 'offset', 'pre' or 'post', got {index!r}")
        self._emit("strd", cond, rt=rt, rt2=rt2, rn=rn, off=offset, idx=index)

    def ldr_label(self, rt, label: Label, cond=None):
        """PC-relative literal load `ldr rt, label`."""
        self._emit("ldr_label", cond, rt=rt, lit=label)

    def _multi(self, name, api, rn, regs, wb, cond, single):
        """ldm/stm family; one register becomes the equivalent ldr/str, as in GAS."""
        regs = _regs(regs, name)
        if not isinstance(wb, bool):
            raise AssemblyError(f"{name}: wb must be True or False")
        choices = [(api, dict(rn=rn, wb=wb, regs=regs))]
        if len(regs) == 1:
            choices.append(single(regs[0]))
        self._emit_any(name, choices, cond)

    def ldm(self, rn, regs, wb=False, cond=None):
        """`ldm rn{!}, {regs}` (increment after)."""
        self._multi("ldm", "ldm", rn, regs, wb, cond, lambda r: (
            "ldr", dict(rt=r, rn=rn, off=4 if wb else 0, idx="post" if wb else "offset")))

    def stm(self, rn, regs, wb=False, cond=None):
        """`stm rn{!}, {regs}` (increment after)."""
        self._multi("stm", "stm", rn, regs, wb, cond, lambda r: (
            "str", dict(rt=r, rn=rn, off=4 if wb else 0, idx="post" if wb else "offset")))

    def stmdb(self, rn, regs, wb=False, cond=None):
        """`stmdb rn{!}, {regs}` (decrement before)."""
        self._multi("stmdb", "stmdb", rn, regs, wb, cond, lambda r: (
            "str", dict(rt=r, rn=rn, off=-4, idx="pre" if wb else "offset")))

    def push(self, regs, cond=None):
        self._multi("push", "push", sp, regs, True, cond, lambda r: (
            "str", dict(rt=r, rn=sp, off=-4, idx="pre")))

    def pop(self, regs, cond=None):
        self._multi("pop", "pop", sp, regs, True, cond, lambda r: (
            "ldr", dict(rt=r, rn=sp, off=4, idx="post")))

    # branches and control

    def b(self, label: Label, cond=None):
        """Branch; conditional outside an IT block uses the conditional encodings."""
        self._emit_any("b", [("b", dict(target=label))], cond, branch=True)

    def bl(self, label: Label, cond=None):
        self._emit_any("bl", [("bl", dict(target=label))], cond)

    def bx(self, rm: Reg, cond=None):
        self._emit("bx", cond, rm=rm)

    def blx(self, rm: Reg, cond=None):
        self._emit("blx", cond, rm=rm)

    def cbz(self, rn: Reg, label: Label):
        """Compare and branch if zero; forward 0..126 bytes only."""
        self._emit_any("cbz", [("cbz", dict(rn=rn, target=label))], in_it_ok=False)

    def cbnz(self, rn: Reg, label: Label):
        self._emit_any("cbnz", [("cbnz", dict(rn=rn, target=label))], in_it_ok=False)

    def it(self, cond, pattern: str = ""):
        """Open an IT block: `it("gt", "e")` is `ite gt`."""
        c = _cond(cond)
        if self._it:
            raise AssemblyError("IT instruction inside an IT block")
        if c is None:
            raise AssemblyError(f"it needs a condition other than 'al', got {cond!r}")
        pattern = str(pattern).lower()
        if len(pattern) > 3 or set(pattern) - set("te"):
            raise AssemblyError(f"IT pattern {pattern!r} must be up to three of 't'/'e'")
        self._emit("it", None, it=(c, pattern))
        self._it = [c] + [c if p == "t" else invert_cond(c) for p in pattern]

    def nop(self, cond=None):
        self._emit("nop", cond)

    def bkpt(self, imm8: int = 0):
        self._emit("bkpt", None, imm=imm8)

    def udf(self, imm8: int = 0):
        self._emit_any("udf", [("udf", dict(imm=imm8))], in_it_ok=False)

    def adr(self, rd: Reg, label: Label, cond=None):
        """Address of a label (`adr`, relaxed to `adr.w` when needed)."""
        self._emit("adr", cond, rd=rd, lit=label)

    # floating point (single precision)

    def _fp3(self, api, sd, sn, sm, cond):
        self._emit(api, cond, sd=sd, sn=sn, sm=sm)

    def vadd(self, sd, sn, sm, cond=None):
        self._fp3("vadd", sd, sn, sm, cond)

    def vsub(self, sd, sn, sm, cond=None):
        self._fp3("vsub", sd, sn, sm, cond)

    def vmul(self, sd, sn, sm, cond=None):
        self._fp3("vmul", sd, sn, sm, cond)

    def vnmul(self, sd, sn, sm, cond=None):
        self._fp3("vnmul", sd, sn, sm, cond)

    def vdiv(self, sd, sn, sm, cond=None):
        self._fp3("vdiv", sd, sn, sm, cond)

    def vmla(self, sd, sn, sm, cond=None):
        self._fp3("vmla", sd, sn, sm, cond)

    def vmls(self, sd, sn, sm, cond=None):
        self._fp3("vmls", sd, sn, sm, cond)

    def vnmla(self, sd, sn, sm, cond=None):
        self._fp3("vnmla", sd, sn, sm, cond)

    def vnmls(self, sd, sn, sm, cond=None):
        self._fp3("vnmls", sd, sn, sm, cond)

    def vfma(self, sd, sn, sm, cond=None):
        self._fp3("vfma", sd, sn, sm, cond)

    def vfms(self, sd, sn, sm, cond=None):
        self._fp3("vfms", sd, sn, sm, cond)

    def vfnma(self, sd, sn, sm, cond=None):
        self._fp3("vfnma", sd, sn, sm, cond)

    def vfnms(self, sd, sn, sm, cond=None):
        self._fp3("vfnms", sd, sn, sm, cond)

    def _fp2(self, api, sd, sm, cond):
        self._emit(api, cond, sd=sd, sm=sm)

    def vneg(self, sd, sm, cond=None):
        self._fp2("vneg", sd, sm, cond)

    def vabs(self, sd, sm, cond=None):
        self._fp2("vabs", sd, sm, cond)

    def vsqrt(self, sd, sm, cond=None):
        self._fp2("vsqrt", sd, sm, cond)

    def vmov(self, sd, sm, cond=None):
        self._fp2("vmov", sd, sm, cond)

    def vmov_imm(self, sd, value: float, cond=None):
        """`vmov.f32 sd, #value` (only VFP-encodable constants, see is_vfp_imm)."""
        self._emit("vmov_imm", cond, sd=sd, imm=value)

    def vmov_to_core(self, rt, sn, cond=None):
        self._emit("vmov_to_core", cond, rt=rt, sn=sn)

    def vmov_from_core(self, sn, rt, cond=None):
        self._emit("vmov_from_core", cond, sd=sn, rm=rt)

    def vmov_to_core2(self, rt, rt2, sm, cond=None):
        """`vmov rt, rt2, sm, sm+1`: two S registers to two core registers."""
        self._emit("vmov_to_core2", cond, rt=rt, rt2=rt2, sm=sm)

    def vmov_from_core2(self, sm, rt, rt2, cond=None):
        """`vmov sm, sm+1, rt, rt2`: two core registers to two S registers."""
        self._emit("vmov_from_core2", cond, rt=rt, rt2=rt2, sm=sm)

    def _vcmp(self, api, sd, other, cond):
        if isinstance(other, SReg):
            self._emit(api, cond, sd=sd, sm=other)
        elif isinstance(other, (int, float)) and not isinstance(other, bool) and other == 0:
            self._emit(api, cond, sd=sd, zero=0.0)
        else:
            raise AssemblyError(f"{api} compares with an S register or 0.0, got {other!r}")

    def vcmp(self, sd, sm_or_zero, cond=None):
        self._vcmp("vcmp", sd, sm_or_zero, cond)

    def vcmpe(self, sd, sm_or_zero, cond=None):
        self._vcmp("vcmpe", sd, sm_or_zero, cond)

    def vmrs_apsr(self, cond=None):
        """`vmrs APSR_nzcv, fpscr`: FP comparison flags to the core flags."""
        self._emit("vmrs_apsr", cond)

    def vmrs(self, rt, cond=None):
        self._emit("vmrs", cond, rt=rt)

    def vmsr(self, rt, cond=None):
        self._emit("vmsr", cond, rt=rt)

    def vcvt_f32_s32(self, sd, sm, cond=None):
        self._fp2("vcvt_f32_s32", sd, sm, cond)

    def vcvt_f32_u32(self, sd, sm, cond=None):
        self._fp2("vcvt_f32_u32", sd, sm, cond)

    def vcvt_s32_f32(self, sd, sm, cond=None):
        """float to int32, rounding toward zero."""
        self._fp2("vcvt_s32_f32", sd, sm, cond)

    def vcvt_u32_f32(self, sd, sm, cond=None):
        self._fp2("vcvt_u32_f32", sd, sm, cond)

    def vcvtr_s32_f32(self, sd, sm, cond=None):
        """float to int32 with the FPSCR rounding mode."""
        self._fp2("vcvtr_s32_f32", sd, sm, cond)

    def vcvtr_u32_f32(self, sd, sm, cond=None):
        self._fp2("vcvtr_u32_f32", sd, sm, cond)

    def vcvtb_f32_f16(self, sd, sm, cond=None):
        self._fp2("vcvtb_f32_f16", sd, sm, cond)

    def vcvtt_f32_f16(self, sd, sm, cond=None):
        self._fp2("vcvtt_f32_f16", sd, sm, cond)

    def vcvtb_f16_f32(self, sd, sm, cond=None):
        self._fp2("vcvtb_f16_f32", sd, sm, cond)

    def vcvtt_f16_f32(self, sd, sm, cond=None):
        self._fp2("vcvtt_f16_f32", sd, sm, cond)

    def vldr(self, sd, rn, offset=0, cond=None):
        self._emit("vldr", cond, sd=sd, rn=rn, off=offset, idx="offset")

    def vstr(self, sd, rn, offset=0, cond=None):
        self._emit("vstr", cond, sd=sd, rn=rn, off=offset, idx="offset")

    def vldr_label(self, sd, label: Label, cond=None):
        self._emit("vldr_label", cond, sd=sd, lit=label)

    def vldm(self, rn, first: SReg, count: int, wb=False, cond=None):
        """`vldmia rn{!}, {first-...}` of `count` consecutive S registers."""
        self._emit("vldm", cond, rn=rn, wb=wb, list=(first, count))

    def vstm(self, rn, first: SReg, count: int, wb=False, cond=None):
        self._emit("vstm", cond, rn=rn, wb=wb, list=(first, count))

    def vldmdb(self, rn, first: SReg, count: int, cond=None):
        self._emit("vldmdb", cond, rn=rn, wb=True, list=(first, count))

    def vstmdb(self, rn, first: SReg, count: int, cond=None):
        self._emit("vstmdb", cond, rn=rn, wb=True, list=(first, count))

    def vpush(self, first: SReg, count: int, cond=None):
        self._emit("vpush", cond, rn=sp, wb=True, list=(first, count))

    def vpop(self, first: SReg, count: int, cond=None):
        self._emit("vpop", cond, rn=sp, wb=True, list=(first, count))

    # data

    def word(self, value) -> None:
        """A 32-bit word: an integer, or a label's offset from the start of the code."""
        if isinstance(value, Label):
            self._own(value)
            if self._it:
                raise AssemblyError(f"data (.word {value.name}) inside an IT block")
            self._used.setdefault(value, "word")
            self._items.append(_WordOf(value))
        else:
            v = _u32(value, ".word")
            self._data(f".word 0x{v:08x}", v.to_bytes(4, "little"))

    def hword(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not -(1 << 15) <= value < (1 << 16):
            raise AssemblyError(f".hword {value!r} is not a 16-bit integer")
        v = value & 0xFFFF
        self._data(f".hword 0x{v:04x}", v.to_bytes(2, "little"))

    def float32(self, x: float) -> None:
        """A single-precision float (rounded to nearest as numpy.float32 does)."""
        try:
            code = struct.pack("<f", x)
        except (OverflowError, struct.error, TypeError):
            raise AssemblyError(f".float {x!r} is not representable as float32") from None
        self._data(f".word 0x{int.from_bytes(code, 'little'):08x}  @ float32 {x!r}", code)

    def space(self, n: int) -> None:
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise AssemblyError(f".space needs a byte count >= 0, got {n!r}")
        if n:
            self._data(f".space {n}", bytes(n))

    def align(self, n: int) -> None:
        """Pad to a multiple of n bytes as GAS pads `.balign n` in Thumb code."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1 or n & (n - 1):
            raise AssemblyError(f"align needs a power of two, got {n!r}")
        if self._it:
            raise AssemblyError("align inside an IT block")
        self._items.append(_Align(n))

    # assembly

    def assemble(self, origin: int = 0) -> Program:
        """Lay out and encode everything; branches and literals relax as in GNU as."""
        if self._it:
            raise AssemblyError(f"IT block not finished ({len(self._it)} instruction(s) missing)")
        for lab, api in self._used.items():
            if lab not in self._bound:
                raise AssemblyError(f"label '{lab.name}' is used by {api} but never bound")
        addresses, labels = _relax(self._items, origin)
        code, entries = bytearray(), []
        for item, address in zip(self._items, addresses):
            if isinstance(item, _Bind):
                entries.append((address - origin, item.label.name))
                continue
            part = item.emit(address, labels)
            entries.append((len(code), part))
            code += part.code
        return Program(bytes(code), origin, entries)


def _layout(items: list, origin: int) -> tuple[list[int], _Layout]:
    addresses, labels, address = [], _Layout(origin), origin
    for item in items:
        addresses.append(address)
        if isinstance(item, _Bind):
            labels[item.label] = address
        address += item.size(address)
    return addresses, labels


def _relax(items: list, origin: int) -> tuple[list[int], _Layout]:
    """Sizes of label-dependent instructions, decided as GNU as decides them.

    This follows GAS's relax_segment/arm_relax_frag, so that the bytes match GNU as
    even where several layouts would be valid: every relaxable instruction starts
    narrow; each pass walks the code once, moving everything by the growth so far
    (`stretch`); a label not yet reached in the pass is assumed to move by `stretch`
    too (rounded down by each alignment in between); a wide instruction that has not
    moved forward in the pass stays wide for good."""
    late = [item for item in items if isinstance(item, _Late)]
    for item in late:
        item.width, item.frozen = item.first_width, not item.relaxable
    bound_at = {item.label: k for k, item in enumerate(items) if isinstance(item, _Bind)}
    aligns = [k for k, item in enumerate(items) if isinstance(item, _Align)]
    addresses, labels = _layout(items, origin)
    while True:
        stretch, changed, moved, now = 0, False, [], _Layout(origin)
        for k, item in enumerate(items):
            was = addresses[k]
            address = was + stretch
            moved.append(address)
            growth = 0
            if isinstance(item, _Bind):
                now[item.label] = address
            elif isinstance(item, _Align):
                growth = item.size(address) - item.size(was)
            elif isinstance(item, _Late) and not item.frozen:
                def target(lab, k=k, stretch=stretch):
                    if lab in now:
                        return now[lab]
                    for a in aligns[bisect.bisect_right(aligns, k):bisect.bisect_left(aligns, bound_at[lab])]:
                        mask = items[a].n - 1
                        stretch = -(-stretch & ~mask) if stretch < 0 else stretch & ~mask
                    return labels[lab] + stretch
                width = 2 if item.fits_narrow(address, target) else 4
                growth, item.width = width - item.width, width
                item.frozen = stretch <= 0 and width == 4
            if growth:
                stretch += growth
                changed = True
        addresses, labels = moved, now
        if not changed:
            return addresses, labels
