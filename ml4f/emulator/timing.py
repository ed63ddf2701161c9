"""Cortex-M4F cycle estimate of an emulated run.

The emulator counts how often each basic block ran and which block followed
which; every distinct block is decoded once and costed with the table below
plus the pipeline hazard rules, and taken branches pay the refill.  The result
is an estimate for zero-wait-state memory, not a measurement.

The per-instruction table and the hazard constants, with their sources, are
in ml4f/cortex_m4.py.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..cortex_m4 import AGU_STALL, BRANCH_REFILL, FP_RESULT_STALL, ISSUE, LOAD_USE_STALL
from ..thumb import decode
from ..thumb.encoding import invert_cond

LOADS = {"ldr", "ldrd", "ldm", "pop_pc", "vldr", "vldm"}
MEMORY = LOADS | {"str", "strd", "stm", "vstr", "vstm"}


@dataclass
class TimingModel:
    fp_result_stall: dict = field(default_factory=lambda: dict(FP_RESULT_STALL))
    branch_refill: int = BRANCH_REFILL

    def insn_cycles(self, insn, prev) -> int:
        """Cycles of `insn` executed right after `prev` (None at a block start)."""
        base, per_reg, _ = ISSUE[insn.kind]
        c = base + per_reg * (insn.nregs if per_reg else 0)
        if insn.kind == "it" and prev is not None and prev.size == 2:
            return 0
        if insn.kind == "pop_pc" or (insn.kind == "branch" and insn.cond is None):
            c += self.branch_refill        # always taken: the refill belongs to the instruction
        if prev is None:
            return c
        dep = insn.reads & prev.writes
        if insn.kind == "ldr" and prev.kind == "ldr" and not dep:
            c = 1                   # [TRM] back-to-back loads pipeline
        if prev.kind in LOADS and dep:
            if prev.kind == "vldm" or prev.kind == "ldm":
                last = _last_loaded(prev)
                if last is not None and last in insn.reads:
                    c += LOAD_USE_STALL
            else:
                c += LOAD_USE_STALL
        elif prev.kind in self.fp_result_stall and dep and insn.kind.startswith("v"):
            c += self.fp_result_stall[prev.kind]
        elif prev.kind in ("alu", "mul") and insn.kind in MEMORY and dep & _address_regs(insn):
            c += AGU_STALL
        return c


def _last_loaded(insn):
    """The register a multiple load delivers last (the one a consumer may wait for)."""
    if "list" in insn.ops:
        first, count = insn.ops["list"]
        return f"s{first.num + count - 1}"
    regs = insn.ops.get("regs")
    return max(regs, key=lambda r: r.num).canon if regs else None


def _address_regs(insn):
    base = insn.ops.get("rn")
    return {base.canon} if base is not None and hasattr(base, "canon") else set()


@dataclass
class BlockCost:
    insns: list                     # (offset, insn, cycles)
    branch: object = None           # last instruction if it is a branch

    @property
    def cycles(self) -> int:
        return sum(c for _, _, c in self.insns)


class CycleCounter:
    """Turns a profiled run (block and edge counts) into cycles per address range."""

    def __init__(self, code: bytes, model: TimingModel | None = None) -> None:
        self.code = code
        self.model = model or TimingModel()
        self._blocks: dict[tuple[int, int], BlockCost] = {}
        self._insns: dict = {}          # (bytes, IT slot) -> Insn (its first occurrence)
        self._pairs: dict = {}          # (insn key, previous insn key) -> cycles
        self._shapes: dict = {}         # block bytes -> its instructions and their cycles

    def _decode(self, off: int, it_cond):
        """(the instruction at `off`, its key).  Generated code repeats a few thousand
        distinct instructions, so each is decoded once; cycles do not depend on
        where an instruction is, so a branch decoded elsewhere serves too."""
        hw = self.code[off] | self.code[off + 1] << 8 if off + 1 < len(self.code) else 0
        n = 4 if hw >> 11 in (0b11101, 0b11110, 0b11111) else 2
        key = (self.code[off:off + n], it_cond)
        insn = self._insns.get(key)
        if insn is None:
            # the code is the compiler's own, checked against GNU as in its tests
            insn = self._insns[key] = decode(self.code, off, it_cond=it_cond, gas_check=False)
        return insn, key

    def block(self, start: int, size: int) -> BlockCost:
        key = (start, size)
        cost = self._blocks.get(key)
        if cost is None:
            # blocks with the same bytes cost the same (unrolled tiles repeat across layers)
            shape = self._shapes.get(self.code[start:start + size])
            if shape is None:
                shape = self._shapes[self.code[start:start + size]] = self._cost(start, size)
            insns, branch = shape
            cost = self._blocks[key] = BlockCost([(start + rel, i, c) for rel, i, c in insns],
                                                 branch)
        return cost

    def _cost(self, start: int, size: int):
        """((offset in the block, insn, cycles), ..., the closing branch or None)."""
        insns, prev, prev_key, off, slots = [], None, None, start, []
        while off < start + size:
            insn, key = self._decode(off, slots.pop(0) if slots else None)
            if insn.form.name == "it":
                first, pattern = insn.ops["it"]
                slots = [first] + [first if p == "t" else invert_cond(first) for p in pattern]
            pair = (key, prev_key)
            c = self._pairs.get(pair)
            if c is None:
                c = self._pairs[pair] = self.model.insn_cycles(insn, prev)
            insns.append((off - start, insn, c))
            prev, prev_key, off = insn, key, off + insn.size
        branch = prev if prev is not None and prev.is_branch else None
        return insns, branch

    def count(self, block_counts: dict, edge_counts: dict, ranges=None) -> dict:
        """Cycles per named range ({name: (start, end)} of code offsets), plus 'total'.
        Instructions outside every range are charged to 'other'."""
        ranges = ranges or {}
        out = {name: 0 for name in ranges}
        out["other"] = 0

        def where(off):
            for name, (a, b) in ranges.items():
                if a <= off < b:
                    return name
            return "other"
        for (start, size), n in block_counts.items():
            cost = self.block(start, size)
            first, last = where(start), where(start + size - 1)
            if first == last:                       # the usual case: one range holds the block
                out[first] += cost.cycles * n
                continue
            for off, _, c in cost.insns:
                out[where(off)] += c * n
        sizes = {start: size for (start, size) in block_counts}
        for (src, dst), n in edge_counts.items():
            cost = self.block(src, sizes[src])
            br = cost.branch
            if br is None or dst == src + sizes[src]:
                continue            # fall-through (or a split without a branch)
            if br.kind == "pop_pc" or br.cond is None:
                continue            # always taken: refill already in its issue cycles
            out[where(cost.insns[-1][0])] += self.model.branch_refill * n
        out["total"] = sum(v for k, v in out.items())
        return out
