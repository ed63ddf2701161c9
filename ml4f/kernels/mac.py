"""The multiply-accumulate core shared by the matrix kernels.

acc[p][j] += x[p][i] * w[i][j] as VMUL into a temporary + VADD (2 cycles per
MAC on the M4F, and the same two roundings as the reference), interleaved so
that no VADD waits for the VMUL right before it."""
from __future__ import annotations


def emit_products(asm, products, temps) -> None:
    """acc = src + x * w for each (acc, x, w[, src]) (src: acc itself unless given, e.g.
    the bias for a sum's first product): VMUL into alternating temporaries, each
    VADD one instruction behind its VMUL.  A callable among the products emits
    other instructions there (between a VMUL and the VADD of the product before)."""
    pending, k = None, 0
    for item in products:
        if callable(item):
            item()
            continue
        a, xr, wr, *src = item
        t = temps[k % 2]
        k += 1
        asm.vmul(t, xr, wr)
        if pending is not None:
            asm.vadd(*pending)
        pending = (a, src[0] if src else a, t)
    if pending is not None:
        asm.vadd(*pending)


def emit_macs(asm, acc, x, w, temps, bias_in_first: bool = False) -> None:
    """acc[p][j] += x[p][i] * w[i][j]; acc: [pixels][channels], x: [pixels][k], w: [k][channels].

    `bias_in_first`: only acc[0] holds the starting values (the bias) and the
    other pixels' sums start from them: each one's first product adds acc[0][j],
    and acc[0]'s own first products come after every pixel's, so the copies of
    the bias into each pixel's sums are not needed."""
    first, start = [], 0
    if bias_in_first:
        first = [(acc[p][j], x[p][0], w[0][j], acc[0][j])
                 for p in [*range(1, len(acc)), 0] for j in range(len(acc[p]))]
        start = 1
    emit_products(asm, first + [(acc[p][j], x[p][i], w[i][j])
                                for i in range(start, len(w))
                                for p in range(len(acc)) for j in range(len(acc[p]))],
                  temps)


def emit_widening_products(asm, products, cvt_temps, prod_temps) -> None:
    """acc += x * float32(half of word) for each (acc, x, word, high, load):
    every float16 weight widened into a temporary just before its product, so
    that a row of weights needs only its packed words in registers.  Each
    product's three steps are staggered (widen k, multiply k - 1, add k - 2):
    no instruction reads the result of the one right before it.  `load`, if
    given, is called before the product's widening (it may load the words the
    following products read; its first word is read first)."""
    n = len(products)
    for k in range(n + 2):
        if k < n:
            _, _, word, high, load = products[k]
            if load is not None:
                load()
            (asm.vcvtt_f32_f16 if high else asm.vcvtb_f32_f16)(cvt_temps[k % 2], word)
        if 0 <= k - 1 < n:
            asm.vmul(prod_temps[(k - 1) % 2], products[k - 1][1], cvt_temps[(k - 1) % 2])
        if 0 <= k - 2 < n:
            a = products[k - 2][0]
            asm.vadd(a, a, prod_temps[(k - 2) % 2])


def load_weights(asm, ptr, regs, count: int, float16: bool) -> None:
    """Load the next `count` weights from [ptr]! into regs[0..count-1] as float32.

    float16: the ceil(count/2) packed words go to the top of the register
    range and are widened in place in ascending order (element 2k is the low
    half of word k): every half is read before its register is overwritten,
    the first conversion reads the word loaded first and the first product
    uses the value converted first, so nothing waits for a load or a
    conversion."""
    if not float16:
        asm.vldm(ptr, regs[0], count, wb=True)
        return
    words = (count + 1) // 2
    top = count - words
    asm.vldm(ptr, regs[top], words, wb=True)
    for i in range(count):
        src = regs[top + i // 2]
        if i % 2:
            asm.vcvtt_f32_f16(regs[i], src)
        else:
            asm.vcvtb_f32_f16(regs[i], src)
