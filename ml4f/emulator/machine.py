"""Run an ML4F object's machine code in Unicorn as a Cortex-M4F, and police it.

Memory map (everything else is unmapped, so stray accesses fault):

    0x08000000  the object, rounded up to 4 KiB, READ|EXEC: stores fault
    0x0F000000  MAGIC, the return address (unmapped; emulation stops there)
    0x10800000  top of the stack; the stack region below it is `stack_limit`
                rounded up to 4 KiB, with unmapped memory on both sides
    0x20100000  the arena region, READ|WRITE, 4 KiB pages: the arena is placed
                so that its end is the end of the region (word aligned); the
                bytes in front of it are guarded (see below)

The call is `fn(r0 = object base, r1 = arena base)` with LR = MAGIC | 1 and SP at
the stack top.  Before it, r4-r11 and s16-s31 hold sentinels (AAPCS callee-saved),
r2, r3, r12 garbage, s0-s15 the poison NaN and FPSCR its reset value 0; after it
the callee-saved registers, SP and the FPSCR mode bits are checked.

The arena is filled with the poison NaN except for the input, the rest of its
region with a guard pattern, and the stack with a canary (its high-water mark is
measured after the run).  Writes next to the arena are caught in two steps:
after every run the guard bytes are compared with their pattern; if they
changed, the run is repeated (it is deterministic) with a UC_HOOK_MEM_WRITE
restricted to the guard range, which names the pc of the first stray write.
A permanent write hook would halve the emulation speed of every run, also of
runs that write nothing there.  A write just past the arena, or in front of an
arena that fills its pages, hits unmapped memory and faults at once.
"""
from __future__ import annotations

import ctypes
import struct
from dataclasses import dataclass, field

import numpy as np
from unicorn import (
    UC_ARCH_ARM,
    UC_ERR_EXCEPTION,
    UC_ERR_INSN_INVALID,
    UC_ERR_OK,
    UC_HOOK_BLOCK,
    UC_HOOK_MEM_INVALID,
    UC_HOOK_MEM_READ,
    UC_HOOK_MEM_WRITE,
    UC_MEM_FETCH_PROT,
    UC_MEM_FETCH_UNMAPPED,
    UC_MEM_READ_PROT,
    UC_MEM_WRITE,
    UC_MEM_WRITE_PROT,
    UC_MEM_WRITE_UNMAPPED,
    UC_MODE_THUMB,
    UC_PROT_EXEC,
    UC_PROT_READ,
    UC_PROT_WRITE,
    Uc,
    UcError,
)
from unicorn import arm_const as A

try:                # the binding's raw entry points: a block hook without its Python wrappers
    from unicorn.unicorn_py3.unicorn import HOOK_CODE_CFUNC, uc_hook_h, uclib
except ImportError:                                        # pragma: no cover
    uclib = None

from ..container import Header, parse_header
from ..errors import EmulationError, ModelFormatError, UsageError

PAGE = 0x1000
FLASH = 0x08000000
MAGIC = 0x0F000000
STACK_TOP = 0x10800000
MAX_STACK = STACK_TOP - MAGIC - 2 * PAGE
ARENA_REGION = 0x20100000
NEAR = 0x100000          # unmapped addresses this close to a region are named after it
#: Unicorn's translated-code cache per engine (its default, 1 GiB of address space per
#: engine, made a compile of many layers reserve tens of GiB); the generated code of one
#: model is far smaller, and a full cache is flushed and refilled, never wrong
TCG_BUFFER_BYTES = 32 << 20

POISON = 0x7FA5A5A5                # float32 signalling NaN: never-written arena data
STACK_CANARY = 0x7FB5CA5E          # also a NaN, distinct from the poison
GUARD = 0x7FB0A2D5                 # around the arena; differs from the poison so that a stray
                                   # copy of never-written arena data is noticed too
SCRATCH_GARBAGE = 0xBAD0BAD0       # r2, r3, r12 on entry
FPSCR_MODE_MASK = 0x07C00000       # AHP, DN, FZ, RMode
FPSCR_MODE_BITS = (("RMode", 22, 3), ("FZ", 24, 1), ("DN", 25, 1), ("AHP", 26, 1))

CORE_SAVED = [getattr(A, f"UC_ARM_REG_R{i}") for i in range(4, 12)]
FP_SAVED = [getattr(A, f"UC_ARM_REG_S{i}") for i in range(16, 32)]
FP_SCRATCH = [getattr(A, f"UC_ARM_REG_S{i}") for i in range(16)]
CORE_SENTINELS = [0xC0DE0000 | (i << 8) | i for i in range(4, 12)]
FP_SENTINELS = [0x3F800000 | (i << 12) | i for i in range(16, 32)]      # finite floats near 1.0
REG_NAMES = {**{r: f"r{i}" for i, r in zip(range(4, 12), CORE_SAVED)},
             **{r: f"s{i}" for i, r in zip(range(16, 32), FP_SAVED)}}


def _round_up(n: int, m: int) -> int:
    return (n + m - 1) // m * m


def _is_wide(hw: int) -> bool:
    """First halfword of a 32-bit Thumb-2 instruction?"""
    return (hw >> 11) in (0b11101, 0b11110, 0b11111)


def _thumb_insn_count(code: bytes) -> int:
    """Number of Thumb instructions in a straight run of code."""
    n = i = 0
    while i + 1 < len(code):
        i += 4 if _is_wide(code[i] | code[i + 1] << 8) else 2
        n += 1
    return n


class _RegBatch:
    """A fixed list of registers read or written in one Unicorn call, with the ctypes
    buffers built once (the binding's own batch calls rebuild them per call)."""

    def __init__(self, regs, values=None):
        n = len(regs)
        self.n = ctypes.c_int(n)
        self.regs = list(regs)
        self.ids = (ctypes.c_int * n)(*regs)
        self.vals = (ctypes.c_uint64 * n)(*(values or [0] * n))
        base = ctypes.addressof(self.vals)
        self.ptrs = (ctypes.c_void_p * n)(*(base + 8 * i for i in range(n)))
        self.values = values

    def write(self, uc: Uc) -> None:
        if hasattr(uc, "_do_reg_write_batch"):
            status = uc._do_reg_write_batch(self.ids, self.ptrs, self.n)
            if status != UC_ERR_OK:
                raise UcError(status)
        else:
            uc.reg_write_batch(list(zip(self.regs, self.values)))

    def read(self, uc: Uc) -> list:
        if hasattr(uc, "_do_reg_read_batch"):
            status = uc._do_reg_read_batch(self.ids, self.ptrs, self.n)
            if status != UC_ERR_OK:
                raise UcError(status)
            return list(self.vals)
        return list(uc.reg_read_batch(self.regs))


@dataclass
class RunResult:
    output: np.ndarray             # float32, shaped as the header's output shape
    instructions: int | None       # executed instructions (profile=True), else None
    stack_bytes: int               # stack high-water mark in bytes
    block_counts: dict | None      # {(start_offset, size_bytes): executions} (profile=True)
    edge_counts: dict | None       # {(from_start_offset, to_start_offset): count} (profile=True)
    arena: bytes = field(repr=False)     # the arena after the run
    header: Header = field(repr=False)


class _StrayWrite(Exception):
    """The guard bytes in front of or behind the arena changed during a run."""


class Machine:
    """One Unicorn engine set up for one object; `run` may be called many times.

    The object is never rewritten, so Unicorn's translation cache stays valid
    between runs; arena, stack and registers are rewritten for every run.  After
    a run that raised, the engine is rebuilt before the next one."""

    def __init__(self, obj: bytes, *, profile: bool = False, check_alignment: bool = False,
                 max_instructions: int = 200_000_000, stack_limit: int = 4096,
                 path: str | None = None, check_reads: bool = False) -> None:
        self.obj = bytes(obj)
        self.header = h = parse_header(self.obj, path)
        self.path = path
        self.profile = profile
        self.check_alignment = check_alignment
        self.check_reads = check_reads     # every arena read must hit bytes written in this run
        self.max_instructions = int(max_instructions)
        if self.max_instructions <= 0:
            raise UsageError(f"max_instructions must be positive, not {max_instructions}")
        if not 0 < stack_limit <= MAX_STACK:
            raise UsageError(f"stack_limit must be in 1..{MAX_STACK}, not {stack_limit}")
        self.stack_limit = int(stack_limit)

        def bad(msg):
            return ModelFormatError(f"not a valid ML4F object: {msg}", path=path)

        if h.input_offset + 4 * h.input_elems > h.arena_bytes:
            raise bad(f"input [{h.input_offset}, +{4 * h.input_elems}) exceeds arena_bytes "
                      f"{h.arena_bytes}")
        if h.output_offset + 4 * h.output_elems > h.arena_bytes:
            raise bad(f"output [{h.output_offset}, +{4 * h.output_elems}) exceeds arena_bytes "
                      f"{h.arena_bytes}")
        if h.has_test_data and h.test_input_offset + 4 * h.input_elems > len(self.obj):
            raise bad("embedded test input runs past the end of the object")

        self.flash_size = _round_up(max(len(self.obj), 1), PAGE)
        if FLASH + self.flash_size > MAGIC:
            raise bad(f"object too large to emulate ({len(self.obj)} bytes)")
        self.entry = FLASH + h.header_size
        self.region_size = _round_up(max(h.arena_bytes, 4), PAGE)
        self.region_end = ARENA_REGION + self.region_size
        self.arena_base = (self.region_end - h.arena_bytes) & ~3
        self.arena_end = self.arena_base + h.arena_bytes
        self.stack_size = _round_up(self.stack_limit, PAGE)
        self.stack_base = STACK_TOP - self.stack_size

        # Templates written before every run.
        self._arena_lo = self.arena_base - ARENA_REGION            # arena within the region
        self._arena_hi = self._arena_lo + h.arena_bytes
        template = bytearray(struct.pack("<I", GUARD) * (self.region_size // 4))
        poison = struct.pack("<I", POISON) * (self.region_size // 4)
        template[self._arena_lo:self._arena_hi] = poison[:h.arena_bytes]
        self._region_template = bytes(template)
        self._in_start = self._arena_lo + h.input_offset
        self._stack_template = struct.pack("<I", STACK_CANARY) * (self.stack_size // 4)
        regs_in = ([(A.UC_ARM_REG_R0, FLASH), (A.UC_ARM_REG_R1, self.arena_base),
                    (A.UC_ARM_REG_R2, SCRATCH_GARBAGE), (A.UC_ARM_REG_R3, SCRATCH_GARBAGE),
                    (A.UC_ARM_REG_R12, SCRATCH_GARBAGE), (A.UC_ARM_REG_SP, STACK_TOP),
                    (A.UC_ARM_REG_LR, MAGIC | 1), (A.UC_ARM_REG_FPSCR, 0)]
                   + list(zip(CORE_SAVED, CORE_SENTINELS)) + list(zip(FP_SAVED, FP_SENTINELS))
                   + [(r, POISON) for r in FP_SCRATCH])
        self._regs_in = _RegBatch([r for r, _ in regs_in], [v for _, v in regs_in])
        self._regs_out = _RegBatch([A.UC_ARM_REG_PC, A.UC_ARM_REG_SP, A.UC_ARM_REG_FPSCR,
                                    *CORE_SAVED, *FP_SAVED])
        self._expected_saved = CORE_SENTINELS + FP_SENTINELS
        self._insn_counts: dict = {}
        self._prev = [None]
        self._triples: dict = {}
        self.uc = None
        self._build(guarded=check_alignment)

    # ---------------------------------------------------------------- set-up

    def _build(self, guarded: bool) -> None:
        self._release()
        uc = Uc(UC_ARCH_ARM, UC_MODE_THUMB)
        uc.ctl_set_tcg_buffer_size(TCG_BUFFER_BYTES)      # both before any map or register
        uc.ctl_set_cpu_model(A.UC_CPU_ARM_CORTEX_M4)      # access
        uc.mem_map(FLASH, self.flash_size, UC_PROT_READ | UC_PROT_EXEC)
        uc.mem_write(FLASH, self.obj)
        uc.mem_map(ARENA_REGION, self.region_size, UC_PROT_READ | UC_PROT_WRITE)
        uc.mem_map(self.stack_base, self.stack_size, UC_PROT_READ | UC_PROT_WRITE)
        uc.hook_add(UC_HOOK_MEM_INVALID, self._on_invalid)
        if guarded:
            if self.arena_base > ARENA_REGION:
                uc.hook_add(UC_HOOK_MEM_WRITE, self._on_guard_write, None,
                            ARENA_REGION, self.arena_base - 1)
            if self.arena_end < self.region_end:
                uc.hook_add(UC_HOOK_MEM_WRITE, self._on_guard_write, None,
                            self.arena_end, self.region_end - 1)
        if self.check_alignment:
            uc.hook_add(UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE, self._on_access)
        if self.check_reads:
            uc.hook_add(UC_HOOK_MEM_WRITE, self._on_arena_write, None, self.arena_base,
                        self.arena_end - 1)
            uc.hook_add(UC_HOOK_MEM_READ, self._on_arena_read, None, self.arena_base,
                        self.arena_end - 1)
        if self.profile:
            self._add_block_hook(uc)
        self.uc = uc
        self._guarded = guarded
        self._dirty = False
        self._fault = None

    def _release(self) -> None:
        """Free the engine now (its hooks refer to this Machine: left to the garbage
        collector, engines and their caches pile up)."""
        uc, self.uc = getattr(self, "uc", None), None
        if uc is not None:
            finalizer = getattr(uc, "_Uc__finalizer", None)    # the binding's uc_close
            if finalizer is not None:
                finalizer()

    def close(self) -> None:
        """Free the Unicorn engine; the Machine is not used again."""
        self._release()
        self._block_cb = None

    def __enter__(self) -> "Machine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _add_block_hook(self, uc: Uc) -> None:
        """Count (previous block, block, size) triples: the hot path of profile=True."""
        prev = self._prev
        triples = self._triples
        get = triples.get

        def on_block(handle, address, size, user_data):
            k = (prev[0], address, size)
            prev[0] = address
            triples[k] = get(k, 0) + 1

        begin, end = FLASH, FLASH + self.flash_size - 1
        if uclib is not None and hasattr(uc, "_uch"):
            # Registered directly: the binding's hook_add wraps the callback in two
            # Python layers, which halves the speed of a per-block callback.
            self._block_cb = HOOK_CODE_CFUNC(on_block)
            handle = uc_hook_h()
            status = uclib.uc_hook_add(uc._uch, ctypes.byref(handle), UC_HOOK_BLOCK,
                                       self._block_cb, None, ctypes.c_uint64(begin),
                                       ctypes.c_uint64(end))
            if status != UC_ERR_OK:
                raise UcError(status)
        else:                                              # pragma: no cover
            uc.hook_add(UC_HOOK_BLOCK, lambda uc, a, s, d: on_block(None, a, s, d), None,
                        begin, end)

    # ------------------------------------------------------------- locations

    def where(self, addr: int) -> str:
        """Name an address relative to the object, the arena or the stack."""
        if FLASH <= addr < FLASH + self.flash_size:
            return f"object+{addr - FLASH:#x}"
        if ARENA_REGION - NEAR <= addr < self.region_end + NEAR:
            return f"arena{addr - self.arena_base:+#x}"
        if self.stack_base - NEAR <= addr < STACK_TOP + NEAR:
            return f"stack top{addr - STACK_TOP:+#x}"
        return f"{addr:#010x}"

    def _addr(self, addr: int) -> str:
        name = self.where(addr)
        return name if name.startswith("0x") else f"{name} ({addr:#x})"

    def _code_bytes(self, pc: int | None) -> str:
        off = -1 if pc is None else pc - FLASH
        if not 0 <= off < len(self.obj) - 1:
            return "not in the object"
        n = 4 if _is_wide(self.obj[off] | self.obj[off + 1] << 8) else 2
        return "bytes " + " ".join(f"{b:02x}" for b in self.obj[off:off + n])

    def _outside_arena_msg(self, kind, address, size, pc):
        at = "" if pc is None else f" at pc {self.where(pc)}"
        return (f"{kind} outside the arena at arena{address - self.arena_base:+#x} "
                f"(address {address:#x}, {size} bytes; arena_bytes {self.header.arena_bytes:#x})"
                f"{at}")

    # ------------------------------------------------------------------ hooks

    def _on_invalid(self, uc, access, address, size, value, user_data):
        if self._fault is None:
            self._fault = (access, address, size, uc.reg_read(A.UC_ARM_REG_PC))
        return False

    def _on_guard_write(self, uc, access, address, size, value, user_data):
        pc = uc.reg_read(A.UC_ARM_REG_PC)
        raise EmulationError(self._outside_arena_msg("write", address, size, pc), path=self.path)

    def _on_access(self, uc, access, address, size, value, user_data):
        if size >= 4 and address & 3:
            pc = uc.reg_read(A.UC_ARM_REG_PC)
            kind = "write" if access == UC_MEM_WRITE else "read"
            raise EmulationError(
                f"misaligned {size}-byte {kind} at {self.where(address)} (address {address:#x}) "
                f"at pc {self.where(pc)} ({self._code_bytes(pc)})", path=self.path)

    def _on_arena_write(self, uc, access, address, size, value, user_data):
        lo = address - self.arena_base
        self._written[lo:lo + size] = True

    def _on_arena_read(self, uc, access, address, size, value, user_data):
        lo = address - self.arena_base
        if not self._written[lo:lo + size].all():
            pc = uc.reg_read(A.UC_ARM_REG_PC)
            raise EmulationError(
                f"read of arena{lo:+#x} ({size} bytes) before anything was written there in "
                f"this run, at pc {self.where(pc)} ({self._code_bytes(pc)})", path=self.path)

    # -------------------------------------------------------------------- run

    def _input_bytes(self, x) -> bytes:
        h = self.header
        if x is None:
            if not h.has_test_data:
                raise UsageError("no input given and the object has no embedded test input",
                                 path=self.path)
            off = h.test_input_offset
            return self.obj[off:off + 4 * h.input_elems]
        a = np.asarray(x)
        if a.size != h.input_elems:
            raise UsageError(f"input has {a.size} elements, the object expects "
                             f"{h.input_elems} (shape {list(h.input_shape)})", path=self.path)
        if a.dtype.kind not in "fiub":
            raise UsageError(f"input must be numeric (float32), not {a.dtype}", path=self.path)
        return np.ascontiguousarray(a, dtype="<f4").tobytes()

    def run(self, x: np.ndarray | None = None, *, max_instructions: int | None = None) -> RunResult:
        """Run once on `x` (None: the embedded test input) and check the run."""
        data = self._input_bytes(x)
        count = self.max_instructions if max_instructions is None else int(max_instructions)
        try:
            return self._run(data, count)
        except _StrayWrite as stray:
            # Repeat the run with write hooks on the guard bytes to find the pc.
            try:
                self._run(data, count, guarded=True)
            except _StrayWrite:
                pass
            finally:
                self._dirty = True                  # back to the fast engine next time
            raise EmulationError(str(stray), path=self.path) from None

    def _run(self, data: bytes, count: int, guarded: bool = False) -> RunResult:
        h = self.header
        guarded = guarded or self.check_alignment
        if self._dirty or self._guarded != guarded:
            self._build(guarded)
        uc = self.uc
        self._dirty = True                          # until the run has been checked

        region = bytearray(self._region_template)
        region[self._in_start:self._in_start + len(data)] = data
        uc.mem_write(ARENA_REGION, bytes(region))
        if self.check_reads:
            self._written = np.zeros(h.arena_bytes, dtype=bool)
            self._written[h.input_offset:h.input_offset + len(data)] = True
        uc.mem_write(self.stack_base, self._stack_template)
        self._regs_in.write(uc)
        self._fault = None
        if self.profile:
            self._prev[0] = None
            self._triples.clear()

        try:
            uc.emu_start(self.entry | 1, MAGIC, count=count)
        except UcError as e:
            self._check_guard()
            raise self._translate(e) from None
        except EmulationError:
            self._check_guard()
            raise

        region = uc.mem_read(ARENA_REGION, self.region_size)
        self._check_guard(region)
        out = self._regs_out.read(uc)
        pc, sp, fpscr = out[0], out[1], out[2]
        if pc != MAGIC:
            raise EmulationError(f"did not return within {count} instructions "
                                 f"(stopped at pc {self.where(pc)})", path=self.path)
        stack_bytes = self._high_water(uc.mem_read(self.stack_base, self.stack_size))
        if stack_bytes > self.stack_limit:
            raise EmulationError(f"stack overflow: {stack_bytes} bytes used, limit "
                                 f"{self.stack_limit} (lowest write at stack top-{stack_bytes:#x}"
                                 f", found after the run)", path=self.path)
        problems = [REG_NAMES[r] for r, got, want in
                    zip(self._regs_out.regs[3:], out[3:], self._expected_saved) if got != want]
        if sp != STACK_TOP:
            problems.append(f"sp (returned with sp {sp - STACK_TOP:+d})")
        if problems:
            raise EmulationError("callee-saved register(s) not preserved (AAPCS): "
                                 + ", ".join(problems), path=self.path)
        if fpscr & FPSCR_MODE_MASK:
            changed = [f"{n}={(fpscr >> s) & m}" for n, s, m in FPSCR_MODE_BITS
                       if (fpscr >> s) & m]
            raise EmulationError(f"FPSCR mode bits not preserved (AAPCS): returned with "
                                 f"{', '.join(changed)}, caller had 0 (FPSCR {fpscr:#010x})",
                                 path=self.path)

        arena = bytes(region[self._arena_lo:self._arena_hi])
        output = np.frombuffer(arena, dtype="<f4", count=h.output_elems,
                               offset=h.output_offset).reshape(h.output_shape).copy()
        instructions = block_counts = edge_counts = None
        if self.profile:
            block_counts, edge_counts, instructions = self._profile_counts()
        self._dirty = False
        return RunResult(output=output, instructions=instructions, stack_bytes=stack_bytes,
                         block_counts=block_counts, edge_counts=edge_counts, arena=arena,
                         header=h)

    def _check_guard(self, region=None) -> None:
        """Raise _StrayWrite if the poison in front of or behind the arena changed."""
        if self._guarded:
            return
        if region is None:
            region = self.uc.mem_read(ARENA_REGION, self.region_size)
        lo, hi = self._arena_lo, self._arena_hi
        t = self._region_template
        for a, b in ((0, lo), (hi, self.region_size)):
            if a < b and region[a:b] != t[a:b]:
                i = next(i for i in range(a, b) if region[i] != t[i])
                raise _StrayWrite(self._outside_arena_msg("write", ARENA_REGION + i, 1, None)
                                  + " (found after the run)")

    def _high_water(self, stack) -> int:
        words = np.frombuffer(bytes(stack), dtype="<u4")
        used = np.flatnonzero(words != STACK_CANARY)
        return 0 if used.size == 0 else int(self.stack_size - 4 * used[0])

    def _profile_counts(self):
        blocks: dict = {}
        edges: dict = {}
        for (prev, addr, size), n in self._triples.items():
            b = (addr - FLASH, size)
            blocks[b] = blocks.get(b, 0) + n
            if prev is not None:
                e = (prev - FLASH, addr - FLASH)
                edges[e] = edges.get(e, 0) + n
        insns = 0
        for b, n in blocks.items():
            k = self._insn_counts.get(b)
            if k is None:
                k = self._insn_counts[b] = _thumb_insn_count(self.obj[b[0]:b[0] + b[1]])
            insns += k * n
        return blocks, edges, insns

    def _translate(self, e: UcError) -> EmulationError:
        """A Unicorn fault as a one-line EmulationError naming pc and address."""
        try:
            pc = self.uc.reg_read(A.UC_ARM_REG_PC)
        except UcError:
            pc = None
        at = "unknown pc" if pc is None else f"pc {self.where(pc)}"
        f = self._fault
        if e.errno == UC_ERR_INSN_INVALID:
            msg = (f"undefined/unsupported instruction at {self.where(pc)} "
                   f"({self._code_bytes(pc)}); a Cortex-M4F runs only ARMv7E-M Thumb "
                   f"and single-precision FPv4")
        elif e.errno == UC_ERR_EXCEPTION:
            msg = f"CPU exception (bkpt, svc or fault) at {at} ({self._code_bytes(pc)})"
        elif f is not None:
            access, address, size, fpc = f
            fat = f"pc {self.where(fpc)}"
            kind = "write" if access in (UC_MEM_WRITE_UNMAPPED, UC_MEM_WRITE_PROT) else "read"
            if access == UC_MEM_WRITE_PROT:
                msg = (f"write to the object at {self.where(address)} (address {address:#x}, "
                       f"{size} bytes) at {fat}")
            elif access in (UC_MEM_FETCH_UNMAPPED, UC_MEM_FETCH_PROT):
                what = "unmapped" if access == UC_MEM_FETCH_UNMAPPED else "non-executable"
                lr = self.uc.reg_read(A.UC_ARM_REG_LR)
                msg = (f"jump to {what} memory at {self._addr(address)} "
                       f"(lr {self._addr(lr & ~1)})")
            elif self.stack_base - NEAR <= address < self.stack_base:
                msg = (f"stack overflow beyond the {self.stack_limit}-byte limit: {kind} at "
                       f"{self.where(address)} (address {address:#x}) at {fat}")
            elif ARENA_REGION - NEAR <= address < self.region_end + NEAR:
                msg = self._outside_arena_msg(kind, address, size, fpc)
            else:
                what = "read from protected" if access == UC_MEM_READ_PROT else (
                    f"{kind} {'to' if kind == 'write' else 'from'} unmapped")
                msg = (f"{what} memory at {self.where(address)} (address {address:#x}, "
                       f"{size} bytes) at {fat}")
        else:
            msg = f"emulation failed ({e}) at {at}"
        return EmulationError(msg, path=self.path)


def run_object(obj: bytes, x: np.ndarray | None = None, *, profile: bool = False,
               check_alignment: bool = False, max_instructions: int = 200_000_000,
               stack_limit: int = 4096) -> RunResult:
    """Run the object once on input `x` (None: its embedded test input)."""
    with Machine(obj, profile=profile, check_alignment=check_alignment,
                 max_instructions=max_instructions, stack_limit=stack_limit) as machine:
        return machine.run(x)
