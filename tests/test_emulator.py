"""The Cortex-M4F emulator: runs real machine code and reports every misbehaviour."""
from __future__ import annotations

import struct

import numpy as np
import pytest
from unicorn.arm_const import UC_CPU_ARM_CORTEX_M4

from ml4f.container import parse_header
from ml4f.emulator import POISON, Machine, RunResult, run_object
from ml4f.errors import EmulationError, UsageError

pytestmark = pytest.mark.unit

try:
    from .asm_objects import HAVE_BINUTILS, asm_object, double_object, wrap
except ImportError:
    from asm_objects import HAVE_BINUTILS, asm_object, double_object, wrap

assert HAVE_BINUTILS, "arm-none-eabi binutils are not installed (see scripts/bootstrap.sh)"

X4 = np.array([1.5, -2.0, 0.25, 3.0], dtype=np.float32)


def bits(a) -> list[int]:
    return list(np.asarray(a, dtype="<f4").view("<u4").ravel())


def emulation_error(obj, x=X4, **kw) -> str:
    with pytest.raises(EmulationError) as e:
        run_object(obj, x, **kw)
    msg = str(e.value)
    assert "\n" not in msg
    return msg


# ------------------------------------------------------------------ correct runs

def test_double_copy_output_and_result_fields():
    obj = double_object(4)
    res = run_object(obj, X4)
    assert isinstance(res, RunResult)
    assert res.output.dtype == np.float32 and res.output.shape == (4,)
    np.testing.assert_array_equal(res.output, 2 * X4)
    assert res.header == parse_header(obj)
    assert len(res.arena) == res.header.arena_bytes
    assert res.arena[8:24] == X4.tobytes()                     # the input is where it was put
    assert res.stack_bytes == 8                                # push {r4, lr}
    assert res.instructions is None and res.block_counts is None and res.edge_counts is None


def test_input_of_any_shape_is_flattened_and_output_shaped():
    obj = double_object(6)
    res = run_object(obj, np.arange(6, dtype=np.float32).reshape(2, 3))
    np.testing.assert_array_equal(res.output, 2 * np.arange(6))


def test_output_shape_from_header():
    src = wrap("""
  ldr r2, [r0, #32]
  add r2, r1
  ldr r3, [r0, #40]
  add r3, r1
  vldmia r2, {s0-s5}
  vstmia r3, {s0-s5}""")
    res = run_object(asm_object(src, input_shape=(6,), output_shape=(2, 3)), np.arange(6))
    assert res.output.shape == (2, 3)
    np.testing.assert_array_equal(res.output.ravel(), np.arange(6))


def test_machine_reuse_gives_fresh_state_per_run():
    m = Machine(double_object(4))
    for k in range(5):
        np.testing.assert_array_equal(m.run(X4 * k).output, 2 * k * X4)


def test_embedded_test_input_when_x_is_none():
    tin = [0.5, 1.0, -4.0, 8.0]
    obj = double_object(4, test_input=tin, test_output=[1.0, 2.0, -8.0, 16.0])
    h = parse_header(obj)
    res = run_object(obj)
    np.testing.assert_array_equal(res.output, 2 * np.array(tin, np.float32))
    expected = np.frombuffer(obj, "<f4", h.output_elems, h.test_output_offset)
    np.testing.assert_array_equal(res.output, expected)


def test_no_embedded_input():
    with pytest.raises(UsageError, match="no embedded test input"):
        run_object(double_object(4))


def test_wrong_input_size():
    with pytest.raises(UsageError, match="input has 5 elements, the object expects 4"):
        run_object(double_object(4), np.zeros(5, np.float32))


# ------------------------------------------------------------------------- poison

def test_unwritten_arena_reads_poison():
    # output[i] = arena[input + 16 + 4i] * 2: reads never-written arena words
    src = wrap("""
  ldr r3, [r0, #40]
  add r3, r1
  vldmia r3, {s0-s3}
  vadd.f32 s0, s0, s0
  vstmia r3, {s0-s3}""")
    res = run_object(asm_object(src), X4)
    assert all(np.isnan(res.output))
    assert bits(res.output)[1:] == [POISON] * 3          # copied words keep the exact pattern
    assert bits(res.output)[0] == POISON | 0x00400000     # arithmetic quiets the signalling NaN


def test_arena_is_poisoned_except_the_input():
    res = run_object(asm_object("  bx lr"), X4)
    words = bits(np.frombuffer(res.arena, "<f4"))
    assert words[:2] == [POISON] * 2 and words[6:] == [POISON] * 4
    assert res.arena[8:24] == X4.tobytes()


# ------------------------------------------------------------------ ABI violations

def test_r4_clobbered():
    msg = emulation_error(asm_object("  movs r4, #0\n  bx lr"))
    assert "callee-saved" in msg and "r4" in msg and "r5" not in msg


def test_s16_clobbered():
    msg = emulation_error(asm_object("  vmov.f32 s16, #1.0\n  bx lr"))
    assert "s16" in msg and "s17" not in msg


def test_saved_and_restored_registers_pass():
    src = wrap("  movs r4, #0\n  mov r11, r4\n  vmov.f32 s16, #1.0\n  vmov.f32 s31, s16",
               save_core="r4-r11, lr", save_fp="s16-s31")
    res = run_object(asm_object(src), X4)
    assert res.stack_bytes == 9 * 4 + 16 * 4


def test_sp_not_restored():
    msg = emulation_error(asm_object("  sub sp, #8\n  bx lr"))
    assert "sp" in msg and "-8" in msg


def test_fpscr_rounding_mode_changed():
    src = """
  vmrs r2, fpscr
  orr r2, r2, #0x00c00000
  vmsr fpscr, r2
  bx lr"""
    msg = emulation_error(asm_object(src))
    assert "FPSCR" in msg and "RMode=3" in msg


def test_fpscr_changed_and_restored_passes():
    src = """
  vmrs r3, fpscr
  orr r2, r3, #0x01000000
  vmsr fpscr, r2
  vmsr fpscr, r3
  bx lr"""
    run_object(asm_object(src), X4)


# ---------------------------------------------------------------------- stray writes

def test_store_into_the_object():
    msg = emulation_error(asm_object("  nop\n  str r1, [r0, #4]\n  bx lr"))
    h = parse_header(asm_object("  nop\n  str r1, [r0, #4]\n  bx lr"))
    assert "write to the object at object+0x4" in msg
    assert f"pc object+{h.header_size + 2:#x}" in msg


@pytest.mark.parametrize("arena_bytes", [40, 4096])
def test_store_one_word_before_the_arena(arena_bytes):
    # 40: the word before the arena is in the same page (guard bytes);
    # 4096: the arena fills its page and the word before it is unmapped
    src = "  str r2, [r1, #-4]\n  bx lr"
    obj = asm_object(src, arena_bytes=arena_bytes)
    msg = emulation_error(obj)
    h = parse_header(obj)
    assert "write outside the arena at arena-0x4" in msg
    assert f"at pc object+{h.header_size:#x}" in msg


def test_stray_copy_of_poison_next_to_the_arena():
    # copying a never-written arena word (the poison) in front of the arena is noticed too
    src = """
  ldr r3, [r1]
  str r3, [r1, #-4]
  bx lr"""
    obj = asm_object(src)
    msg = emulation_error(obj)
    h = parse_header(obj)
    assert "write outside the arena at arena-0x4" in msg
    assert f"at pc object+{h.header_size + 2:#x}" in msg


def test_store_before_the_arena_found_again_on_the_next_run():
    m = Machine(asm_object("  str r2, [r1, #-8]\n  bx lr"))
    for _ in range(2):
        with pytest.raises(EmulationError, match="arena-0x8"):
            m.run(X4)


def test_store_one_word_after_the_arena():
    src = """
  ldr r2, [r0, #28]        @ arena_bytes
  str r3, [r1, r2]
  bx lr"""
    obj = asm_object(src)
    h = parse_header(obj)
    msg = emulation_error(obj)
    assert f"write outside the arena at arena+{h.arena_bytes:#x}" in msg
    assert f"at pc object+{h.header_size + 2:#x}" in msg


def test_store_after_an_arena_of_odd_size():
    # arena_bytes not a multiple of 4: the arena is word aligned, a guard gap follows it
    src = """
  ldr r2, [r0, #28]
  strb r3, [r1, r2]
  bx lr"""
    msg = emulation_error(asm_object(src, arena_bytes=42))
    assert "write outside the arena at arena+0x2a" in msg


def test_read_of_unmapped_memory():
    msg = emulation_error(asm_object("  movs r2, #0\n  ldr r3, [r2]\n  bx lr"))
    assert "read from unmapped memory at 0x00000000" in msg


def test_jump_into_the_arena():
    msg = emulation_error(asm_object("  adds r1, #9\n  bx r1"))
    assert "jump to non-executable memory at arena+0x8" in msg
    assert "(lr 0x0f000000)" in msg


# ---------------------------------------------------------------------------- stack

def test_stack_high_water_mark_exact():
    src = """
  push {r4-r7, lr}          @ 20 bytes
  sub sp, #44               @ + 44 = 64
  str r4, [sp]              @ lowest word written
  add sp, #44
  pop {r4-r7, pc}"""
    assert run_object(asm_object(src), X4).stack_bytes == 64
    assert run_object(asm_object("  bx lr"), X4).stack_bytes == 0


def test_stack_overflow_beyond_the_mapped_limit():
    src = """
  sub sp, sp, #4096
  str r0, [sp, #-4]!
  add sp, sp, #4096
  add sp, #4
  bx lr"""
    msg = emulation_error(asm_object(src), stack_limit=4096)
    assert "stack overflow" in msg and "4096-byte limit" in msg
    assert "stack top-0x1004" in msg


def test_stack_overflow_within_the_rounded_region():
    src = """
  sub sp, sp, #2000
  str r0, [sp]
  add sp, sp, #2000
  bx lr"""
    obj = asm_object(src)
    assert run_object(obj, X4, stack_limit=2000).stack_bytes == 2000
    msg = emulation_error(obj, stack_limit=1000)
    assert "stack overflow: 2000 bytes used, limit 1000" in msg


# ------------------------------------------------------------- faults and runaways

def test_runaway_loop():
    msg = emulation_error(asm_object("1:\n  b 1b"), max_instructions=1000)
    assert "did not return within 1000 instructions" in msg


def test_machine_recovers_after_a_failed_run():
    # trip count from the input's first word: a huge count runs away
    src = """
  ldr r2, [r1, #8]
1:
  subs r2, #1
  bne 1b
  bx lr"""
    m = Machine(asm_object(src), max_instructions=10_000)
    x = np.zeros(4, np.float32)
    x.view("<u4")[0] = 1_000_000
    with pytest.raises(EmulationError, match="did not return"):
        m.run(x)
    x.view("<u4")[0] = 10
    assert m.run(x).stack_bytes == 0
    assert m.run(x, max_instructions=50).stack_bytes == 0


def test_fpv5_instruction_is_refused():
    obj = asm_object("  nop\n.fpu fpv5-sp-d16\n  vmaxnm.f32 s0, s1, s2\n  bx lr")
    h = parse_header(obj)
    msg = emulation_error(obj)
    assert f"undefined/unsupported instruction at object+{h.header_size + 2:#x}" in msg
    assert "(bytes 80 fe 81 0a)" in msg
    assert Machine(obj).uc.ctl_get_cpu_model() == UC_CPU_ARM_CORTEX_M4     # not MCLASS (M33)


def test_double_precision_instruction_is_refused():
    obj = asm_object(".fpu fpv5-d16\n  vadd.f64 d0, d1, d2\n  bx lr")
    h = parse_header(obj)
    msg = emulation_error(obj)
    assert f"undefined/unsupported instruction at object+{h.header_size:#x}" in msg
    assert "(bytes 31 ee 02 0b)" in msg


def test_breakpoint():
    msg = emulation_error(asm_object("  bkpt #1\n  bx lr"))
    assert "CPU exception" in msg and "bytes 01 be" in msg


# ------------------------------------------------------------------------ alignment

MISALIGNED_VLDR = """
  add r2, r1, #10
  vldr s0, [r2]
  bx lr"""


def test_alignment_checker_catches_misaligned_vldr():
    obj = asm_object(MISALIGNED_VLDR)
    run_object(obj, X4)                                  # Unicorn itself does not fault
    h = parse_header(obj)
    msg = emulation_error(obj, check_alignment=True)
    assert "misaligned 4-byte read at arena+0xa" in msg
    assert f"pc object+{h.header_size + 4:#x}" in msg


def test_alignment_checker_catches_misaligned_store_and_passes_aligned_code():
    msg = emulation_error(asm_object("  str r2, [r1, #2]\n  bx lr"), check_alignment=True)
    assert "misaligned 4-byte write at arena+0x2" in msg
    res = run_object(double_object(4), X4, check_alignment=True)
    np.testing.assert_array_equal(res.output, 2 * X4)


# -------------------------------------------------------------------------- profile

def test_profile_counts_exact_for_a_counted_loop():
    src = """
  movs r2, #5
1:
  subs r2, #1
  bne 1b
  bx lr"""
    obj = asm_object(src)
    e = parse_header(obj).header_size
    res = run_object(obj, X4, profile=True)
    # The first block runs into the first iteration; the loop block repeats.
    assert res.block_counts == {(e, 6): 1, (e + 2, 4): 4, (e + 6, 2): 1}
    assert res.edge_counts == {(e, e + 2): 1,               # taken (first iteration)
                               (e + 2, e + 2): 3,           # taken
                               (e + 2, e + 6): 1}           # not taken: falls through
    assert res.instructions == 3 + 4 * 2 + 1


def test_profile_counts_32_bit_instructions_and_repeated_runs():
    m = Machine(double_object(4), profile=True)
    for _ in range(2):
        res = m.run(X4)
        # 6 narrow set-up instructions, 5 per element (3 of them 32-bit VFP), 1 pop
        assert res.instructions == 6 + 4 * 5 + 1
        assert sum(res.block_counts.values()) == 1 + 3 + 1
        assert sum(res.edge_counts.values()) == sum(res.block_counts.values()) - 1
        np.testing.assert_array_equal(res.output, 2 * X4)


def test_object_image_unchanged_after_a_run():
    # The run leaves the object image alone (no write to flash reached it).
    obj = double_object(4)
    m = Machine(obj)
    m.run(X4)
    assert bytes(m.uc.mem_read(0x08000000, len(obj))) == obj
    assert struct.unpack_from("<I", obj, 0)[0] == 0x30470F62
