"""Cycle estimate of machine code the compiler did not write (e.g. GCC's).

The project's decoder knows only the instruction forms the compiler emits.  This
adapter decodes any Thumb-2 + FPv4-SP code with capstone and describes each
instruction by the attributes `TimingModel` reads (kind from its ISSUE table,
nregs, size, reads, writes, is_branch and the `ops` entries "rn", "list",
"regs"), so foreign code is costed with the same table and hazard rules.
Register names follow `Insn`: "r0".."r15" (sp, lr, pc are r13-r15), "s0".."s31"
(a D register is its two S registers), "apsr", "fpscr".

capstone is needed only here (benchmarks and tests), never by the compiler.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from capstone import CS_ARCH_ARM, CS_MODE_MCLASS, CS_MODE_THUMB, Cs
from capstone import arm_const as A

from ml4f.thumb.encoding import CONDS, invert_cond
from ml4f.thumb.regs import S, core
from ml4f.emulator.timing import BlockCost, CycleCounter, TimingModel

_CORE_ALIASES = {"sb": 9, "sl": 10, "fp": 11, "ip": 12, "sp": 13, "lr": 14, "pc": 15}
# capstone's condition codes (ARM_CC_EQ = 1 ... ARM_CC_LE = 14) in the decoder's spelling
_CC = {i + 1: c for i, c in enumerate(CONDS[:14])}

ALU = {"adc", "add", "addw", "adr", "and", "asr", "bfc", "bfi", "bic", "clz", "cmn", "cmp", "eor",
       "lsl", "lsr", "mov", "movt", "movw", "mvn", "neg", "orn", "orr", "pkhbt", "pkhtb", "rbit",
       "rev", "rev16", "revsh", "ror", "rrx", "rsb", "sbc", "sbfx", "sub", "subw", "sxtab",
       "sxtah", "sxtb", "sxth", "teq", "tst", "ubfx", "uxtab", "uxtah", "uxtb", "uxth", "ssat",
       "usat", "sel", "qadd", "qsub"}
COMPARE = {"cmp", "cmn", "tst", "teq"}
UNARY = {"mov", "mvn", "movw", "neg", "clz", "rbit", "rev", "rev16", "revsh", "rrx", "sxtb",
         "sxth", "uxtb", "uxth", "ubfx", "sbfx", "adr", "ssat", "usat"}
READS_DEST = {"movt", "bfi", "bfc"}
READS_CARRY = {"adc", "sbc", "rrx"}
MUL = {"mul", "mla", "mls", "smull", "umull", "smlal", "umlal", "smmul", "smmla", "smlabb",
       "smlad", "smuad", "smulbb"}
LONG_MUL = {"smull", "umull", "smlal", "umlal"}
ACCUMULATING_LONG = {"smlal", "umlal"}
DIV = {"sdiv", "udiv"}
LOADS = {"ldr", "ldrb", "ldrh", "ldrsb", "ldrsh", "ldrt", "ldrbt", "ldrht", "ldrex"}
STORES = {"str", "strb", "strh", "strt", "strbt", "strht"}
NOPS = {"nop", "bkpt", "udf", "dmb", "dsb", "isb", "wfi", "wfe", "yield", "sev"}
VFP_BINARY = {"vadd": "vadd", "vsub": "vadd", "vmul": "vmul", "vnmul": "vmul", "vdiv": "vdiv"}
VFP_MAC = {"vmla", "vmls", "vnmla", "vnmls", "vfma", "vfms", "vfnma", "vfnms"}
VFP_UNARY = {"vabs": "vmov", "vneg": "vmov", "vsqrt": "vsqrt", "vcvt": "vcvt", "vcvtr": "vcvt",
             "vcvtb": "vcvt", "vcvtt": "vcvt"}
# capstone's internal names of some instructions
CAPSTONE_NAMES = {"fconsts": "vmov", "fmstat": "vmrs", "hint": "nop"}


class ForeignCodeError(ValueError):
    """Bytes capstone cannot decode, or an instruction outside the timing table."""


@dataclass
class ForeignInsn:
    """What `TimingModel.insn_cycles` needs to know of one instruction."""

    text: str
    address: int
    size: int
    kind: str
    reads: frozenset
    writes: frozenset
    nregs: int = 1
    cond: str | None = None
    ops: dict = field(default_factory=dict)

    @property
    def is_branch(self) -> bool:
        return "r15" in self.writes


def _core_num(name: str) -> int | None:
    if name in _CORE_ALIASES:
        return _CORE_ALIASES[name]
    if name.startswith("r") and name[1:].isdigit():
        return int(name[1:])
    return None


def _names(name: str) -> list[str]:
    """Canonical names of a capstone register name ("sb" -> r9, "d3" -> s6, s7)."""
    n = _core_num(name)
    if n is not None:
        return [f"r{n}"]
    if name[0] == "s" and name[1:].isdigit():
        return [name]
    if name[0] == "d" and name[1:].isdigit():
        d = int(name[1:])
        return [f"s{2 * d}", f"s{2 * d + 1}"]
    if name.startswith("apsr") or name == "cpsr":
        return ["apsr"]
    if name.startswith("fpscr"):
        return ["fpscr"]
    raise ForeignCodeError(f"register {name!r} has no place in the timing model")


class _Operands:
    """capstone operands as names, in order."""

    def __init__(self, ci) -> None:
        self.regs: list[str] = []           # capstone register names of register operands
        self.shift_regs: list[str] = []     # registers giving a shift amount (read)
        self.mem = None                     # (base name, index name or None)
        self.imm = 0
        for op in ci.operands:
            if op.type == A.ARM_OP_REG or op.type == A.ARM_OP_SYSREG:
                name = ci.reg_name(op.reg)
                if not name:
                    raise ForeignCodeError(f"'{ci.mnemonic} {ci.op_str}': unnamed register")
                self.regs.append(name)
                if op.shift.type >= A.ARM_SFT_ASR_REG:
                    self.shift_regs.append(ci.reg_name(op.shift.value))
            elif op.type == A.ARM_OP_MEM:
                base = ci.reg_name(op.mem.base)
                index = ci.reg_name(op.mem.index) if op.mem.index else None
                self.mem = (base, index)
            else:
                self.imm += 1

    def names(self, regs) -> set[str]:
        return {n for r in regs for n in _names(r)}


def _core_reg(name: str):
    n = _core_num(name)
    if n is None:
        raise ForeignCodeError(f"{name!r} is not a core register")
    return core(n)


def _sreg_list(regs: list[str]):
    """(first SReg, count in S registers) of a consecutive VFP register list."""
    names = [n for r in regs for n in _names(r)]
    first = int(names[0][1:])
    return S[first], len(names)


def describe(ci, cond: str | None) -> ForeignInsn:
    """One capstone instruction (detail on) as a ForeignInsn; `cond` is its IT-block
    condition, if any (a conditional branch's own condition is taken from capstone)."""
    name = ci.insn_name()
    name = CAPSTONE_NAMES.get(name, name)
    o = _Operands(ci)
    R: set[str] = set()
    W: set[str] = set()
    ops: dict = {}
    nregs = 1
    text = f"{ci.mnemonic} {ci.op_str}".strip()

    if name == "it":
        kind = "it"
    elif name in NOPS:
        kind = "nop"
    elif name in ("b", "bl", "bx", "blx", "cbz", "cbnz"):
        kind = "branch"
        W.add("r15")
        if name in ("bl", "blx"):
            W.add("r14")
        R |= o.names(o.regs)
        if cond is None and ci.cc not in (A.ARM_CC_AL, A.ARM_CC_INVALID):
            cond = _CC[ci.cc]
    elif name in ALU or name in MUL or name in DIV:
        kind = "mul" if name in MUL else "div" if name in DIV else "alu"
        regs = o.regs
        if name in COMPARE:
            R |= o.names(regs)
            W.add("apsr")
        else:
            ndest = 2 if name in LONG_MUL else 1
            W |= o.names(regs[:ndest])
            R |= o.names(regs[ndest:])
            short = len(regs) + o.imm == 2 and name not in UNARY     # "add r0, r1": r0 += r1
            if short or name in READS_DEST or name in ACCUMULATING_LONG:
                R |= o.names(regs[:ndest])
            if ci.update_flags:
                W.add("apsr")
        if name in READS_CARRY:
            R.add("apsr")
        if name == "adr":
            R.add("r15")                                # pc-relative
        R |= o.names(o.shift_regs)
    elif name in LOADS or name in STORES or name in ("ldrd", "strd"):
        load = name in LOADS or name == "ldrd"
        kind = "ldr" if name in LOADS else "str" if name in STORES else name
        nt = 2 if name in ("ldrd", "strd") else 1
        nregs = nt
        base, index = o.mem
        ops["rn"] = _core_reg(base)
        R |= o.names([base] + ([index] if index else []))
        (W if load else R).update(o.names(o.regs[:nt]))
        if ci.writeback:
            W |= o.names([base])
    elif name in ("ldm", "ldmdb", "stm", "stmdb", "pop", "push"):
        load = name in ("ldm", "ldmdb", "pop")
        if name in ("pop", "push"):
            base, regs, wb = "sp", o.regs, True
        else:
            base, regs, wb = o.regs[0], o.regs[1:], ci.writeback
        nums = [int(n[1:]) for n in o.names(regs)]
        ops["rn"] = _core_reg(base)
        ops["regs"] = [core(n) for n in sorted(nums)]
        nregs = len(nums)
        kind = ("pop_pc" if 15 in nums else "ldm") if load else "stm"
        R |= o.names([base])
        (W if load else R).update(o.names(regs))
        if wb:
            W |= o.names([base])
    elif name in ("vldr", "vstr"):
        base, _ = o.mem
        ops["rn"] = _core_reg(base)
        target = o.names(o.regs[:1])
        if len(target) == 2:           # a D register: costed as the two-register multiple
            kind = "vldm" if name == "vldr" else "vstm"
            ops["list"] = _sreg_list(o.regs[:1])
            nregs = 2
        else:
            kind = name
        R |= o.names([base])
        (W if name == "vldr" else R).update(target)
    elif name in ("vldmia", "vldmdb", "vstmia", "vstmdb", "vpop", "vpush"):
        load = name in ("vldmia", "vldmdb", "vpop")
        if name in ("vpop", "vpush"):
            base, regs, wb = "sp", o.regs, True
        else:
            base, regs, wb = o.regs[0], o.regs[1:], ci.writeback
        ops["rn"] = _core_reg(base)
        ops["list"] = _sreg_list(regs)
        nregs = ops["list"][1]
        kind = "vldm" if load else "vstm"
        R |= o.names([base])
        (W if load else R).update(o.names(regs))
        if wb:
            W |= o.names([base])
    elif name in VFP_BINARY:
        kind = VFP_BINARY[name]
        regs = o.regs
        W |= o.names(regs[:1])
        R |= o.names(regs[1:] if len(regs) == 3 else regs)
    elif name in VFP_MAC:
        kind = "vmac"
        W |= o.names(o.regs[:1])
        R |= o.names(o.regs)
    elif name in VFP_UNARY:
        kind = VFP_UNARY[name]
        W |= o.names(o.regs[:1])
        R |= o.names(o.regs[1:])
        to_half = name in ("vcvtb", "vcvtt") and ".f16.f32" in ci.mnemonic
        fixed_point = name == "vcvt" and o.imm and len(o.regs) == 2 and o.regs[0] == o.regs[1]
        if to_half or fixed_point:
            R |= o.names(o.regs[:1])                   # writes half of sd / converts in place
    elif name == "vmov":
        core_ops = [r for r in o.regs if _core_num(r) is not None]
        if not core_ops:
            kind = "vmov"
            W |= o.names(o.regs[:1])
            R |= o.names(o.regs[1:])
        else:
            kind = "vmov_core"
            fp_ops = [r for r in o.regs if _core_num(r) is None]
            to_core = _core_num(o.regs[0]) is not None
            W |= o.names(core_ops if to_core else fp_ops)
            R |= o.names(fp_ops if to_core else core_ops)
    elif name in ("vcmp", "vcmpe"):
        kind = "vcmp"
        R |= o.names(o.regs)
        W.add("fpscr")
    elif name == "vmrs":
        kind = "vmrs"
        R.add("fpscr")
        W |= o.names(o.regs[:1])
    elif name == "vmsr":
        kind = "vmrs"
        R |= o.names(o.regs[1:])
        W.add("fpscr")
    else:
        raise ForeignCodeError(f"'{text}' at {ci.address:#x}: no kind in the timing table")

    if cond is not None and kind != "it":
        # a skipped instruction leaves its destinations as they were
        R |= {"apsr"} | (W - {"r15"})
    return ForeignInsn(text, ci.address, ci.size, kind, frozenset(R), frozenset(W), nregs,
                       cond, ops)


def _it_slots(ci) -> list[str]:
    """Conditions of the instructions an IT instruction covers ("itte eq" -> eq eq ne)."""
    first = ci.op_str.strip()
    pattern = ci.mnemonic[2:].split(".")[0]
    return [first] + [first if p == "t" else invert_cond(first) for p in pattern]


class ForeignDecoder:
    """Decodes Thumb-2 + FPv4-SP bytes with capstone into ForeignInsns."""

    def __init__(self) -> None:
        self.cs = Cs(CS_ARCH_ARM, CS_MODE_THUMB | CS_MODE_MCLASS)
        self.cs.detail = True

    def block(self, code: bytes, start: int, size: int, origin: int = 0) -> list[ForeignInsn]:
        """The instructions of code[start:start + size] (loaded at `origin`), following
        IT blocks that begin inside the range."""
        out, slots, off = [], [], start
        for ci in self.cs.disasm(code[start:start + size], origin + start):
            off = ci.address - origin + ci.size
            insn = describe(ci, slots.pop(0) if slots else None)
            if insn.kind == "it":
                slots = _it_slots(ci)
            out.append(insn)
        if off != start + size:
            raise ForeignCodeError(f"capstone cannot decode the bytes at offset {off:#x}")
        return out


class ForeignCycleCounter(CycleCounter):
    """`CycleCounter` over code decoded by capstone: same `count`, same TimingModel."""

    def __init__(self, code: bytes, model: TimingModel | None = None, origin: int = 0) -> None:
        super().__init__(code, model)
        self.origin = origin
        self.decoder = ForeignDecoder()

    def block(self, start: int, size: int) -> BlockCost:
        key = (start, size)
        cost = self._blocks.get(key)
        if cost is None:
            insns, prev = [], None
            for insn in self.decoder.block(self.code, start, size, self.origin):
                insns.append((insn.address - self.origin, insn, self.model.insn_cycles(insn, prev)))
                prev = insn
            branch = prev if prev is not None and prev.is_branch else None
            cost = self._blocks[key] = BlockCost(insns, branch)
        return cost
