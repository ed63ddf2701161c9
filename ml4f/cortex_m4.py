"""Facts of the Cortex-M4F the compiler targets, as data with their sources:
instruction timing (used by the emulator's cycle model and by the kernels'
cost model, so the estimate that picks a plan and the one that reports it
cannot drift apart) and register files.

Sources (tags as in docs/cycle-model.md):
  [TRM]  ARM Cortex-M4 TRM (DDI 0439) instruction timing tables, integer and FPU
  [GCC]  GCC cortex-m4.md / cortex-m4-fpu.md reservations (result latencies)
  [LLVM] LLVM ARMScheduleM4.td
"""
from __future__ import annotations

CORE_REGS = 16                # r0-r15; r13-r15 are sp, lr, pc
FP_REGS = 32                  # s0-s31 (FPv4-SP-D16)

# kind -> (issue cycles, extra cycles per transferred register, source)
ISSUE = {
    "alu":      (1, 0, "TRM"),
    "it":       (1, 0, "TRM; folds (0) after a 16-bit instruction"),
    "mul":      (1, 0, "TRM"),
    "div":      (7, 0, "TRM 2-12, data dependent: midpoint"),
    "ldr":      (2, 0, "TRM; 1 when pipelined after another load/store"),
    "str":      (1, 0, "TRM (write buffer)"),
    "ldrd":     (3, 0, "TRM 1+N"),
    "strd":     (3, 0, "TRM 1+N"),
    "ldm":      (1, 1, "TRM 1+N"),
    "stm":      (1, 1, "TRM 1+N"),
    "pop_pc":   (1, 1, "TRM 1+N, +P"),
    "branch":   (1, 0, "TRM 1, +P when taken"),
    "nop":      (1, 0, "TRM"),
    "vadd":     (1, 0, "TRM"),
    "vmul":     (1, 0, "TRM"),
    "vmac":     (3, 0, "TRM"),
    "vdiv":     (14, 0, "TRM"),
    "vsqrt":    (14, 0, "TRM"),
    "vmov":     (1, 0, "TRM"),
    "vcmp":     (1, 0, "TRM"),
    "vcvt":     (1, 0, "TRM"),
    "vmov_core": (2, 0, "TRM (single register: 2)"),
    "vmrs":     (1, 0, "TRM"),
    "vldr":     (2, 0, "TRM"),
    "vstr":     (2, 0, "TRM"),
    "vldm":     (1, 1, "TRM 1+N"),
    "vstm":     (1, 1, "TRM 1+N"),
    "data":     (0, 0, "not executed"),
}

# Result latency of FP arithmetic for a dependent FP instruction right after
# it: GCC models 2 (one stall), LLVM 1.  Default: GCC's (the pessimistic one).
FP_RESULT_STALL = {"vadd": 1, "vmul": 1, "vcvt": 1}
LOAD_USE_STALL = 1            # [TRM]/[LLVM] LoadLatency 2: one stall if used next
AGU_STALL = 1                 # [TRM] address from the immediately preceding ALU result
BRANCH_REFILL = 1             # P: pipeline refill of a taken branch, TRM range 1-3


def issue_cycles(kind: str, nregs: int = 0) -> int:
    """Cycles of one instruction of `kind` moving `nregs` registers, without hazards."""
    base, per_reg, _ = ISSUE[kind]
    return base + per_reg * nregs
