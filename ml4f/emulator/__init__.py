"""Run ML4F objects' machine code in Unicorn as a Cortex-M4F and check their behaviour."""
from .machine import (
                      ARENA_REGION,
                      FLASH,
                      GUARD,
                      MAGIC,
                      POISON,
                      STACK_CANARY,
                      STACK_TOP,
                      Machine,
                      RunResult,
                      run_object,
)

__all__ = ["run_object", "RunResult", "Machine", "FLASH", "MAGIC", "STACK_TOP", "ARENA_REGION",
           "POISON", "GUARD", "STACK_CANARY"]
