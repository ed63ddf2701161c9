"""The end of every tile: S registers stored to the arena, with the fused
piecewise-linear activation applied on the way."""
from __future__ import annotations

from ..graph.ops import Activation
from ..thumb import Assembler
from ..thumb.regs import S, r0, r1, r2, r3
from .activations import core_capable, core_consts, core_relu, program
from .cost import ACTIVATED_STORE_PER_VALUE
from .immediates import add_const
from .lanes import Layout, emit, load_consts_by_core

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


#: per value beyond ReLU's (cost.ACTIVATED_STORE_PER_VALUE): a threshold (CMP, IT,
#: MOV instead of BIC), a clip to max_value (CMP, IT, CMP, SUB; the IT folds), a lane
#: program (about 3.5 more, measured on leaky ReLU in the conv kernel's tiles)
THRESHOLD_EXTRA, CLIP_EXTRA, PROGRAM_EXTRA = 2, 3, 3.5


def value_cycles(act: Activation) -> float:
    """Estimated cycles per value of store_activated with `act` (not linear)."""
    if not core_capable(act):
        return ACTIVATED_STORE_PER_VALUE + PROGRAM_EXTRA
    return (ACTIVATED_STORE_PER_VALUE + (THRESHOLD_EXTRA if act.threshold > 0 else 0)
            + (CLIP_EXTRA if act.max_value is not None else 0))


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


# ----------------------------------------------------- fused merge operand
def _select(cond):
    def emit_select(asm, a, b):          # a = b where "a cond b" (NaN in a or b: keep a)
        asm.vcmp(a, b)
        asm.vmrs_apsr()
        asm.it(cond)
        asm.vmov(a, b, cond=cond)
    return emit_select


COMBINE = {                             # a (the result) = a (mode) b (the other operand)
    "add": lambda asm, a, b, half: asm.vadd(a, a, b),
    "sub": lambda asm, a, b, half: asm.vsub(a, a, b),
    "rsub": lambda asm, a, b, half: asm.vsub(a, b, a),
    "mul": lambda asm, a, b, half: asm.vmul(a, a, b),
    "avg": lambda asm, a, b, half: (asm.vadd(a, a, b), asm.vmul(a, a, half)),
    "max": lambda asm, a, b, half: _select("mi")(asm, a, b),       # a < b
    "min": lambda asm, a, b, half: _select("gt")(asm, a, b),       # a > b
}
#: cycles per value of each combine (on top of loading the operand)
COMBINE_CYCLES = {"add": 1, "sub": 1, "rsub": 1, "mul": 1, "avg": 2, "max": 4, "min": 4}


def combine_residual(asm: Assembler, regs, ptr, delta: int, mode: str, sfree, addr,
                     delta_from=None) -> None:
    """regs[i] = regs[i] (mode) operand[i], the operand's values lying `delta`
    bytes from where regs are about to be stored ([ptr]) -- or, with
    `delta_from(reg)`, as many bytes as it loads into a register; `sfree`:
    free S registers (not in regs), `addr` a free core register.  Each value is
    read before the store writes the same position, so the result may
    overwrite the operand."""
    sfree = [s for s in sfree if s not in regs]
    half = None
    if mode == "avg":
        half, sfree = sfree[-1], sfree[:-1]
        asm.vmov_imm(half, 0.5)
    group = max(1, len(sfree))
    if delta_from is not None:
        delta_from(addr)
        asm.add(addr, addr, ptr)
    for k in range(0, len(regs), group):
        part = regs[k:k + group]
        src = ptr
        if delta_from is not None:
            if k:
                asm.add(addr, addr, 4 * group)
            src = addr
        elif delta + 4 * k:
            add_const(asm, addr, ptr, delta + 4 * k)
            src = addr
        asm.vldm(src, sfree[0], len(part))
        for a, b in zip(part, sfree):
            COMBINE[mode](asm, a, b, half)
