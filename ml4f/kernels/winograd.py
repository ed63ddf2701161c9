"""Winograd convolution F(2x2, 3x3) (and F(2, 3) or F(4, 3) for 1-D): the conv family's
variant for stride-1 3x3 (or 3-tap 1-D) kernels, chosen per layer by the
cost model (winograd_plan.py).

Per tile of m_y x m_x outputs reading alpha_y x alpha_x inputs, with P =
alpha_y * alpha_x positions:

  input transform   V = B^T d B  per input channel (adds/subs; F(4, 3) also
                    VMLA/VMLS by its coefficients 2, 4, 5), written
                    once per tile to the op's scratch and shared by every
                    output channel; taps outside the input are zero (known at
                    compile time: border tiles have their own transform code,
                    the padding is never copied);
  element-wise      M[p] = sum_c V[p][c] U[p][c]  per position p: a register
                    tile of `a` tiles x `b` output channels summed over the
                    input channels (VMUL + VADD through two temporaries, the
                    weights U streamed by VLDM in read order);
  output transform  Y = A^T M A  (adds/subs; F(4, 3): 2, 4, 8) from the bias, then the
                    fused merge operand, the activation and the one store.

The kernel runs tile rows top to bottom, groups of `a` tiles along the row:
the group's input transforms (every channel), then per block of `b` output
channels the element-wise stage and the tiles' output transforms.  The three
stages are subroutines (one per tap pattern, group size, block size, output
pattern) called by a driver whose state is in the frame's spill slots.

Scratch: V as [channel block][position][channel in block][tile] (P x Cin x a
floats; the channel block keeps a channel's P values within a VSTR's reach)
then M as [position][tile][channel] (P x a x b floats).  Weights, per block of
b output channels: [bias b x f32] then [position][input channel][b]
(float16: every channel's b values start on a word).
"""
from __future__ import annotations

import numpy as np

from ..graph.ops.conv import WINOGRAD, WinogradConv2D
from ..thumb.regs import S, lr, r0, r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, r12
from .context import KernelContext
from .conv_geometry import Geometry
from .immediates import add_const
from .loops import chunked, counted_loop
from .mac import emit_macs, load_weights
from .registry import kernel
from .rowloop import (RowPlacement, copy_to_repeated_slot, count_down, enter_subroutine,
                      leave_subroutine)
from .store import combine_residual, store_activated
from .winograd_plan import (WinogradPlan, axes, column_bases, group_columns, plan_of,
                            gemm_pairs, position_needs, position_runs, positions_read,
                            unroll_blocks)

# driver spill slots (context.FRAME_SPILL)
SL_STRIP_IN, SL_STRIP_OUT, SL_STRIPS, SL_GROUP_IN, SL_GROUP_OUT, SL_GROUPS, SL_BLOCK_OUT, \
    SL_BLOCKS, SL_WBLK, SL_BIAS = range(10)
# and in a streamed region (after rowloop.SL_RETURN, within rowloop.STREAM_SLOTS)
SL_W_TABLE, SL_RES0 = 11, 12          # the strip's table entry; its rows' operand distances (2)
DELTA_WORD = 7                         # a streamed strip's entry: from window row 0 to rows 1.. (bytes)


class _Value:
    """A transform intermediate: a register (possibly negated) or zero."""

    __slots__ = ("reg", "sign")

    def __init__(self, reg=None, sign=1):
        self.reg, self.sign = reg, sign

    @property
    def zero(self) -> bool:
        return self.reg is None


class _Regs:
    def __init__(self, regs):
        self.free = list(regs)

    def take(self):
        return self.free.pop(0)

    def give(self, reg):
        if reg is not None and reg not in self.free:
            self.free.append(reg)
            self.free.sort(key=lambda r: r.num)


def _combine(asm, regs: _Regs, terms, consts=None) -> _Value:
    """sum of coef * value over terms: an alias, a new register (VADD/VSUB for
    coefficients +-1, VMUL/VMLA/VMLS by a constant register of `consts` for the
    others), or zero."""
    live = [(float(c * v.sign), v.reg) for c, v in terms if c and not v.zero]
    if not live:
        return _Value()
    live.sort(key=lambda t: abs(t[0]) != 1)             # the +-1 terms first
    if len(live) == 1 and abs(live[0][0]) == 1:
        return _Value(live[0][1], int(live[0][0]))
    dst = regs.take()
    (c0, a) = live[0]
    rest = live[1:]
    if rest and abs(c0) == 1 and abs(rest[0][0]) == 1:
        c1, b = rest[0]
        rest = rest[1:]
        sign = 1
        if c0 > 0 and c1 > 0:
            asm.vadd(dst, a, b)
        elif c0 > 0:
            asm.vsub(dst, a, b)
        elif c1 > 0:
            asm.vsub(dst, b, a)
        else:
            asm.vadd(dst, a, b)
            sign = -1
    elif abs(c0) == 1:
        asm.vmov(dst, a)
        sign = int(c0)
    else:
        asm.vmul(dst, a, consts[abs(c0)])
        sign = 1 if c0 > 0 else -1
    for c, r in rest:
        c = c * sign
        if abs(c) == 1:
            (asm.vadd if c > 0 else asm.vsub)(dst, dst, r)
        else:
            (asm.vmla if c > 0 else asm.vmls)(dst, r, consts[abs(c)])
    return _Value(dst, sign)


def constants_of(*matrices) -> list[float]:
    """The coefficient magnitudes other than 0 and 1 (held in S registers)."""
    return sorted({abs(float(c)) for m in matrices for c in np.ravel(m)} - {0.0, 1.0})


class _Emitter:
    def __init__(self, op: WinogradConv2D, ctx: KernelContext, ins: list[int], out_off: int):
        self.op, self.ctx, self.asm = op, ctx, ctx.asm
        self.g = Geometry.of(op)
        self.plan: WinogradPlan = plan_of(op)
        self.f16 = ctx.float16
        self.in_off, self.out_off = ins[0], out_off
        self.residual_delta = ins[1] - out_off if op.residual else 0
        self.ay, self.ax = axes(self.g, self.plan.tile)
        self.P = self.plan.positions
        scratch = ctx.scratch[op.output]
        self.v_off = scratch
        self.m_off = scratch + 4 * self.P * self.plan.a * self.g.cin
        self.bty, _, self.aty = WINOGRAD[self.plan.tile[0]]
        self.btx, _, self.atx = WINOGRAD[self.plan.tile[1]]
        self.subs: dict = {}
        self.pending: list = []
        self.streamed = False

    # ------------------------------------------------------------ weights
    def layout(self) -> None:
        g, plan, op = self.g, self.plan, self.op
        u = op.transformed.reshape(self.P, g.cin, g.cout)
        bias = op.bias if op.bias is not None else np.zeros(g.cout, np.float32)
        self.w_off = None
        for j0 in range(0, g.cout, plan.b):
            bb = min(plan.b, g.cout - j0)
            off = self.ctx.blob.add_f32(bias[j0:j0 + bb])
            part = u[:, :, j0:j0 + bb]
            if self.f16 and bb % 2:
                part = np.concatenate([part, np.zeros(part.shape[:2] + (1,), np.float32)], axis=2)
            self.ctx.blob.add_weights(part, layer=op.name, layer_class=op.layer_class)
            self.w_off = off if self.w_off is None else self.w_off

    def unit_bytes(self, bb: int) -> int:
        return 4 * -(-bb // 2) if self.f16 else 4 * bb

    # ------------------------------------------------------------ subroutines
    def sub(self, key, emit):
        """The label of a subroutine, emitted later (after the driver)."""
        if key not in self.subs:
            self.subs[key] = self.asm.label()
            self.pending.append((self.subs[key], emit))
        return self.subs[key]

    def input_transform(self, mask_rows, masks, need=None):
        """One group's transforms (masks: each tile's columns inside the input;
        `need`: position_needs, the V entries no element-wise product reads are
        neither made nor stored).
        r0: the group's window (row 0, column 0, channel 0; may lie outside the
        input), r1: its first tile's V column in the scratch (tile k's is 4k bytes
        on).  Per channel, each window column is loaded and transformed along y
        once, and tile by tile along x, each row stored as it is made: the columns
        two neighbouring tiles share stay in registers.  In a streamed region the
        window's rows lie where the strip table's row deltas say (ring slots)."""
        g, asm, plan, P = self.g, self.asm, self.plan, self.P
        ny, nx, mx = len(mask_rows), len(masks[0]), plan.tile[1]
        row_ptrs = [r2, r3, r4, r5]
        rows = [r for r in range(ny) if mask_rows[r]]
        ptr_of = {}
        if self.streamed and any(rows):
            self.ctx.reload(r12, SL_W_TABLE)
        for k, r in enumerate(rows):
            ptr_of[r] = row_ptrs[k]
            if self.streamed and r:
                asm.ldr(row_ptrs[k], r12, 4 * (DELTA_WORD + r - 1))
                asm.add(row_ptrs[k], row_ptrs[k], r0)
            else:
                add_const(asm, row_ptrs[k], r0, 4 * r * g.W * g.cin, scratch=r12)
        cin4 = 4 * g.cin
        pos_bytes = 4 * plan.cblock * plan.a
        cols = group_columns(mx, masks)
        columns = set(cols)
        bases, last = column_bases(g.cin, cols)
        values = constants_of(self.bty, self.btx)
        consts = {v: S[31 - k] for k, v in enumerate(values)}
        for v, reg in consts.items():
            asm.vmov_imm(reg, v)
        zero = _Value()

        def load(xs, base, regs):
            """Window columns xs (every row inside the input), the row pointers moved
            on where a column lies beyond a VLDR's reach: ({(row, column): value}, base)."""
            d = {}
            for x in (x for x in xs if x in columns):
                if bases[x] != base:
                    for r in rows:
                        add_const(asm, ptr_of[r], ptr_of[r], (bases[x] - base) * cin4, scratch=r12)
                    base = bases[x]
                for r in rows:
                    d[r, x] = _Value(regs.take())
                    asm.vldr(d[r, x].reg, ptr_of[r], (x - base) * cin4)
            return d, base

        def needed(k, i, j):
            return need is None or need[i * nx + j] > k

        def store_row(row, k, i, regs, kept, zero_reg):
            """Row i of tile k's V: VNEG where a sum came out negated (into a new
            register where the value is kept or shared), zeros from a zero register
            made on first use; frees what no later step reads.  Returns that register."""
            if any(v.zero and needed(k, i, j) for j, v in enumerate(row)) and zero_reg is None:
                zero_reg = regs.take()
                asm.movs(r9, 0)
                asm.vmov_from_core(zero_reg, r9)
            for j, v in enumerate(row):
                if not v.zero and v.sign < 0:
                    shared = v.reg in kept or sum(1 for u in row if u.reg is v.reg) > 1
                    dst = regs.take() if shared else v.reg
                    asm.vneg(dst, v.reg)
                    row[j] = _Value(dst)
            for j, v in enumerate(row):
                if needed(k, i, j):
                    asm.vstr(zero_reg if v.zero else v.reg, r1, 4 * k + (i * nx + j) * pos_bytes)
            for v in row:
                if not v.zero and v.reg not in kept:
                    regs.give(v.reg)
            return zero_reg

        def body():
            regs = _Regs([S[i] for i in range(32 - len(consts))])
            t, base, zero_reg = {}, 0, None
            for k in range(len(masks)):
                x0 = k * mx
                new = [x for x in range(x0, x0 + nx) if (0, x) not in t]
                d, base = load(new, base, regs)
                for x in new:                           # along y (the rows some tile reads)
                    for i in range(ny):
                        t[i, x] = (_combine(asm, regs, [(self.bty[i][r], d.get((r, x), zero))
                                                        for r in range(ny)], consts)
                                   if any(needed(0, i, j) for j in range(nx)) else zero)
                kept = {v.reg for v in t.values() if not v.zero}
                for v in d.values():
                    if v.reg not in kept:
                        regs.give(v.reg)
                for i in range(ny):                     # along x, a row at a time
                    row = [_combine(asm, regs, [(self.btx[j][x], t[i, x0 + x]) for x in range(nx)],
                                    consts) if needed(k, i, j) else zero for j in range(nx)]
                    zero_reg = store_row(row, k, i, regs, kept, zero_reg)
                for x in range(x0, x0 + mx):             # columns no later tile reads
                    for i in range(ny):
                        if not t[i, x].zero:
                            regs.give(t[i, x].reg)
            for r in rows:
                add_const(asm, ptr_of[r], ptr_of[r], 4 - last * cin4, scratch=r12)
            asm.add(r1, r1, 4 * plan.a)

        nb = g.cin // plan.cblock
        with counted_loop(asm, r7, nb):
            with counted_loop(asm, r8, plan.cblock):
                body()
            add_const(asm, r1, r1, (P - 1) * pos_bytes, scratch=r12)
        asm.bx(lr)

    def gemm(self, a: int, bb: int, need=None):
        """M[p] (a tiles x bb channels) for every position p; r2: the block's
        weights (advanced past them).  `need` (position_needs): per position the
        leading tiles computed (the others' M is left unwritten, no output reads
        it); their runs loop along a position row and over identical rows (r6)."""
        g, asm, plan, P = self.g, self.asm, self.plan, self.P
        RV, RW, RM = r1, r2, r3
        self.ctx.arena_ptr(RV, self.v_off)
        self.ctx.arena_ptr(RM, self.m_off)
        assert a * bb + a + bb + 2 <= 32
        cb, nb = plan.cblock, g.cin // plan.cblock
        skip = 4 * (P - 1) * cb * plan.a

        def channels(first: bool, n: int, k: int):
            """k (1 or 2) channels' products into n tiles' sums: the inputs per
            channel, the weights of both in one VLDM (gemm_pairs)."""
            acc = [[S[t * bb + j] for j in range(bb)] for t in range(n)]
            xs = [S[n * bb + t] for t in range(n)]
            ws = [S[n * bb + n + j] for j in range(k * bb)]
            temps = (S[n * bb + n + k * bb], S[n * bb + n + k * bb + 1])
            for c in range(k):
                asm.vldm(RV, xs[0], n, wb=True)
                if n < plan.a:
                    asm.add(RV, RV, 4 * (plan.a - n))
                if c == 0:
                    if k == 2:
                        asm.vldm(RW, ws[0], 2 * bb, wb=True)
                    else:
                        self.load_w(RW, ws, bb)
                w = ws[c * bb:(c + 1) * bb]
                if first and c == 0:
                    for t in range(n):
                        for j in range(bb):
                            asm.vmul(acc[t][j], xs[t], w[j])
                else:
                    emit_macs(asm, acc, [[x] for x in xs], [w], temps)

        def block(first: bool, n: int):
            k = 2 if gemm_pairs(plan, n, bb, self.f16) else 1
            for c in range(0, cb, k):
                channels(first and c == 0, n, k)
            add_const(asm, RV, RV, skip, scratch=r12)

        u = unroll_blocks(g.cin, cb)

        def position(n: int):                  # n tiles' sums at one position
            block(True, n)
            chunked(asm, r5, nb - 1, 1, u, lambda _: block(False, n))
            add_const(asm, RV, RV, -(P * g.cin * plan.a * 4 - cb * plan.a * 4), scratch=r12)
            asm.vstm(RM, S[0], n * bb, wb=True)
            if n < a:
                asm.add(RM, RM, 4 * (a - n) * bb)

        if need is None:
            with counted_loop(asm, r4, P):
                position(a)
        for rows, runs in (position_runs(plan, need) if need is not None else ()):
            with counted_loop(asm, r6, rows):
                for n, k in runs:
                    if n == 0:                 # no output reads them: weights, V, M skipped
                        add_const(asm, RW, RW, k * g.cin * self.unit_bytes(bb), scratch=r12)
                        add_const(asm, RV, RV, k * cb * plan.a * 4, scratch=r12)
                        add_const(asm, RM, RM, k * a * bb * 4, scratch=r12)
                        continue
                    with counted_loop(asm, r4, k):
                        position(n)
        asm.bx(lr)

    def load_w(self, ptr, ws, bb):
        if self.f16 and bb % 2:
            # the unit is padded to a word: load bb + 1 halves, use bb
            extra = S[ws[-1].num + 1]
            load_weights(self.asm, ptr, list(ws) + [extra], bb + 1, True)
        else:
            load_weights(self.asm, ptr, ws, bb, self.f16)

    def output_transform(self, counts, bb: int, a: int):
        """r0: the tile's M (position 0), r1: its first output (block's channel 0),
        r2: the block's bias."""
        g, asm = self.g, self.asm
        cy, cx = counts
        nx = len(self.atx[0])
        sb = [S[j] for j in range(bb)]
        sm = [S[bb + j] for j in range(bb)]
        pixels = [(oy, ox) for oy in range(cy) for ox in range(cx)]
        y = {p: [S[2 * bb + k * bb + j] for j in range(bb)] for k, p in enumerate(pixels)}
        used = 2 * bb + len(pixels) * bb
        values = constants_of(self.aty, self.atx)
        consts = {v: S[31 - k] for k, v in enumerate(values)}
        assert used + len(consts) <= 32
        for v, reg in consts.items():
            asm.vmov_imm(reg, v)
        asm.vldm(r2, sb[0], bb)
        init = set()
        used_at = positions_read(self.plan, cy, cx)
        # positions no stored output reads are not loaded; the pointer steps to the
        # next one read right after each load (no address waits for its add)
        if used_at[0]:
            add_const(asm, r0, r0, 4 * a * bb * used_at[0], scratch=r12)
        for n, xi in enumerate(used_at):
            i, j = divmod(xi, nx)
            asm.vldm(r0, sm[0], bb, wb=True)
            if n + 1 < len(used_at):
                add_const(asm, r0, r0, 4 * a * bb * (used_at[n + 1] - xi) - 4 * bb, scratch=r12)
            for p in pixels:
                c = float(self.aty[p[0]][i] * self.atx[p[1]][j])
                if not c:
                    continue
                for k in range(bb):
                    if abs(c) == 1:
                        src = sb[k] if p not in init else y[p][k]
                        (asm.vadd if c > 0 else asm.vsub)(y[p][k], src, sm[k])
                    else:
                        if p not in init:
                            asm.vmov(y[p][k], sb[k])
                        (asm.vmla if c > 0 else asm.vmls)(y[p][k], sm[k], consts[abs(c)])
                init.add(p)
        row_bytes, pix_bytes = 4 * g.OW * g.cout, 4 * g.cout
        temps = (r3, r4, r5, r6, r7, r8)
        for k, p in enumerate(pixels):
            regs = y[p]
            later = {r.num for q in pixels[k + 1:] for r in y[q]}
            sfree = [S[n] for n in range(32) if n not in later and n not in {r.num for r in regs}
                     and n not in {r.num for r in consts.values()} | {s.num for s in sb}]
            add_const(asm, r9, r1, p[0] * row_bytes + p[1] * pix_bytes, scratch=r12)
            if self.op.residual:
                loader = ((lambda reg, y=p[0]: self.ctx.reload(reg, SL_RES0 + y))
                          if self.streamed else None)
                combine_residual(asm, regs, r9, self.residual_delta, self.op.residual, sfree, r10,
                                 delta_from=loader)
            store_activated(asm, regs, r9, self.op.activation, temps=temps, sfree=sfree)
        asm.bx(lr)

    # ------------------------------------------------------------ driver
    def spilled_loop(self, slot, count, body):
        asm, ctx = self.asm, self.ctx
        if count == 1:
            body()
            return
        asm.mov_const(r0, count)
        ctx.spill(r0, slot)
        top = asm.here()
        body()
        count_down(ctx, slot, top)

    def step_slot(self, slot, step):
        if step:
            self.ctx.reload(r0, slot)
            add_const(self.asm, r0, r0, step, scratch=r1)
            self.ctx.spill(r0, slot)

    def strip(self, spat) -> None:
        """One tile row: SL_STRIP_IN at its window (row 0, column -pad, channel 0),
        SL_STRIP_OUT at its first output; its tiles in groups of `a`."""
        g, asm, ctx, plan = self.g, self.asm, self.ctx, self.plan
        mx = plan.tile[1]
        cin4, cout4 = 4 * g.cin, 4 * g.cout
        blocks = [(plan.b, g.cout // plan.b)] + ([(g.cout % plan.b, 1)] if g.cout % plan.b else [])
        blocks = [(bb, n) for bb, n in blocks if n]

        def group(gpat):
            cy, mask_rows = spat
            a = len(gpat)
            masks = tuple(mask for _, mask in gpat)
            need = position_needs(plan, cy, [cx for cx, _ in gpat])
            ctx.reload(r0, SL_GROUP_IN)
            ctx.arena_ptr(r1, self.v_off)
            asm.bl(self.sub(("in", mask_rows, masks) + ((need,) if need is not None else ()),
                            lambda mr=mask_rows, ms=masks, nd=need: self.input_transform(mr, ms, nd)))
            ctx.reload(r0, SL_GROUP_OUT)
            ctx.spill(r0, SL_BLOCK_OUT)
            ctx.weights_ptr(r0, self.w_off)
            ctx.spill(r0, SL_WBLK)
            for bb, n in blocks:
                def one_block(bb=bb):
                    ctx.reload(r2, SL_WBLK)
                    ctx.spill(r2, SL_BIAS)
                    asm.add(r2, r2, 4 * bb)
                    key = ("gemm", a, bb) + ((need,) if need is not None else ())
                    asm.bl(self.sub(key, lambda a=a, bb=bb, nd=need: self.gemm(a, bb, nd)))
                    ctx.spill(r2, SL_WBLK)
                    for t, (cx, _) in enumerate(gpat):
                        ctx.arena_ptr(r0, self.m_off + 4 * t * bb)
                        ctx.reload(r1, SL_BLOCK_OUT)
                        if t:
                            add_const(asm, r1, r1, t * mx * cout4, scratch=r2)
                        ctx.reload(r2, SL_BIAS)
                        asm.bl(self.sub(("out", (cy, cx), bb, a),
                                        lambda c=(cy, cx), bb=bb, a=a: self.output_transform(c, bb, a)))
                    self.step_slot(SL_BLOCK_OUT, 4 * bb)
                self.spilled_loop(SL_BLOCKS, n, one_block)
            self.step_slot(SL_GROUP_IN, plan.a * mx * cin4)
            self.step_slot(SL_GROUP_OUT, plan.a * mx * cout4)

        ctx.reload(r0, SL_STRIP_IN)
        ctx.spill(r0, SL_GROUP_IN)
        ctx.reload(r0, SL_STRIP_OUT)
        ctx.spill(r0, SL_GROUP_OUT)
        for _, groups, gpat in self.ax.runs(plan.a):
            self.spilled_loop(SL_GROUPS, groups, lambda gpat=gpat: group(gpat))

    def emit_subroutines(self) -> None:
        while self.pending:
            label, emit = self.pending.pop(0)
            self.asm.bind(label)
            emit()

    def emit(self) -> None:
        g, asm, ctx, plan = self.g, self.asm, self.ctx, self.plan
        my = plan.tile[0]
        self.layout()
        cin4, cout4 = 4 * g.cin, 4 * g.cout
        ctx.arena_ptr(r0, self.in_off + 4 * (-g.pt * g.W - g.pl) * g.cin)
        ctx.spill(r0, SL_STRIP_IN)
        ctx.arena_ptr(r0, self.out_off)
        ctx.spill(r0, SL_STRIP_OUT)
        for _, strips, (spat,) in self.ay.runs():
            def strip(spat=spat):
                self.strip(spat)
                self.step_slot(SL_STRIP_IN, my * g.W * cin4)
                self.step_slot(SL_STRIP_OUT, my * g.OW * cout4)
            self.spilled_loop(SL_STRIPS, strips, strip)
        end = asm.label()
        asm.b(end)
        self.emit_subroutines()
        asm.bind(end)

    # ------------------------------------------------------------ in a streamed region
    def strip_table(self, placement: RowPlacement) -> tuple[list[int], list]:
        """RowPlacement.WORDS words per output row; the first row of each tile row
        holds the strip's: window offset (row 0 of the window, column -pad), output
        offset, pattern index, per output row of the strip the bytes to its
        repeated slot and the distance to the fused merge operand, then from
        DELTA_WORD on the bytes from window row 0 to rows 1.. (ring slots need not
        follow each other; the strip's output rows do: streaming.py)."""
        g, my = self.g, self.plan.tile[0]
        row_bytes = 4 * g.W * g.cin
        ay = self.ay.alpha
        kinds, words = [], []
        for k in range(self.ay.tiles):
            spat = self.ay.tile(k)
            if spat not in kinds:
                kinds.append(spat)
            y0 = k * my
            iy0 = y0 - g.pt
            iv = min(max(iy0, 0), g.H - 1)
            row0 = placement.in_row(iv) - (iv - iy0) * row_bytes
            entry = [row0 - 4 * g.pl * g.cin, placement.out_row(y0), kinds.index(spat)]
            for y in range(y0, y0 + my):
                inside = y < g.OH
                entry += [placement.mirror(y) if inside else 0,
                          placement.residual(y) if inside and placement.residual else 0]
            if ay > 1:
                assert len(entry) == DELTA_WORD and DELTA_WORD + ay - 1 <= RowPlacement.WORDS * my
                entry += [placement.in_row(iy0 + r) - row0 if 0 <= iy0 + r < g.H else 0
                          for r in range(1, ay)]
            entry += [0] * (RowPlacement.WORDS * my - len(entry))
            words += entry          # (a last, shorter tile row keeps its row deltas)
        return words, kinds

    def emit_streamed(self, placement: RowPlacement) -> None:
        """A subroutine making output rows [r0 / table row bytes, + r1) (whole tile
        rows: the region makes a tile row's rows together) inside a streamed region."""
        g, asm, ctx, plan = self.g, self.asm, self.ctx, self.plan
        my = plan.tile[0]
        self.streamed = True
        self.layout()
        words, kinds = self.strip_table(placement)
        table_off = ctx.blob.add_words(words)
        entry = 4 * RowPlacement.WORDS * my
        enter_subroutine(ctx, table_off, SL_W_TABLE)
        if my > 1:                                       # tile rows: ceil(rows / my)
            asm.add(r1, r1, my - 1)
            asm.lsr(r1, r1, my.bit_length() - 1)
        ctx.spill(r1, SL_STRIPS)
        top = asm.here()
        ctx.reload(r4, SL_W_TABLE)
        asm.ldm(r4, [r0, r1, r2])
        ctx.arena_ptr(r3, self.in_off)
        asm.add(r0, r0, r3)
        ctx.spill(r0, SL_STRIP_IN)
        ctx.arena_ptr(r3, self.out_off)
        asm.add(r1, r1, r3)
        ctx.spill(r1, SL_STRIP_OUT)
        if self.op.residual:
            for y in range(my):
                asm.ldr(r3, r4, 16 + 8 * y)
                ctx.spill(r3, SL_RES0 + y)
        done = asm.label()
        bodies = [asm.label() for _ in kinds]
        order = list(range(1, len(kinds))) + [0]         # pattern 0 falls through
        for k in order[:-1]:
            asm.cmp(r2, k)
            asm.b(bodies[k], cond="eq")
        for n, k in enumerate(reversed(order)):
            asm.bind(bodies[k])
            self.strip(kinds[k])
            if n + 1 < len(order):
                asm.b(done)
        asm.bind(done)
        out_row = 4 * g.OW * g.cout
        for y in range(my):                              # the rows' repeated slots
            def mirror(reg, y=y):
                ctx.reload(r4, SL_W_TABLE)
                asm.ldr(reg, r4, 12 + 8 * y)

            def out(reg, y=y):
                ctx.reload(reg, SL_STRIP_OUT)
                if y:
                    add_const(asm, reg, reg, y * out_row, scratch=r2)
            copy_to_repeated_slot(ctx, out_row, mirror, out)
        self.step_slot(SL_W_TABLE, entry)
        count_down(ctx, SL_STRIPS, top)
        leave_subroutine(ctx)
        self.emit_subroutines()


@kernel(WinogradConv2D)
def emit_winograd(op: WinogradConv2D, ctx: KernelContext, ins: list[int], out_off: int) -> WinogradPlan:
    _Emitter(op, ctx, ins, out_off).emit()
    return plan_of(op)


def emit_winograd_rows(op: WinogradConv2D, ctx: KernelContext, ins: list[int], out_off: int,
                       placement: RowPlacement) -> WinogradPlan:
    """The Winograd convolution as a subroutine of a streamed region (see rowloop.py)."""
    _Emitter(op, ctx, ins, out_off).emit_streamed(placement)
    return plan_of(op)
