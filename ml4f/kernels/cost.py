"""The kernels' cost model: the cycles and code bytes of the instruction
sequences kernels emit, as named facts.

Instruction costs come from the sourced timing table (ml4f/cortex_m4.py), the
same one the emulator's cycle model charges, so the estimate that picks a plan
and the figure the report prints rest on one set of numbers.  The few costs
that are not one instruction of the table (a store with a fused activation,
per-row bookkeeping) are named estimates, each with what it stands for; the
benchmarks compare the chosen plans' estimates with the measured cycles.
"""
from __future__ import annotations

from math import ceil

from ..cortex_m4 import BRANCH_REFILL, issue_cycles

# ------------------------------------------------------------- instructions
ALU = issue_cycles("alu")                     # ADD/SUB/MOV: pointer steps, skips
LDR = issue_cycles("ldr")                     # a spill-slot reload
VLDR = issue_cycles("vldr")                   # one S register at an offset
VSTR = issue_cycles("vstr")                   # one S register stored at an offset
VMOV = issue_cycles("vmov")                   # S register copy
VCVT = issue_cycles("vcvt")                   # float16 -> float32 widening, per value
MAC = issue_cycles("vmul") + issue_cycles("vadd")   # VMUL + VADD, two roundings like the reference
VMLA = issue_cycles("vmac")                   # VMLA/VMLS: a product by a constant added (Winograd)
LOOP = ALU + issue_cycles("branch") + BRANCH_REFILL  # SUBS + taken BNE, per iteration


def vldm(n: int) -> int:
    """VLDM of n S registers (1 + N)."""
    return issue_cycles("vldm", n)


def vstm(n: int) -> int:
    return issue_cycles("vstm", n)


def weight_load(n: int, f16: bool) -> int:
    """n weights into S registers: one VLDM, plus widening when they are float16
    (two halves per word, one VCVTB/VCVTT per value; see mac.load_weights)."""
    return vldm(ceil(n / 2)) + n * VCVT if f16 else vldm(n)


def store(n: int) -> int:
    """n accumulators stored (VSTM) and the output pointer stepped."""
    return vstm(n) + ALU


# ---------------------------------------------------------------- estimates
#: a value stored through a fused piecewise-linear activation: VMOV pairs to
#: core registers, the integer ReLU / clip, STM (about 2.5 cycles per value)
ACTIVATED_STORE_PER_VALUE = 2.5

#: code bytes per emitted instruction, on average (most of the kernels' are 32-bit)
BYTES_PER_INSN = 4

#: code bytes worth one cycle per inference, by optimisation goal
BYTES_PER_CYCLE = {"speed": 0.0, "balanced": 0.02, "size": 0.5}

#: the code of a layer may grow to this many times its weight bytes, or this
#: many bytes, whichever is more, before a faster plan is refused (not in "speed")
CODE_BUDGET_WEIGHT_FACTOR = 2
CODE_BUDGET_MIN = 6144


def code_budget(weight_bytes: int) -> int:
    return max(CODE_BUDGET_WEIGHT_FACTOR * weight_bytes, CODE_BUDGET_MIN)
