"""Data movement (padding, cropping, upsampling, permutation, repeats,
concatenation) as short programs of strided block moves.

A Move copies `run` contiguous floats (or writes `run` zeros) at every point of
a loop nest; each loop level has a count and a stride on the source and on the
destination side.  After normalisation (levels of count 1 dropped, levels that
are contiguous on both sides folded into the run, adjacent levels merged) one
emitter turns every move into counted loops around an innermost body chosen by
the shape of the move (approximate cycles per float moved, Cortex-M4):

  block      a contiguous run: VLDM/VSTM of up to 32 S registers          2.1
  fill       zeros: VSTM of zeroed S registers                            1.05
  bcast      one run stored several times in a row (repeats, nearest
             upsampling): one VLDM per 32 floats, then a VSTM per copy     1 + 1/copies
  core tile  runs of 1-2 floats (1-4 if each is stored several times) with
             strides (permutations, narrow concatenations, upsampling of few
             channels): several runs per LDM or LDRs with offsets, then STM
             or STRs with offsets                                           2.5
  s tile     runs of 3-16 floats with strides (permutations that keep the
             channels, concatenation along channels): several runs per
             VLDM/VSTM on the contiguous side                               2.3

Values move as bits (no arithmetic), so the result is exact for every float,
NaNs and -0.0 included.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from math import prod
from typing import Callable

from ..errors import CodegenError
from ..graph.ops import Op
from ..graph.ops.merge import Concat
from ..graph.ops.shape import Crop, Pad, Repeat, Transpose, Upsample, View
from ..graph.shapes import hwc
from ..thumb.regs import S, lr, r0, r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, r11, r12
from .context import SPILL_SLOTS, KernelContext
from .immediates import add_const
from .loops import copy_floats, counted_loop
from .registry import kernel
from .rowloop import COPY_CHUNK, SL_ROWKIND, RowPlacement, row_subroutine

OUT = -1                  # Move.src: an earlier part of the output
CHUNK = 32                # S registers per VLDM/VSTM
DATA = (r0, r1, r2, r3, r4, r5, r6, r7)
SRC, DST = r8, r9
COUNTERS = (r10, r11, r12, lr)
CORE_RUN = 2              # strided runs up to this long move through core registers,
CORE_RUN_BCAST = 4        # ... or up to this long when each is stored several times
MAX_OFFSET = 4095         # LDR/STR immediate offset (bytes)
UNROLL_BLOCKS = 2         # contiguous chunks emitted inline before a loop is used


@dataclass(frozen=True)
class Move:
    src: int | None       # input index, OUT, or None for zeros
    src_off: int          # floats from the start of the source
    dst_off: int          # floats from the start of the output
    dims: tuple           # ((count, src stride, dst stride), ...) in floats, outermost first
    run: int              # contiguous floats per innermost point


def normalize(m: Move) -> Move | None:
    """The same move with the fewest loop levels and the longest run; None if empty."""
    if m.run <= 0 or any(n <= 0 for n, _, _ in m.dims):
        return None
    # the source stride of a fill is meaningless: mirror the destination's
    dims = [(n, d if m.src is None else s, d) for n, s, d in m.dims if n != 1]
    run = m.run
    changed = True
    while changed:
        changed = False
        if dims and dims[-1][1] == run and dims[-1][2] == run:
            run *= dims.pop()[0]
            changed = True
            continue
        for i in range(len(dims) - 1):
            (n1, s1, d1), (n2, s2, d2) = dims[i], dims[i + 1]
            if s1 == n2 * s2 and d1 == n2 * d2:
                dims[i:i + 2] = [(n1 * n2, s2, d2)]
                changed = True
                break
    return Move(m.src, 0 if m.src is None else m.src_off, m.dst_off, tuple(dims), run)


# ------------------------------------------------------------ moves per op
def _strides(shape) -> list[int]:
    return [prod(shape[i + 1:]) for i in range(len(shape))]


def pad_moves(op) -> list[Move]:
    h, w, c = hwc(op.in_shape)
    t, l, b, r = op.pads
    ow = w + l + r
    first = (t * ow + l) * c                     # first copied float
    return [
        Move(None, 0, 0, (), first),
        Move(None, 0, first + w * c, ((h - 1, 0, ow * c),), (l + r) * c),
        Move(None, 0, first + (h - 1) * ow * c + w * c, (), (r + b * ow) * c),
        Move(0, 0, first, ((h, w * c, ow * c),), w * c),
    ]


def crop_moves(op) -> list[Move]:
    h, w, c = hwc(op.in_shape)
    oh, ow, _ = hwc(op.out_shape)
    t, l, _, _ = op.crops
    return [Move(0, (t * w + l) * c, 0, ((oh, w * c, ow * c),), ow * c)]


def upsample_moves(op) -> list[Move]:
    h, w, c = hwc(op.in_shape)
    sh, sw = op.size
    row = w * sw * c                             # floats per output row
    return [
        # the first output row of every block: each pixel stored sw times
        Move(0, 0, 0, ((h, w * c, sh * row), (w, c, sw * c), (sw, 0, c)), c),
        # the other sh - 1 rows of the block: copies of the first
        Move(OUT, 0, row, ((h, sh * row, sh * row), (sh - 1, 0, row)), row),
    ]


def transpose_moves(op) -> list[Move]:
    st, ot = _strides(op.in_shape), _strides(op.out_shape)
    dims = tuple((op.out_shape[i], st[p], ot[i]) for i, p in enumerate(op.perm))
    return [Move(0, 0, 0, dims, 1)]


def repeat_moves(op) -> list[Move]:
    f = prod(op.in_shape)
    return [Move(0, 0, 0, ((op.n, 0, f),), f)]


def concat_moves(op) -> list[Move]:
    a = op.axis
    outer, out_inner = prod(op.out_shape[:a]), prod(op.out_shape[a:])
    moves, off = [], 0
    for k, shape in enumerate(op.in_shapes):
        inner = prod(shape[a:])
        moves.append(Move(k, 0, off, ((outer, inner, out_inner),), inner))
        off += inner
    return moves


MOVES: dict[type, Callable[[Op], list[Move]]] = {
    Pad: pad_moves,
    Crop: crop_moves,
    Upsample: upsample_moves,
    Transpose: transpose_moves,
    Repeat: repeat_moves,
    Concat: concat_moves,
}


# ---------------------------------------------------------------- emission
class _Mover:
    def __init__(self, ctx: KernelContext) -> None:
        self.ctx, self.asm = ctx, ctx.asm
        self.free = list(COUNTERS)
        self.slots = list(range(SPILL_SLOTS))
        self.bodies: dict[str, int] = {}

    @contextmanager
    def loop(self, n: int):
        """Body runs n times; the counter lives in a register while there are
        any left, else in a frame slot (touched once per iteration)."""
        if n == 1:
            yield
            return
        if self.free:
            reg = self.free.pop(0)
            with counted_loop(self.asm, reg, n):
                yield
            self.free.insert(0, reg)
            return
        slot = self.slots.pop(0)
        self.asm.mov_const(r0, n)
        self.ctx.spill(r0, slot)
        top = self.asm.here()
        yield
        self.ctx.reload(r0, slot)           # data registers are dead between bodies
        self.asm.subs(r0, r0, 1)
        self.ctx.spill(r0, slot)
        self.asm.b(top, cond="ne")
        self.slots.insert(0, slot)

    def bump(self, reg, floats: int) -> None:
        add_const(self.asm, reg, reg, 4 * floats, scratch=r0)

    def emit(self, m: Move, src_base: int | None, dst_base: int) -> None:
        self.ctx.arena_ptr(DST, dst_base + 4 * m.dst_off)
        if m.src is not None:
            self.ctx.arena_ptr(SRC, src_base + 4 * m.src_off)
        levels, run = list(m.dims), m.run
        bcast = bool(levels) and levels[-1][1] == 0 and levels[-1][2] == run
        if m.src is None:
            body = self._fill(run)
        elif bcast and len(levels) >= 2 and run <= CORE_RUN_BCAST:
            copies = levels.pop()[0]
            body = self._core_tile(run, *levels.pop(), copies)
        elif bcast:
            body = self._bcast(run, levels.pop()[0])
        elif levels and run <= CORE_RUN:
            body = self._core_tile(run, *levels.pop())
        elif levels and run <= CHUNK // 2:
            body = self._s_tile(run, *levels.pop())
        else:
            body = self._block(run)
        self._nest(levels, body, m.src is not None)

    def _nest(self, levels, body, has_src: bool):
        """Loops over `levels` around `body`; returns the floats the pointers advanced."""
        if not levels:
            return body()
        (n, ss, sd), rest = levels[0], levels[1:]
        with self.loop(n):
            a_s, a_d = self._nest(rest, body, has_src)
            if has_src:
                self.bump(SRC, ss - a_s)
            self.bump(DST, sd - a_d)
        return n * ss, n * sd

    def _count(self, name: str) -> None:
        self.bodies[name] = self.bodies.get(name, 0) + 1

    def _tiles(self, n: int, g: int, one) -> None:
        """n points, g per tile: full tiles in a loop (two per iteration when
        there are many), then the rest."""
        full, rest = divmod(n, g)
        pairs, odd = divmod(full, 2) if full >= 4 else (0, full)
        if pairs:
            with self.loop(pairs):
                one(g)
                one(g)
        if odd:
            with self.loop(odd):
                one(g)
        if rest:
            one(rest)

    # -- bodies: each emits its code and returns (source, destination) advance in floats
    def _block(self, run: int):
        self._count("block")
        asm = self.asm

        def chunk(k):
            asm.vldm(SRC, S[0], k, wb=True)
            asm.vstm(DST, S[0], k, wb=True)

        def body():
            full, rest = divmod(run, CHUNK)
            if full <= UNROLL_BLOCKS:
                for _ in range(full):
                    chunk(CHUNK)
            else:
                with self.loop(full):
                    chunk(CHUNK)
            if rest:
                chunk(rest)
            return run, run
        return body

    def _fill(self, run: int):
        self._count("fill")
        asm = self.asm
        z = min(run, CHUNK)
        asm.movs(r0, 0)
        for i in range(0, z - 1, 2):
            asm.vmov_from_core2(S[i], r0, r0)
        if z % 2:
            asm.vmov_from_core(S[z - 1], r0)

        def body():
            full, rest = divmod(run, z)
            if full <= UNROLL_BLOCKS:
                for _ in range(full):
                    asm.vstm(DST, S[0], z, wb=True)
            else:
                with self.loop(full):
                    asm.vstm(DST, S[0], z, wb=True)
            if rest:
                asm.vstm(DST, S[0], rest, wb=True)
            return 0, run
        return body

    def _bcast(self, run: int, copies: int):
        """A run stored `copies` times in a row: per chunk of up to 32 floats
        one VLDM and a VSTM per copy."""
        self._count("bcast")
        asm = self.asm

        def body():
            for c0 in range(0, run, CHUNK):
                k = min(CHUNK, run - c0)
                asm.vldm(SRC, S[0], k, wb=True)
                if k == run:
                    if copies <= 4:
                        for _ in range(copies):
                            asm.vstm(DST, S[0], k, wb=True)
                    else:
                        with self.loop(copies):
                            asm.vstm(DST, S[0], k, wb=True)
                    continue
                for i in range(copies):
                    asm.vstm(DST, S[0], k, wb=True)
                    self.bump(DST, (run - k) if i < copies - 1 else -(copies - 1) * run)
            if run > CHUNK:
                self.bump(DST, (copies - 1) * run)
            return run, copies * run
        return body

    def _core_tile(self, run: int, n: int, ss: int, sd: int, copies: int = 1):
        """n short runs `ss`/`sd` floats apart (each stored `copies` times in a
        row): g runs at a time through the core registers.  A contiguous side
        moves by LDM/STM with write-back, a strided one by LDR/STR with
        immediate offsets and one ADD per tile (back-to-back LDRs and STRs
        take one cycle each)."""
        self._count("core tile")
        asm = self.asm
        load_cont = ss == run
        store_cont = sd == run and copies == 1
        span = (copies - 1) * run + run - 1          # last stored float of one run
        g = max(1, min(n, len(DATA) // run))
        if not load_cont and ss > 0:
            g = max(1, min(g, (MAX_OFFSET // 4 - (run - 1)) // ss + 1))
        if not store_cont and sd > 0:
            g = max(1, min(g, (MAX_OFFSET // 4 - span) // sd + 1))

        def one(k):
            regs = list(DATA[:k * run])
            if load_cont:
                asm.ldm(SRC, regs, wb=True)
            else:
                for i in range(k):
                    for e in range(run):
                        asm.ldr(regs[i * run + e], SRC, 4 * (i * ss + e))
            if not load_cont:
                # between the loads and the stores: no stall on the last load
                # or on the address of the next tile's first load
                add_const(asm, SRC, SRC, 4 * k * ss)
            if store_cont:
                asm.stm(DST, regs, wb=True)
            else:
                for i in range(k):
                    for j in range(copies):
                        for e in range(run):
                            asm.str(regs[i * run + e], DST, 4 * (i * sd + j * run + e))
            if not store_cont:
                self.bump(DST, k * sd)

        def body():
            self._tiles(n, g, one)
            return n * ss, n * sd
        return body

    def _s_tile(self, run: int, n: int, ss: int, sd: int):
        """n runs of 3..16 floats, at least one side strided: g runs at a time
        through S registers, so the contiguous side moves by one VLDM/VSTM per
        tile and the strided side by one per run (plus an ADD)."""
        self._count("s tile")
        asm = self.asm
        g = max(1, min(n, CHUNK // run))

        def one(k):
            if ss == run:
                asm.vldm(SRC, S[0], k * run, wb=True)
            else:
                for i in range(k):
                    asm.vldm(SRC, S[i * run], run, wb=True)
                    self.bump(SRC, ss - run)
            if sd == run:
                asm.vstm(DST, S[0], k * run, wb=True)
            else:
                for i in range(k):
                    asm.vstm(DST, S[i * run], run, wb=True)
                    self.bump(DST, sd - run)

        def body():
            self._tiles(n, g, one)
            return n * ss, n * sd
        return body


def _in_place(m: Move, src: int | None, dst: int, written_there: bool) -> bool:
    """A move of floats onto themselves (an operand its producer wrote into its
    slice of the output, see plan.concat_slices): nothing to do."""
    return (src is not None and src + 4 * m.src_off == dst + 4 * m.dst_off
            and (written_there or all(s == d for _, s, d in m.dims)))


def emit_moves(op: Op, ctx: KernelContext, ins: list[int], out_off: int) -> str:
    mover = _Mover(ctx)
    moves = [m for m in map(normalize, MOVES[type(op)](op)) if m is not None]
    kept = 0
    for m in moves:
        src = None if m.src is None else (out_off if m.src == OUT else ins[m.src])
        apart = m.src not in (None, OUT) and op.inputs[m.src] in ctx.pixels_apart
        if _in_place(m, src, out_off, apart):
            continue
        mover.emit(m, src, out_off)
        kept += 1
    if moves and not kept:
        return "operands computed in place (no code)"
    return ", ".join(f"{k} x{v}" for k, v in sorted(mover.bodies.items()))


kernel(*MOVES)(emit_moves)


# ------------------------------------------------------- padding in a region
ZEROS = (r4, r5, r6, r7)             # core registers holding 0 while a padded row is made
ROW_SRC, ROW_DST, ROW_TABLE, ROW_COUNT = r10, r11, r9, r8


def _fill(asm, dst, words: int) -> None:
    groups, tail = divmod(words, len(ZEROS))
    if groups > UNROLL_BLOCKS:
        with counted_loop(asm, ROW_COUNT, groups):
            asm.stm(dst, list(ZEROS), wb=True)
    else:
        for _ in range(groups):
            asm.stm(dst, list(ZEROS), wb=True)
    if tail:
        asm.stm(dst, list(ZEROS[:tail]), wb=True)


def emit_pad_rows(op: Pad, ctx: KernelContext, ins: list[int], out_off: int,
                  placement: RowPlacement) -> str:
    """Zero padding as a subroutine of a streamed region (see rowloop.py): a
    row of the input gets its zero columns on either side, a padding row is
    all zeros (the table's fourth word tells which)."""
    asm = ctx.asm
    h, w, c = hwc(op.in_shape)
    oh, ow, _ = hwc(op.out_shape)
    t, left, _, right = op.pads
    rows = [(placement.in_row(y - t) if t <= y < t + h else 0, placement.out_row(y),
             placement.mirror(y), int(t <= y < t + h)) for y in range(oh)]

    def body():
        for reg in ZEROS:
            asm.movs(reg, 0)
        ctx.reload(r0, SL_ROWKIND)
        padding, done = asm.label(), asm.label()
        asm.cmp(r0, 0)
        asm.b(padding, cond="eq")
        _fill(asm, ROW_DST, left * c)
        copy_floats(asm, ROW_SRC, ROW_DST, w * c, ROW_COUNT, COPY_CHUNK)
        _fill(asm, ROW_DST, right * c)
        asm.b(done)
        asm.bind(padding)
        _fill(asm, ROW_DST, ow * c)
        asm.bind(done)
    row_subroutine(ctx, rows, table_reg=ROW_TABLE, src=ROW_SRC, src_off=ins[0], dst=ROW_DST,
                   dst_off=out_off, row_bytes=4 * ow * c, body=body)
    return f"rows: {left}+{w}+{right} columns x{c}"


@kernel(View)
def emit_view(op: Op, ctx: KernelContext, ins: list[int], out_off: int) -> str:
    """No code: the arena plan put the output inside the input."""
    if out_off != ins[0] + 4 * op.offset:
        raise CodegenError(f"view placed at {out_off}, not at its input {ins[0]} + {4 * op.offset}",
                           layer=op.name, layer_class=op.layer_class)
    return "view (no code)"
