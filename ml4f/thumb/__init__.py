"""Thumb-2 + FPv4-SP-D16 encoder, assembler, decoder and listing for the Cortex-M4F.

One table of instruction forms (`encoding.FORMS`) drives encoding and decoding;
the bytes equal what GNU as produces for `Insn.text()`.
"""
from .assembler import Assembler, Data, Program
from .decode import decode, decode_all
from .encoding import FORMS, Insn, Label, is_vfp_imm

__all__ = ["Assembler", "Data", "FORMS", "Insn", "Label", "Program", "decode", "decode_all",
           "is_vfp_imm"]
