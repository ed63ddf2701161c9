"""Run a linked baseline ELF in Unicorn as a Cortex-M4F and cost it per layer.

The ELF's allocated sections are written at their addresses (flash read+exec,
RAM read+write, a separate stack); `model_run(model_input, model_output)` is
called with LR at an unmapped return address, as the compiled objects are.  A
block hook counts (layer, previous block, block) triples: the current layer is
the last `model_layer_<i>` function entered, blocks inside `model_run` itself
are charged to "other".  The counts are costed by
`benchmarks.foreign_code.ForeignCycleCounter` (same table and hazard rules as the
compiled objects).
"""
from __future__ import annotations

import ctypes
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from elftools.elf.constants import SH_FLAGS
from elftools.elf.elffile import ELFFile
from unicorn import (UC_ARCH_ARM, UC_ERR_OK, UC_HOOK_BLOCK, UC_MODE_THUMB, UC_PROT_EXEC,
                     UC_PROT_READ, UC_PROT_WRITE, Uc, UcError)
from unicorn import arm_const as A

from benchmarks.foreign_code import ForeignCycleCounter

try:                # a block hook without the binding's Python wrappers (as ml4f.emulator does)
    from unicorn.unicorn_py3.unicorn import HOOK_CODE_CFUNC, uc_hook_h, uclib
except ImportError:                                        # pragma: no cover
    uclib = None

FLASH = 0x08000000
RAM = 0x20000000
STACK_TOP = 0x30000000
STACK_BYTES = 0x10000
MAGIC = 0x0F000000
PAGE = 0x1000


def _round_up(n: int, m: int = PAGE) -> int:
    return (n + m - 1) // m * m


@dataclass
class BaselineRun:
    output: np.ndarray
    cycles: dict            # layer index (str) -> cycles, plus "other" and "total"
    instructions: int
    tensors: dict           # op index -> that op's output read back after the run


class Baseline:
    """One linked model: load once, run and profile."""

    def __init__(self, elf_path: Path, n_layers: int) -> None:
        with open(elf_path, "rb") as fh:
            elf = ELFFile(fh)
            self.symbols = {s.name: (s["st_value"], s["st_size"])
                            for s in elf.get_section_by_name(".symtab").iter_symbols()}
            sections = [(s["sh_addr"], s.data() if s["sh_type"] != "SHT_NOBITS" else None,
                         s["sh_size"]) for s in elf.iter_sections()
                        if s["sh_flags"] & SH_FLAGS.SHF_ALLOC and s["sh_size"]]
        self.flash = bytearray()
        self.ram_end = RAM
        self.data = []
        for addr, data, size in sections:
            if FLASH <= addr < RAM:
                end = addr - FLASH + size
                self.flash.extend(b"\0" * max(0, end - len(self.flash)))
                self.flash[addr - FLASH:end] = data
            else:
                self.ram_end = max(self.ram_end, addr + size)
                if data is not None:
                    self.data.append((addr, data))
        self.flash = bytes(self.flash)
        self.n_layers = n_layers
        self.layer_of = {self.symbols[f"model_layer_{i}"][0] & ~1: i for i in range(n_layers)}
        run_addr, run_size = self.symbols["model_run"]
        self.run_range = (run_addr & ~1, (run_addr & ~1) + run_size)

    def _engine(self) -> Uc:
        uc = Uc(UC_ARCH_ARM, UC_MODE_THUMB)
        uc.ctl_set_cpu_model(A.UC_CPU_ARM_CORTEX_M4)       # before any map or register access
        uc.mem_map(FLASH, _round_up(len(self.flash)), UC_PROT_READ | UC_PROT_EXEC)
        uc.mem_write(FLASH, self.flash)
        uc.mem_map(RAM, _round_up(self.ram_end - RAM), UC_PROT_READ | UC_PROT_WRITE)
        for addr, data in self.data:
            uc.mem_write(addr, data)
        uc.mem_map(STACK_TOP - STACK_BYTES, STACK_BYTES, UC_PROT_READ | UC_PROT_WRITE)
        return uc

    def run(self, x: np.ndarray, out_elems: int, tensor_symbols: dict | None = None) -> BaselineRun:
        uc = self._engine()
        in_addr = self.symbols["model_input"][0]
        out_addr = self.symbols["model_output"][0]
        uc.mem_write(in_addr, np.ascontiguousarray(x, dtype="<f4").tobytes())
        triples: dict = {}
        self._hook(uc, triples)
        for reg, value in ((A.UC_ARM_REG_R0, in_addr), (A.UC_ARM_REG_R1, out_addr),
                           (A.UC_ARM_REG_SP, STACK_TOP), (A.UC_ARM_REG_LR, MAGIC | 1)):
            uc.reg_write(reg, value)
        entry = self.symbols["model_run"][0]
        uc.emu_start(entry | 1, MAGIC, count=2_000_000_000)
        pc = uc.reg_read(A.UC_ARM_REG_PC)
        if pc != MAGIC:
            raise RuntimeError(f"model_run did not return (pc {pc:#x})")
        output = np.frombuffer(bytes(uc.mem_read(out_addr, 4 * out_elems)), "<f4").copy()
        tensors = {}
        for i, (name, n) in (tensor_symbols or {}).items():
            if name in self.symbols:
                tensors[i] = np.frombuffer(bytes(uc.mem_read(self.symbols[name][0], 4 * n)),
                                           "<f4").copy()
        cycles, insns = self._cost(triples)
        return BaselineRun(output, cycles, insns, tensors)

    def _hook(self, uc: Uc, triples: dict) -> None:
        layer_of, (run_lo, run_hi) = self.layer_of, self.run_range
        state = ["other", "other", None]          # current layer, previous block's charge, its address
        get = triples.get

        def on_block(handle, address, size, user_data):
            layer = layer_of.get(address)
            if layer is not None:
                state[0] = layer
            charge = "other" if run_lo <= address < run_hi else state[0]
            k = (state[1], state[2], charge, address, size)
            triples[k] = get(k, 0) + 1
            state[1], state[2] = charge, address

        begin, end = FLASH, FLASH + _round_up(len(self.flash)) - 1
        if uclib is not None and hasattr(uc, "_uch"):
            self._cb = HOOK_CODE_CFUNC(on_block)
            handle = uc_hook_h()
            status = uclib.uc_hook_add(uc._uch, ctypes.byref(handle), UC_HOOK_BLOCK, self._cb,
                                       None, ctypes.c_uint64(begin), ctypes.c_uint64(end))
            if status != UC_ERR_OK:
                raise UcError(status)
        else:                                              # pragma: no cover
            uc.hook_add(UC_HOOK_BLOCK, lambda u, a, s, d: on_block(None, a, s, d), None,
                        begin, end)

    def _cost(self, triples: dict):
        """Cycles per layer: each layer's blocks, and the edges leaving them."""
        blocks: dict = {}
        edges: dict = {}
        for (prev_charge, prev, charge, addr, size), n in triples.items():
            b = blocks.setdefault(charge, {})
            key = (addr - FLASH, size)
            b[key] = b.get(key, 0) + n
            if prev is not None:
                e = edges.setdefault(prev_charge, {})
                key = (prev - FLASH, addr - FLASH)
                e[key] = e.get(key, 0) + n
        counter = ForeignCycleCounter(self.flash)
        cycles = {}
        insns = 0
        for charge, bc in blocks.items():
            c = counter.count(bc, edges.get(charge, {}))
            cycles[str(charge)] = c["total"]
            insns += sum(len(counter.block(*k).insns) * n for k, n in bc.items())
        cycles.setdefault("other", 0)
        cycles["total"] = sum(cycles.values())
        return cycles, insns
