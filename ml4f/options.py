"""The options of one compile."""
from __future__ import annotations

from dataclasses import dataclass

from .errors import UsageError
from .limits import DEFAULT_MAX_BYTES, DEFAULT_TIMEOUT, Limits

OPTIMIZE = ("size", "balanced", "speed")
ARENA_GOALS = ("small", "balanced", "fast")


@dataclass(frozen=True)
class Options:
    float16: bool = False
    validate: bool = True
    test_data: bool = False
    optimize: str = "balanced"
    mhz: float = 64.0
    validation_inputs: int = 4
    seed: int = 1
    arena_goal: str = "balanced"        # small | balanced | fast (see ml4f/streaming.py)
    max_arena: int | None = None        # arena budget in bytes
    winograd: str = "auto"              # auto | off | always (see kernels/winograd_plan.py)
    max_bytes: int = DEFAULT_MAX_BYTES  # any tensor, all weights (ml4f/limits.py)
    timeout: float = DEFAULT_TIMEOUT    # seconds for reading the model file

    @property
    def limits(self) -> Limits:
        return Limits(max_bytes=self.max_bytes, timeout=self.timeout)

    def check(self) -> None:
        if self.optimize not in OPTIMIZE:
            raise UsageError(f"--optimize must be one of {', '.join(OPTIMIZE)}, not {self.optimize!r}")
        if not self.mhz > 0:
            raise UsageError(f"--mhz must be positive, not {self.mhz!r}")
        if self.arena_goal not in ARENA_GOALS:
            raise UsageError(f"--arena-goal must be one of {', '.join(ARENA_GOALS)}, "
                             f"not {self.arena_goal!r}")
        if self.winograd not in ("auto", "off", "always"):
            raise UsageError(f"--winograd must be one of auto, off, always, not {self.winograd!r}")
        if self.max_arena is not None and (isinstance(self.max_arena, bool)
                                           or not isinstance(self.max_arena, int)
                                           or self.max_arena <= 0):
            raise UsageError(f"--max-arena must be a positive number of bytes, not {self.max_arena!r}")
        self.limits.check()

    def signature(self) -> dict:
        """The options that change the object's bytes."""
        sig = {"float16": self.float16, "test_data": self.test_data, "optimize": self.optimize}
        if self.arena_goal != "balanced":
            sig["arena_goal"] = self.arena_goal
        if self.max_arena is not None:
            sig["max_arena"] = self.max_arena
        if self.winograd != "auto":
            sig["winograd"] = self.winograd
        return sig
