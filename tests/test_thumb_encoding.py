"""Every form of the Thumb-2/FPv4 table, byte for byte against GNU as, and round-tripped
through the decoder."""
from __future__ import annotations

import random
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from ml4f.thumb import FORMS, Insn, decode, decode_all
from ml4f.thumb import encoding as E
from ml4f.thumb.regs import S, core, lr, pc, r0, r1, r3, r5, r7, r8, r10, r12, sp

pytestmark = pytest.mark.unit

GAS_FLAGS = ["-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16", "-mthumb", "-mfloat-abi=hard"]
_HARMLESS = ("section does not have enough alignment",)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not found: GNU binutils for ARM (Debian package "
                    f"binutils-arm-none-eabi) is the encoding oracle and must be installed",
                    pytrace=False)
    return path


class GasResult:
    def __init__(self, ok: bool, code: bytes, symbols: dict[str, int], messages: list[tuple[int, str]]):
        self.ok, self.code, self.symbols, self.messages = ok, code, symbols, messages

    def errors(self) -> str:
        return "\n".join(f"line {n}: {m}" for n, m in self.messages)


def run_gas(lines: list[str]) -> GasResult:
    """Assemble `lines` (after the Thumb prologue) with GNU as: .text bytes, symbols and
    messages (line numbers count from the first of `lines`)."""
    prologue = [".syntax unified", ".thumb", ".text"]
    with tempfile.TemporaryDirectory() as tmp:
        src, obj, binf = Path(tmp, "a.s"), Path(tmp, "a.o"), Path(tmp, "a.bin")
        src.write_text("\n".join(prologue + lines) + "\n")
        run = subprocess.run([_tool("arm-none-eabi-as"), *GAS_FLAGS, "-o", str(obj), str(src)],
                             capture_output=True, text=True)
        messages = [(int(m.group(1)) - len(prologue), m.group(2))
                    for m in re.finditer(r"a\.s:(\d+): (.*)", run.stderr)
                    if not any(h in m.group(2) for h in _HARMLESS)]
        if run.returncode:
            return GasResult(False, b"", {}, messages)
        subprocess.run([_tool("arm-none-eabi-objcopy"), "-O", "binary", "-j", ".text",
                        str(obj), str(binf)], check=True)
        nm = subprocess.run([_tool("arm-none-eabi-nm"), str(obj)], capture_output=True,
                            text=True, check=True).stdout
        code = binf.read_bytes() if binf.exists() else b""
    symbols = {name: int(value, 16) for value, _, name in
               (ln.split() for ln in nm.splitlines() if len(ln.split()) == 3)}
    return GasResult(True, code, symbols, messages)


def gas(units: list[str]) -> tuple[list[bytes], dict[int, list[str]]]:
    """Assemble `units` (each one or more lines) in one file: the bytes of each unit
    and GNU as's messages per unit index."""
    lines, unit_of_line = [], {}
    for k, unit in enumerate(units):
        lines.append(f"u{k}:")
        for text in unit.split("\n"):
            lines.append(text)
            unit_of_line[len(lines)] = k
    lines.append("u_end:")
    res = run_gas(lines)
    messages: dict[int, list[str]] = {}
    for line, msg in res.messages:
        messages.setdefault(unit_of_line.get(line, -1), []).append(f"{lines[line - 1]!r}: {msg}")
    if not res.ok:
        raise AssertionError("GNU as failed:\n" + "\n".join(
            f"unit {k}: {m}" for k, ms in messages.items() for m in ms))
    ends = [res.symbols[f"u{k}"] for k in range(len(units))] + [res.symbols["u_end"]]
    return [res.code[ends[k]:ends[k + 1]] for k in range(len(units))], messages


# --- operand samples per operand type ------------------------------------------------

_REG_SAMPLES = [r0, r7, r3, r8, r12, sp, lr, pc, r1, r5, r10]
_SREG_SAMPLES = [S[0], S[31], S[1], S[16], S[15], S[30], S[7]]
_MODIMM_SAMPLES = [0, 255, 1, 0x00AB00AB, 0xAB00AB00, 0xABABABAB, 0x100, 0xFF000000, 0x80000000,
                   0x3FC, 0x7F800000, 0x12C, 0xFFFFFFFF, 0x00010001, 0x01000100, 0xFF]
_SHIFT_SAMPLES = [None, ("lsl", 1), ("lsl", 31), ("lsr", 1), ("lsr", 32), ("asr", 32),
                  ("asr", 5), ("ror", 1), ("ror", 31)]
_VFP_SAMPLES = [1.0, -1.0, 0.125, 31.0, 2.0, 0.5, -0.1328125, 1.9375, 16.0, -3.0]


class Rel(int):
    """A branch offset sample; becomes an absolute target once the address is known."""


def _imm_samples(op: E.Imm) -> list[int]:
    lo, hi, step = op.lo, op.hi, op.step
    mid = lo + ((hi - lo) // 2 // step) * step
    return list(dict.fromkeys([lo, hi, lo + step, hi - step, mid]))


def samples(form: E.Form, name: str) -> list:
    op, width = form.ops[name], form.width(name)
    if isinstance(op, E.CoreReg):
        return [r for r in _REG_SAMPLES if r.num in op.cls.nums]
    if isinstance(op, E.SingleReg):
        return _SREG_SAMPLES
    if isinstance(op, E.LslAmount):
        return [0, 1, 2, 3]
    if isinstance(op, E.Imm):
        return _imm_samples(op)
    if isinstance(op, E.SignedOffset):
        lim, st = op.limit, op.step
        return [0, lim, -lim, st, -st, -2 * st, lim - st]
    if isinstance(op, E.ModImm):
        return _MODIMM_SAMPLES
    if isinstance(op, E.Fixed):
        return [op.fixed]
    if isinstance(op, E.Flag):
        return [False, True]
    if isinstance(op, E.Index):
        return ["offset", "pre", "post"]
    if isinstance(op, E.Shift):
        return _SHIFT_SAMPLES
    if isinstance(op, E.Branch):
        if not op.signed:
            return [Rel(0), Rel(2), Rel(126), Rel(64)]
        lim = 1 << width
        return [Rel(-lim), Rel(lim - 2), Rel(0), Rel(-4), Rel(100), Rel(-260), Rel(2050),
                Rel(-2052), Rel(1 << 20), Rel(-(1 << 20) - 2)]
    if isinstance(op, E.PcRel):
        lo, hi, st = op.lo, op.hi, op.step
        vals = [lo, hi, st, -st, 0, 4, -4, 1020, -1020, 1]
        return [(-v if op.negate else v) for v in vals
                if lo <= v <= hi and v % st == 0]
    if isinstance(op, E.RegList):
        regs = [core(n) for n in sorted(op.nums) if n != 13]
        out = [tuple(regs), (regs[0],), (regs[-1],), tuple(regs[:2]), (regs[0], regs[-1]),
               tuple(regs[1:4]), tuple(r for r in regs if r.num in (4, 5, 6, 7, 8, 9, 10, 11, 14))]
        return [t for t in out if t]
    if isinstance(op, E.SRegRange):
        return [(S[0], 1), (S[31], 1), (S[0], 32), (S[16], 16), (S[5], 3), (S[8], 8)]
    if isinstance(op, E.VfpImm):
        return _VFP_SAMPLES
    if isinstance(op, E.ItSpec):
        return [("eq", ""), ("ne", "t"), ("gt", "e"), ("lt", "tee"), ("cs", "ete"), ("hi", "eee")]
    raise AssertionError(f"no samples for {type(op).__name__}")


# --- building the cases ---------------------------------------------------------------

COND_SAMPLES = ["eq", "ne", "gt", "le", "cs", "cc", "mi", "pl", "vs", "vc", "hi", "ls", "ge", "lt"]


def _contexts(form: E.Form):
    """(cond, in_it, setflags) combinations the form can be used in."""
    out = []
    flags = {"no": [False], "yes": [True], "bit": [False, True], "it": None}[form.s]
    if form.cond_field:
        return [(c, False, f) for c in COND_SAMPLES[:6] for f in flags]
    for f in (flags or [True]):
        out.append((None, False, f))
    if form.it == "ok":
        for f in (flags or [False]):
            out.append(("gt", True, f))
            out.append(("ne", True, f))
    return out


def _operand_sets(form: E.Form, rng: random.Random):
    names = list(form.ops)
    choice = {n: samples(form, n) for n in names}
    base = {n: choice[n][0] for n in names}
    sets = [dict(base)]
    for n in names:
        for v in choice[n]:
            sets.append({**base, n: v})
    for _ in range(12):
        sets.append({n: rng.choice(choice[n]) for n in names})
    return sets


def _place(ops: dict, address: int) -> dict:
    return {k: (address + 4 + v if isinstance(v, Rel) else v) for k, v in ops.items()}


def _try(form, ops, cond, in_it, setflags, address):
    ctx = E.Ctx(address, None, in_it)
    try:
        word, canon = form.encode(_place(ops, address), ctx, cond, setflags)
    except E.Reject:
        return None
    target = canon.get("target") if isinstance(form.ops.get("target"), E.Branch) else None
    return Insn(form, canon, cond, setflags, in_it, address, word, target)


def _it_prefix(cond: str, address: int) -> Insn:
    word, canon = FORMS_IT.encode({"it": (cond, "")}, E.Ctx(address), None, False)
    return Insn(FORMS_IT, canon, None, False, False, address, word)


FORMS_IT = E.FORMS_BY_NAME["it"]
FORMS_NOP = E.FORMS_BY_NAME["nop"]


def build_cases():
    """[(unit text, our bytes, insns with their it_cond)] covering every form."""
    rng = random.Random(1234)
    cases, address, used = [], 0, set()
    for form in FORMS:
        seen = set()
        for cond, in_it, setflags in _contexts(form):
            for ops in _operand_sets(form, rng):
                key = (cond, in_it, setflags, tuple(sorted((k, repr(v)) for k, v in ops.items())))
                if key in seen:
                    continue
                seen.add(key)
                pre = _it_prefix(cond, address) if in_it else None
                at = address + (2 if pre else 0)
                insn = _try(form, ops, cond, in_it, setflags, at)
                if insn is None or not insn.reachable:
                    continue
                used.add(form.name)
                if form.name == "it":
                    # an IT block needs its instructions: conditional nops
                    first, pattern = insn.ops["it"]
                    conds = [first] + [first if p == "t" else E.invert_cond(first) for p in pattern]
                    nops = []
                    for k, c in enumerate(conds):
                        w, canon = FORMS_NOP.encode({}, E.Ctx(at + 2 + 2 * k, None, True), c, False)
                        nops.append((Insn(FORMS_NOP, canon, c, False, True, at + 2 + 2 * k, w), c))
                    items = [(insn, None)] + nops
                else:
                    items = ([(pre, None)] if pre else []) + [(insn, cond if in_it else None)]
                text = "\n".join(i.text() for i, _ in items)
                code = b"".join(i.code for i, _ in items)
                cases.append((text, code, items))
                address += len(code)
    return cases, used


@pytest.fixture(scope="module")
def cases():
    return build_cases()


@pytest.fixture(scope="module")
def gas_result(cases):
    units = [text for text, _, _ in cases[0]]
    return gas(units)


def test_every_form_is_exercised(cases):
    _, used = cases
    missing = [f.name for f in FORMS if f.name not in used]
    assert not missing, f"forms without a test case: {missing}"


def test_bytes_equal_gnu_as(cases, gas_result):
    got, messages = gas_result
    bad = []
    for k, (text, ours, _) in enumerate(cases[0]):
        if got[k] != ours or k in messages:
            bad.append(f"{text!r}: ours {ours.hex()} gas {got[k].hex()} {messages.get(k, '')}")
    assert not bad, f"{len(bad)} of {len(cases[0])} differ:\n" + "\n".join(bad[:300])


def test_decode_round_trip(cases):
    bad = []
    for text, code, items in cases[0]:
        base = items[0][0].address
        for insn, it_cond in items:
            try:
                back = decode(code, insn.address - base, base, it_cond)
            except ValueError as e:
                bad.append(f"{insn.text()!r}: {e}")
                continue
            if back != insn or back.text() != insn.text() or back.code != insn.code:
                bad.append(f"{insn.text()!r} [{insn.form.name}] -> {back.text()!r} [{back.form.name}]")
    assert not bad, f"{len(bad)} round trips differ:\n" + "\n".join(bad[:300])


def test_decode_all_follows_it_blocks(cases):
    for text, code, items in cases[0][:400]:
        if items[0][0].form.name != "it":
            continue
        base = items[0][0].address
        decoded = decode_all(code, base)
        assert [i for _, i in decoded] == [i for i, _ in items], text


@pytest.mark.parametrize("raw", [
    "30ee000b",     # vadd.f64: no double precision on an FPv4-SP core
    "b0fe000a",     # vrinta (FPv5)
    "90e8",         # 32-bit prefix cut short
    "10bf",         # yield: a hint outside the table
    "001c",         # adds r0, r0, #0 in the 3-bit form: GAS always picks the 8-bit one
])
def test_decode_rejects_unknown_bytes(raw):
    code = bytes.fromhex(raw)
    with pytest.raises(ValueError):
        decode(code, 0)
