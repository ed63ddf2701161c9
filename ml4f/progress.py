"""A one-line progress bar on a terminal, and nothing anywhere else.

Build logs and pipes stay clean: the bar draws only when its stream is a
terminal, redraws at most every REDRAW_SECONDS (the last step always), and
erases itself when closed, so the summary that follows starts on a clean line.

    bar = Progress("validating")
    compile_file(path, progress=bar)     # called as bar(done, total, what)
    bar.close()
"""
from __future__ import annotations

import shutil
import sys
import time

WIDTH = 24
REDRAW_SECONDS = 0.1


def on_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):      # closed or not a file
        return False


class Progress:
    def __init__(self, label: str, stream=None, enabled: bool | None = None) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = on_terminal(self.stream) if enabled is None else enabled
        self._last = 0.0
        self._drawn = False

    def __call__(self, done: int, total: int, what: str = "") -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if done < total and now - self._last < REDRAW_SECONDS:
            return
        self._last = now
        self.stream.write("\r" + self.line(done, total, what) + "\x1b[K")
        self.stream.flush()
        self._drawn = True

    def line(self, done: int, total: int, what: str = "") -> str:
        filled = WIDTH * done // total if total else WIDTH
        text = f"{self.label} [{'#' * filled}{'.' * (WIDTH - filled)}] {done}/{total}"
        if what:
            text += f" {what}"
        columns = shutil.get_terminal_size((80, 24)).columns
        return text[:max(columns - 1, 10)]

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._drawn = False

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
