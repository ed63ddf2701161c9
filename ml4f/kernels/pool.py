"""Max and average pooling, vectorised over channels.

For each output pixel, channels are processed n at a time: the first window
tap is loaded into n accumulators with one VLDM, every further tap into n
temporaries, combined with VCMP/VMRS/IT/VMOV (max) or VADD (average).
Taps outside the input are skipped (TensorFlow's -inf / "count only real
elements" semantics), so padding is never materialised: rows and columns
whose windows are clipped get their own code with a shorter tap list.
"""
from __future__ import annotations

from ..errors import CodegenError
from ..graph.ops import GlobalPool, Pool2D, elems
from ..graph.shapes import hwc
from ..thumb.regs import S, lr, r0, r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, r11, r12
from .activations import core_relu
from .context import KernelContext
from .conv_geometry import Geometry
from .immediates import add_const
from .loops import counted_loop
from .registry import kernel
from .rowloop import RowPlacement, row_subroutine
from .store import store_activated

R_PIX, R_C, R_TAP, R_OUT, C_PIX, C_CH = r5, r6, r8, r9, r11, r12
MAX_CHUNK = 8
INT_CHUNK = 4
INT_ACC = (r0, r1, r2, r3)
INT_TMP = (r4, r7, r10, lr)
SCALE = S[15]          # 1/taps for average pooling


def _geometry(op: Pool2D) -> Geometry:
    h, w, c = hwc(op.in_shape)
    oh, ow, _ = hwc(op.out_shape)
    return Geometry(h, w, c, oh, ow, c, op.pool[0], op.pool[1], op.strides[0], op.strides[1],
                    1, 1, op.pads[0], op.pads[1])


def _row_classes(g: Geometry):
    """Consecutive output rows sharing a ky range: (oy0, count, ky0, ky1)."""
    runs = []
    for oy in range(g.OH):
        kr = g.ky_range(oy)
        if runs and runs[-1][2:] == list(kr):
            runs[-1][1] += 1
        else:
            runs.append([oy, 1, *kr])
    return [tuple(r) for r in runs]


SL_ROW = 0            # frame spill slot: the current input row pointer


def _pool_code(op: Pool2D, ctx: KernelContext):
    """(channels per chunk, chunks, tail, chunk emitter) for the op."""
    integer = op.mode == "max" and (
        (op.inputs[0] in ctx.nonnegative and op.activation.kind in ("linear", "relu"))
        or op.activation.is_plain_relu)
    n = min(op.in_shape[-1], INT_CHUNK if integer else MAX_CHUNK)
    chunks, tail = divmod(op.in_shape[-1], n)
    return n, chunks, tail, (_chunk_int if integer else _chunk)


def _row_columns(op: Pool2D, ctx: KernelContext, g: Geometry, ky0: int, ky1: int) -> None:
    """One output row: R_PIX at its window origin (input row of tap ky0, column
    -pad_left), R_OUT at its first output; both advance along the row."""
    asm = ctx.asm
    c4 = 4 * g.cin
    n, chunks, tail, chunk = _pool_code(op, ctx)
    for ox0, count, kx0, kx1 in g.column_runs():
        taps = [((ky - ky0) * g.W + kx) * c4
                for ky in range(ky0, ky1) for kx in range(kx0, kx1)]
        if op.mode == "avg" and len(taps) > 1:
            ctx.weights_ptr(r0, ctx.blob.add_f32([1.0 / len(taps)]))
            asm.vldr(SCALE, r0, 0)
        with counted_loop(asm, C_PIX, count):
            asm.mov(R_C, R_PIX)
            if chunks:
                with counted_loop(asm, C_CH, chunks):
                    chunk(op, ctx, n, taps)
            if tail:
                chunk(op, ctx, tail, taps)
            add_const(asm, R_PIX, R_PIX, g.sw * c4, scratch=r0)


@kernel(Pool2D)
def emit_pool2d(op: Pool2D, ctx: KernelContext, ins: list[int], out_off: int) -> None:
    in_off = ins[0]
    asm = ctx.asm
    g = _geometry(op)
    c4 = 4 * g.cin
    ctx.arena_ptr(R_OUT, out_off)
    for oy0, rows, ky0, ky1 in _row_classes(g):
        ctx.arena_ptr(R_PIX, in_off)
        add_const(asm, R_PIX, R_PIX, ((oy0 * g.sh - g.pt + ky0) * g.W - g.pl) * c4, scratch=r0)
        ctx.spill(R_PIX, SL_ROW)
        asm.mov_const(r0, rows)
        ctx.spill(r0, SL_ROW + 1)
        row_top = asm.here()
        _row_columns(op, ctx, g, ky0, ky1)
        ctx.reload(R_PIX, SL_ROW)
        add_const(asm, R_PIX, R_PIX, g.sh * g.W * c4, scratch=r0)
        ctx.spill(R_PIX, SL_ROW)
        ctx.reload(r0, SL_ROW + 1)
        asm.subs(r0, r0, 1)
        ctx.spill(r0, SL_ROW + 1)
        asm.b(row_top, cond="ne")


def emit_pool2d_rows(op: Pool2D, ctx: KernelContext, ins: list[int], out_off: int,
                     placement: RowPlacement) -> None:
    """The pooling as a subroutine of a streamed region (see rowloop.py): rows
    [r0 / table row bytes, + r1), each from a table of (input row offset, output
    row offset, bytes to the row's repeated slot).  Only pools whose windows
    are never clipped vertically stream (streaming.streamable)."""
    g = _geometry(op)
    if any(g.ky_range(oy) != (0, g.KH) for oy in range(g.OH)):
        raise CodegenError("a pooling whose windows are clipped at the top or bottom cannot "
                           "run inside a streamed region", layer=op.name,
                           layer_class=op.layer_class)
    rows = [(placement.in_row(oy * g.sh - g.pt) - 4 * g.pl * g.cin, placement.out_row(oy),
             placement.mirror(oy)) for oy in range(g.OH)]
    row_subroutine(ctx, rows, table_reg=r4, src=R_PIX, src_off=ins[0], dst=R_OUT,
                   dst_off=out_off, row_bytes=4 * g.OW * g.cout,
                   body=lambda: _row_columns(op, ctx, g, 0, g.KH))


def _combine(asm, mode: str, acc, tmp) -> None:
    """acc = max(acc, tmp) (VCMP/VMRS/IT/VMOV; an unordered compare keeps acc) or acc + tmp."""
    for a, b in zip(acc, tmp):
        if mode == "max":
            asm.vcmp(a, b)
            asm.vmrs_apsr()
            asm.it("mi")
            asm.vmov(a, b, cond="mi")
        else:
            asm.vadd(a, a, b)


def _walk_taps(asm, taps, load, combine) -> None:
    """load(t, ptr) then combine(t) for every tap.  Taps at offset 0 load from
    R_C; the others through R_TAP, whose next address is computed right after
    the previous load, long before the load that needs it."""
    if taps[0]:
        add_const(asm, R_TAP, R_C, taps[0], scratch=r0)
    for t, off in enumerate(taps):
        load(t, R_TAP if off else R_C)
        if t + 1 < len(taps) and taps[t + 1]:
            add_const(asm, R_TAP, R_C, taps[t + 1], scratch=r0)
        combine(t)


def _chunk(op: Pool2D, ctx: KernelContext, n: int, taps: list[int]) -> None:
    """n channels of one output pixel; R_C points at channel c0 of the pixel's
    window origin and advances by n channels."""
    asm = ctx.asm
    acc = [S[i] for i in range(n)]
    tmp = [S[16 + i] for i in range(n)]

    def load(t, ptr):
        asm.vldm(ptr, (acc if t == 0 else tmp)[0], n)

    def combine(t):
        if t:
            _combine(asm, op.mode, acc, tmp)
    _walk_taps(asm, taps, load, combine)
    if op.mode == "avg" and len(taps) > 1:
        for a in acc:
            asm.vmul(a, a, SCALE)
    free = [S[i] for i in range(n, 32) if S[i] != SCALE]        # the scale serves the next chunk
    store_activated(asm, acc, R_OUT, op.activation, temps=(r0, r1, r2, r3), sfree=free)
    add_const(asm, R_C, R_C, 4 * n, scratch=r0)


def _chunk_int(op: Pool2D, ctx: KernelContext, n: int, taps: list[int]) -> None:
    """Max pooling on the integer images of the floats: LDM + CMP/IT/MOV, no
    FPU round trip.  Signed integer order is float order unless both values are
    negative; so the result is exact for non-negative inputs, and for any input
    once followed by ReLU (a negative maximum becomes 0 whichever it was)."""
    asm = ctx.asm
    acc, tmp = list(INT_ACC[:n]), list(INT_TMP[:n])

    def load(t, ptr):
        asm.ldm(ptr, acc if t == 0 else tmp, wb=False)

    def combine(t):
        if t == 0:
            return
        for a, b in zip(acc, tmp):
            asm.cmp(a, b)
            asm.it("lt")
            asm.mov(a, b, cond="lt")
    _walk_taps(asm, taps, load, combine)
    if not op.activation.is_linear:
        core_relu(asm, acc, op.activation, {})
    asm.stm(R_OUT, acc, wb=True)
    asm.add(R_C, R_C, 4 * n)


GLOBAL_CHUNK = 12


@kernel(GlobalPool)
def emit_global_pool(op: GlobalPool, ctx: KernelContext, ins: list[int], out_off: int) -> None:
    """Max or mean over all positions: n channels at a time stay in accumulators
    while a loop walks the positions."""
    asm = ctx.asm
    c = op.in_shape[-1]
    positions = elems(op.in_shape) // c
    n = min(c, GLOBAL_CHUNK)
    chunks, tail = divmod(c, n)
    if op.mode == "avg" and positions > 1:
        ctx.weights_ptr(r0, ctx.blob.add_f32([1.0 / positions]))
        asm.vldr(S[31], r0, 0)
    ctx.arena_ptr(R_C, ins[0])
    ctx.arena_ptr(R_OUT, out_off)
    if chunks:
        with counted_loop(asm, C_CH, chunks):
            _global_chunk(op, ctx, n, c, positions)
    if tail:
        _global_chunk(op, ctx, tail, c, positions)


def _global_chunk(op: GlobalPool, ctx: KernelContext, n: int, c: int, positions: int) -> None:
    asm = ctx.asm
    acc = [S[i] for i in range(n)]
    tmp = [S[16 + i] for i in range(n)]
    stride = 4 * c
    asm.mov(R_TAP, R_C)
    asm.vldm(R_TAP, acc[0], n)
    if positions > 1:
        with counted_loop(asm, C_PIX, positions - 1):
            add_const(asm, R_TAP, R_TAP, stride, scratch=r0)
            asm.vldm(R_TAP, tmp[0], n)
            _combine(asm, op.mode, acc, tmp)
        if op.mode == "avg":
            for a in acc:
                asm.vmul(a, a, S[31])
    store_activated(asm, acc, R_OUT, op.activation, temps=(r0, r1, r2, r3),
                    sfree=[S[i] for i in range(n, 31)])
    add_const(asm, R_C, R_C, 4 * n, scratch=r0)
