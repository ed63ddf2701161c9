"""Pixels streaming past resident weights: the inner loop of 1x1 convolutions
with few input channels (pointwise.py's channel passes, conv.py's "resident"
scheme, one output row at a time).

The weights of a block of bb output channels for every input channel (bb * cin
values, input-major) and their bias stay in S registers; per pixel one VLDM of
its cin inputs feeds cin * bb MACs (the first product of each sum adds the
bias) and the bb sums are stored.  A pixel's sums are stored after the next
pixel's inputs are loaded, so neither the store nor the next pixel's first
product waits for the instruction right before it.  Stores: VSTM (linear), or
the core ReLU on the integer images with one STR per value, the first one
post-indexed to the next pixel; the other fused activations run their lane
programs (store.store_activated).
"""
from __future__ import annotations

from dataclasses import dataclass
from math import ceil

from ..cortex_m4 import FP_REGS
from ..thumb.regs import S, r0, r1, r2, r3
from .activations import core_capable, core_consts, core_relu
from .cost import ALU, LOOP, MAC, vldm, vstm, weight_load
from .immediates import add_const
from .loops import chunked
from .mac import emit_products, load_weights
from .store import move_to_core, store_activated, value_cycles

MAX_BLOCK = 4                 # output channels per block: one core register each in the store
UNROLLS = (1, 2, 4, 8, 16)    # pixels per loop iteration tried
TEMPS = (r0, r1, r2, r3)      # the stored values (and the lane programs' temporaries)
POST_INDEX_REACH = 255        # STR Rt, [Rn], #imm8


def fp_regs(cin: int, bb: int) -> int:
    """Weights, bias, one pixel's inputs, the sums and two product temporaries."""
    return bb * cin + bb + cin + bb + 2


def fits(cin: int, bb: int) -> bool:
    return bb <= MAX_BLOCK and fp_regs(cin, bb) <= FP_REGS


def store_costs(act, bb: int) -> tuple[float, int]:
    """(cycles, instructions) of one pixel's store and the step to the next pixel."""
    if act.is_linear:
        return vstm(bb) + ALU, 2
    if not core_capable(act):                               # a lane program, its constants
        return value_cycles(act) * bb + 3 + ALU, 4 * bb + 4
    # per value: BIC (or CMP, IT, MOV for a threshold); the clip's CMP, IT, CMP, SUB
    # (the IT folds after the 16-bit CMP); one STR
    cycles = (3 if act.threshold > 0 else 1) + (3 if act.max_value is not None else 0)
    insns = (3 if act.threshold > 0 else 1) + (4 if act.max_value is not None else 0)
    return 2 * ceil(bb / 2) + (cycles + 1) * bb, ceil(bb / 2) + (insns + 1) * bb


def pixel_cycles(cin: int, bb: int, act, in_skip: bool = False) -> float:
    return vldm(cin) + MAC * cin * bb + store_costs(act, bb)[0] + (ALU if in_skip else 0)


def load_cycles(cin: int, bb: int, f16: bool) -> float:
    """The block's bias and weights into their registers."""
    return vldm(bb) + weight_load(bb * cin, f16)


def stream_cycles(cin: int, bb: int, pixels: int, unroll: int, act, in_skip: bool = False) -> float:
    """stream(): every pixel (the first one's load before the loop), the loop."""
    loops = (pixels - 1) // unroll
    return (ALU if loops else 0) + pixels * pixel_cycles(cin, bb, act, in_skip) + LOOP * loops


def stream_insns(cin: int, bb: int, pixels: int, unroll: int, act) -> int:
    per_pixel = 1 + 2 * cin * bb + store_costs(act, bb)[1]
    return 4 + min(pixels, 2 * unroll) * per_pixel           # loop body, the rest, the last pixel


@dataclass(frozen=True)
class Regs:
    """The S registers of a block of bb channels over cin inputs."""
    w: list
    bias: list
    xs: list
    acc: list
    temps: tuple
    free: list

    @staticmethod
    def of(cin: int, bb: int) -> "Regs":
        t = bb * cin + bb + cin + bb
        return Regs([S[i] for i in range(bb * cin)], [S[bb * cin + j] for j in range(bb)],
                    [S[bb * cin + bb + i] for i in range(cin)],
                    [S[bb * cin + bb + cin + j] for j in range(bb)], (S[t], S[t + 1]),
                    [S[i] for i in range(t, FP_REGS)])


def relu_consts(asm, act, regs) -> dict:
    """The core ReLU's constants set in `regs` (core registers the stream leaves alone)."""
    if not core_capable(act):
        return {}
    consts = dict(zip(core_consts(act), regs))
    for image, reg in consts.items():
        asm.mov_const(reg, image)
    return consts


def load_block(asm, r_bias, r_w, regs: Regs, f16: bool, bias_wb: bool) -> None:
    """The bias from [r_bias] (written back past it if `bias_wb`), the weights from [r_w]!."""
    asm.vldm(r_bias, regs.bias[0], len(regs.bias), wb=bias_wb)
    load_weights(asm, r_w, regs.w, len(regs.w), f16)


def stream(asm, regs: Regs, pixels: int, unroll: int, r_in, r_out, counter, *, act, consts,
           pixel_bytes: int, in_skip: int = 0) -> None:
    """Every pixel from [r_in] on (cin floats each, then `in_skip` bytes skipped)
    to [r_out] on (pixels `pixel_bytes` apart); both pointers end past the last."""
    cin, bb = len(regs.xs), len(regs.acc)
    products = [(regs.acc[j], regs.xs[i], regs.w[i * bb + j], *([regs.bias[j]] if i == 0 else []))
                for i in range(cin) for j in range(bb)]

    def load_next() -> None:
        asm.vldm(r_in, regs.xs[0], cin, wb=True)
        if in_skip:
            add_const(asm, r_in, r_in, in_skip, scratch=r0)

    def pixel(last: bool) -> None:
        emit_products(asm, products, regs.temps)
        if core_capable(act) or act.is_linear:
            if not last:
                load_next()
            _store(asm, regs.acc, r_out, pixel_bytes, act, consts)
        else:
            store_activated(asm, regs.acc, r_out, act, temps=TEMPS, sfree=regs.xs + regs.free)
            if pixel_bytes != 4 * bb:
                add_const(asm, r_out, r_out, pixel_bytes - 4 * bb, scratch=r0)
            if not last:
                load_next()

    load_next()
    chunked(asm, counter, pixels - 1, 1, unroll, lambda _: pixel(False))
    pixel(True)


def _store(asm, acc, r_out, pixel_bytes: int, act, consts) -> None:
    bb = len(acc)
    if act.is_linear:
        asm.vstm(r_out, acc[0], bb, wb=pixel_bytes == 4 * bb)
        if pixel_bytes != 4 * bb:
            add_const(asm, r_out, r_out, pixel_bytes, scratch=r0)
        return
    cores = list(TEMPS[:bb])
    move_to_core(asm, cores, acc)
    core_relu(asm, cores, act, consts)
    for j in range(bb - 1, 0, -1):
        asm.str(cores[j], r_out, 4 * j)
    if pixel_bytes <= POST_INDEX_REACH:
        asm.str(cores[0], r_out, pixel_bytes, index="post")
    else:
        asm.str(cores[0], r_out)
        add_const(asm, r_out, r_out, pixel_bytes, scratch=r0)
