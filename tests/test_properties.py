"""Properties checked over many generated cases (hypothesis shrinks a failure to
its smallest example): shape arithmetic against brute force, constants in
registers executed in Unicorn, modified immediates against the whole encoding
space, and arena plans of generated graphs simulated tag by tag."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from unicorn import UC_ARCH_ARM, UC_MODE_THUMB, Uc
from unicorn import arm_const as A

from ml4f.graph.shapes import conv_out_and_pads
from ml4f.kernels.immediates import add_const
from ml4f.plan import plan_arena
from ml4f.thumb import Assembler
from ml4f.thumb.encoding import modimm_decode, modimm_encode
from ml4f.thumb.regs import r0, r1, r2
from test_plan import random_dag, simulate

pytestmark = pytest.mark.unit
FEW = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ------------------------------------------------------------------ shapes
def _windows(size, k, stride, dilation, before, after):
    """Output positions whose window starts inside the padded input and fits in it."""
    eff = (k - 1) * dilation + 1
    return len(range(0, size + before + after - eff + 1, stride))


@FEW
@given(size=st.integers(1, 64), k=st.integers(1, 9), stride=st.integers(1, 4),
       dilation=st.integers(1, 4), padding=st.sampled_from(["valid", "same", "causal"]))
def test_conv_output_sizes_match_brute_force(size, k, stride, dilation, padding):
    eff = (k - 1) * dilation + 1
    if padding == "valid" and eff > size:
        return
    out, before, after = conv_out_and_pads(size, k, stride, dilation, padding)
    assert before >= 0 and after >= 0
    assert out == _windows(size, k, stride, dilation, before, after)
    if padding == "same":
        assert out == -(-size // stride) and after - before in (0, 1)
    if padding == "causal":
        assert after == 0 and out == -(-size // stride)


# --------------------------------------------------------------- constants
ENCODABLE = {modimm_decode(i) for i in range(4096)}


@FEW
@given(st.integers(0, 0xFFFFFFFF))
def test_modified_immediates_are_exactly_the_encodable_values(v):
    code = modimm_encode(v)
    assert (code is not None) == (v in ENCODABLE)
    if code is not None:
        assert modimm_decode(code) == v


@FEW
@given(value=st.integers(-(1 << 31), (1 << 32) - 1), base=st.integers(0, 0xFFFFFFFF),
       same=st.booleans(), scratch=st.booleans())
def test_add_const_computes_the_sum(value, base, same, scratch):
    """rd = rn + value, for any value, run on the CPU model."""
    asm = Assembler()
    rd = r1 if same else r0
    add_const(asm, rd, r1, value, scratch=r2 if scratch else None)
    asm.bkpt(0)
    code = asm.assemble(origin=0).code
    uc = Uc(UC_ARCH_ARM, UC_MODE_THUMB)
    uc.ctl_set_cpu_model(A.UC_CPU_ARM_CORTEX_M4)
    uc.mem_map(0x10000, 0x1000)
    uc.mem_write(0x10000, code)
    uc.reg_write(A.UC_ARM_REG_R1, base)
    uc.reg_write(A.UC_ARM_REG_R3, 0x5A5A5A5A)
    uc.emu_start(0x10000 | 1, 0x10000 + len(code) - 2)
    assert uc.reg_read(A.UC_ARM_REG_R0 if not same else A.UC_ARM_REG_R1) == (base + value) & 0xFFFFFFFF
    assert uc.reg_read(A.UC_ARM_REG_R3) == 0x5A5A5A5A          # nothing else touched
    insn_bytes = len(code) - 2                                 # without the BKPT
    assert insn_bytes <= (12 if scratch or not same else 16)   # MOVW/MOVT + ADD, or 4 ADDs


# ------------------------------------------------------------------ arena
@FEW
@given(seed=st.integers(0, 10_000), n_ops=st.integers(1, 30))
def test_generated_dag_plans_never_overwrite_live_tensors(seed, n_ops):
    g = random_dag(seed, n_ops)
    plan = plan_arena(g)
    simulate(g, plan)
    assert plan.lower_bound <= plan.arena_bytes
