"""The size and time limits every compile works within, checked before anything is
allocated (see docs/reliability.md).

No Cortex-M4F holds more than a few MiB of flash or RAM, so a model whose weights, or
one of whose tensors, take more than `max_bytes` (16 MiB unless overridden, e.g.
`ml4f compile --max-bytes 64M`) cannot run on one: it is refused with one line naming
the layer and the limit, before the arrays are read or the code is generated.  The
file, its archive members and its configuration have limits derived from it, so that
a small damaged or hostile file cannot make the compiler inflate or allocate more than
a bounded multiple of it.
"""
from __future__ import annotations

from dataclasses import dataclass

from .errors import UsageError

MiB = 1 << 20

#: any one tensor, and all the weights of a model together (float32 bytes)
DEFAULT_MAX_BYTES = 16 * MiB
#: seconds the model file's reader may take (it runs in a child process, see ml4f.model.child)
DEFAULT_TIMEOUT = 5.0
#: a .keras member inflating more than this many times its compressed size is refused
#: (unless it is small: MIN_RATIO_CHECK)
MAX_COMPRESSION_RATIO = 200
MIN_RATIO_CHECK = 1 * MiB


@dataclass(frozen=True)
class Limits:
    max_bytes: int = DEFAULT_MAX_BYTES
    timeout: float = DEFAULT_TIMEOUT

    def check(self) -> None:
        if isinstance(self.max_bytes, bool) or not isinstance(self.max_bytes, int) \
                or self.max_bytes <= 0:
            raise UsageError(f"--max-bytes must be a positive number of bytes, not "
                             f"{self.max_bytes!r}")
        if isinstance(self.timeout, bool) or not isinstance(self.timeout, (int, float)) \
                or not 0 < self.timeout < 1e6:
            raise UsageError(f"--timeout must be a positive number of seconds, not "
                             f"{self.timeout!r}")

    @property
    def file_bytes(self) -> int:
        """The model file, or a .keras archive's weights member (a legacy .h5 file may also
        hold the optimizer's state, up to three times the weights)."""
        return 4 * self.max_bytes + 16 * MiB

    @property
    def config_bytes(self) -> int:
        """The model configuration (JSON text)."""
        return max(16 * MiB, self.max_bytes)


def describe(n: int) -> str:
    """A byte count for messages: 16 MiB, 1.5 GiB, 300 B."""
    for unit, size in (("GiB", 1 << 30), ("MiB", MiB), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n} B"
