"""The options of one compile."""
from __future__ import annotations

from dataclasses import dataclass

from .errors import UsageError

OPTIMIZE = ("size", "balanced", "speed")


@dataclass(frozen=True)
class Options:
    float16: bool = False
    validate: bool = True
    test_data: bool = False
    optimize: str = "balanced"
    mhz: float = 64.0
    validation_inputs: int = 4
    seed: int = 1

    def check(self) -> None:
        if self.optimize not in OPTIMIZE:
            raise UsageError(f"--optimize must be one of {', '.join(OPTIMIZE)}, not {self.optimize!r}")
        if not self.mhz > 0:
            raise UsageError(f"--mhz must be positive, not {self.mhz!r}")

    def signature(self) -> dict:
        """The options that change the object's bytes."""
        return {"float16": self.float16, "test_data": self.test_data, "optimize": self.optimize}
