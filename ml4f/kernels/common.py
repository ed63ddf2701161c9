"""What every kernel shares: the stack frame, pointers into the arena and the
weight blob, counted loops, constants, and the fused activation + store.

Register conventions inside a kernel: every core register except sp (r0-r12,
lr) and every S register is free; the model prologue saved the callee-saved
ones.  The frame at sp holds the arena base, the weights base and spill words.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field

from ..graph.ops import Activation
from ..thumb import Assembler
from ..thumb.regs import S, r0, r1, r2, r3, sp
from ..weights import WeightBlob
from .activations import core_capable, core_consts, core_relu, program
from .lanes import Layout, emit, load_consts_by_core

FRAME_ARENA = 0
FRAME_WEIGHTS = 4
FRAME_SPILL = 8          # spill words for kernels: [sp, #8] .. [sp, #44]
SPILL_SLOTS = 10
FRAME_BYTES = FRAME_SPILL + 4 * SPILL_SLOTS


@dataclass
class Ctx:
    """Code generation state shared by the kernels of one model."""

    asm: Assembler
    blob: WeightBlob
    optimize: str = "balanced"          # "size" | "balanced" | "speed"
    nonnegative: frozenset = frozenset()  # tensors known to hold no negative value
    notes: list[str] = field(default_factory=list)

    @property
    def float16(self) -> bool:
        return self.blob.float16

    def arena_ptr(self, rd, offset: int) -> None:
        self.asm.ldr(rd, sp, FRAME_ARENA)
        add_const(self.asm, rd, rd, offset)

    def weights_ptr(self, rd, offset: int) -> None:
        self.asm.ldr(rd, sp, FRAME_WEIGHTS)
        add_const(self.asm, rd, rd, offset)

    def spill(self, rt, slot: int) -> None:
        self.asm.str(rt, sp, FRAME_SPILL + 4 * slot)

    def reload(self, rt, slot: int) -> None:
        self.asm.ldr(rt, sp, FRAME_SPILL + 4 * slot)


def is_modified_imm(v: int) -> bool:
    """Thumb-2 modified immediate (ThumbExpandImm) encodable?"""
    v &= 0xFFFFFFFF
    b = v & 0xFF
    if v == b or v == (b | b << 16) or v == (b << 8 | b << 24) or v == b * 0x01010101:
        return True
    for rot in range(8, 32):
        x = ((v << rot) | (v >> (32 - rot))) & 0xFFFFFFFF   # rotate left = undo ror
        if x <= 0xFF and x & 0x80:
            return True
    return False


def _imm_chunks(v: int) -> list[int]:
    """Split 0 < v < 2**32 into few parts that ADD/ADDW accept as immediates."""
    parts = []
    while v:
        if v < 4096 or is_modified_imm(v):
            parts.append(v)
            break
        h = v.bit_length() - 1
        chunk = v & (0xFF << (h - 7))       # 8 bits from the top set bit: a modified immediate
        parts.append(chunk)
        v -= chunk
    return parts


def add_const(asm: Assembler, rd, rn, value: int, scratch=None) -> None:
    """rd = rn + value for any 32-bit value, with the fewest instructions
    (a scratch register, if given, allows MOVW/MOVT + ADD for awkward values)."""
    if value == 0:
        if rd != rn:
            asm.mov(rd, rn)
        return
    op, v = (asm.add, value) if value > 0 else (asm.sub, -value)
    parts = _imm_chunks(v)
    tmp = scratch if scratch is not None and scratch != rn else (rd if rd != rn else None)
    if len(parts) > 2 and tmp is not None:
        asm.mov_const(tmp, value & 0xFFFFFFFF)
        asm.add(rd, rn, tmp)
        return
    src = rn
    for part in parts:
        op(rd, src, part)
        src = rd


@contextmanager
def counted_loop(asm: Assembler, counter, count: int):
    """Body runs `count` times (count >= 1); counts down to zero in `counter`."""
    if count == 1:
        yield
        return
    asm.mov_const(counter, count)
    top = asm.here()
    yield
    asm.subs(counter, counter, 1)
    asm.b(top, cond="ne")


def chunked(asm: Assembler, counter, length: int, m: int, unroll: int, chunk) -> None:
    """chunk(size) over `length` items in steps of m: a counted loop whose body is
    `unroll` chunks, the chunks left over unrolled, then a shorter tail chunk."""
    n, tail = divmod(length, m)
    loops, rem = divmod(n, unroll)
    if loops:
        with counted_loop(asm, counter, loops):
            for _ in range(unroll):
                chunk(m)
    for _ in range(rem):
        chunk(m)
    if tail:
        chunk(tail)


def sregs(first: int, count: int):
    return [S[first + i] for i in range(count)]


# ------------------------------------------------------- activation + store
TEMPS = (r0, r1, r2, r3)
MAX_GROUP = 8            # values per STM of the core form


def store_activated(asm: Assembler, regs, ptr, act: Activation, temps=TEMPS, sfree=None) -> None:
    """Store consecutive S registers `regs` to consecutive floats at [ptr],
    applying the fusable activation `act` on the way; `ptr` advances past them.

    `temps`: free core registers.  `sfree`: free S registers (not in `regs`),
    if the caller has some.  ReLU without a negative slope works on the
    integer images in core registers; the other kinds run their lane program
    (activations.py) in place in `regs`, with temporaries and constants in
    `sfree` -- or, when the caller gave too few, in S registers saved on the
    stack around the store."""
    first, n = regs[0].num, len(regs)
    assert [r.num for r in regs] == list(range(first, first + n))
    assert ptr not in temps
    if act.is_linear:
        asm.vstm(ptr, regs[0], n, wb=True)
        return
    if not act.fusable:
        raise ValueError(f"activation {act.kind!r} is not applied in a store")
    temps = sorted(temps, key=lambda r: r.num)
    consts = core_consts(act)
    if core_capable(act) and len(temps) > len(consts):
        _store_core(asm, regs, ptr, act, temps[len(consts):], dict(zip(consts, temps)))
    else:
        _store_program(asm, regs, ptr, act, temps[0], list(sfree or ()))


def _store_core(asm, regs, ptr, act, group_regs, consts) -> None:
    for image, reg in consts.items():
        asm.mov_const(reg, image)
    group_regs = group_regs[:MAX_GROUP]
    done, n = 0, len(regs)
    while done < n:
        group = group_regs[:n - done]
        move_to_core(asm, group, regs[done:done + len(group)])
        core_relu(asm, group, act, consts)
        asm.stm(ptr, group, wb=True)
        done += len(group)


def _store_program(asm, regs, ptr, act, core_temp, sfree) -> None:
    prog = program(act)
    consts = prog.constants()
    per = prog.temps_per_lane()
    sfree = [s for s in sfree if s not in regs]
    saved = None
    if len(sfree) < len(consts) + per:
        saved = _stack_block(regs, len(consts) + per * min(len(regs), 2))
        asm.vpush(saved[0], len(saved))
        sfree = saved
    const_regs = dict(zip(consts, sfree[len(sfree) - len(consts):]))
    load_consts_by_core(asm, const_regs, core_temp)
    room = sfree[:len(sfree) - len(consts)]
    lanes = max(1, min(len(regs), len(room) // per if per else len(regs)))
    for k in range(0, len(regs), lanes):
        group = list(regs[k:k + lanes])
        emit(asm, prog, Layout(group, room[:per * len(group)], const_regs))
    asm.vstm(ptr, regs[0], len(regs), wb=True)
    if saved:
        asm.vpop(saved[0], len(saved))


def _stack_block(regs, count: int):
    """`count` consecutive S registers outside `regs` (the highest such block)."""
    taken = {r.num for r in regs}
    for top in range(32, count - 1, -1):
        block = range(top - count, top)
        if not taken & set(block):
            return [S[i] for i in block]
    raise ValueError(f"no {count} consecutive S registers outside s{regs[0].num}-s{regs[-1].num}")


def move_to_core(asm: Assembler, cores, sregs_) -> None:
    """Copy S registers to core registers, two at a time where the pairing allows
    (one 2-cycle VMOV for two values instead of one each)."""
    i = 0
    while i < len(cores):
        if i + 1 < len(cores) and sregs_[i + 1].num == sregs_[i].num + 1 and sregs_[i].num < 31:
            asm.vmov_to_core2(cores[i], cores[i + 1], sregs_[i])
            i += 2
        else:
            asm.vmov_to_core(cores[i], sregs_[i])
            i += 1

