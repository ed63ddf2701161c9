"""The multiply-accumulate core shared by the matrix kernels.

acc[p][j] += x[p][i] * w[i][j] as VMUL into a temporary + VADD (2 cycles per
MAC on the M4F, and the same two roundings as the reference), interleaved so
that no VADD waits for the VMUL right before it."""
from __future__ import annotations


def emit_macs(asm, acc, x, w, temps) -> None:
    """acc: [pixels][channels], x: [pixels][k], w: [k][channels] S registers."""
    products = [(acc[p][j], x[p][i], w[i][j])
                for i in range(len(w)) for p in range(len(acc)) for j in range(len(acc[p]))]
    pending = None
    for n, (a, xr, wr) in enumerate(products):
        t = temps[n % 2]
        asm.vmul(t, xr, wr)
        if pending is not None:
            asm.vadd(*pending)
        pending = (a, a, t)
    if pending is not None:
        asm.vadd(*pending)


def widen_f16(asm, regs, count: int) -> None:
    """Widen `count` float16 values packed two per word in regs[0..] (element
    2k in the low half of regs[k]) to float32 in regs[0..count-1], in place.
    Going from the last element down never overwrites a half not yet read."""
    for i in reversed(range(count)):
        src = regs[i // 2]
        if i % 2:
            asm.vcvtt_f32_f16(regs[i], src)
        else:
            asm.vcvtb_f32_f16(regs[i], src)


def load_weights(asm, ptr, regs, count: int, float16: bool) -> None:
    """Load the next `count` weights from [ptr]! into regs[0..count-1] as float32."""
    if float16:
        words = (count + 1) // 2
        asm.vldm(ptr, regs[0], words, wb=True)
        widen_f16(asm, regs, count)
    else:
        asm.vldm(ptr, regs[0], count, wb=True)
