"""Progress of `ml4f compile` (and `ml4f eval`): a bar on a terminal, nothing in
logs and pipes, nothing with -q."""
from __future__ import annotations

import os
import pty
import subprocess
import sys

from test_cli import DIGITS, EXAMPLES, ml4f

X_Y = (EXAMPLES / "digits_test_x.npy", EXAMPLES / "digits_test_y.npy")


def on_a_terminal(*args) -> tuple[int, bytes, str]:
    """Run ml4f with stderr on a pseudo-terminal; stdout stays a pipe."""
    master, slave = pty.openpty()
    env = dict(os.environ)
    env.pop("ML4F_DEBUG", None)
    p = subprocess.Popen([sys.executable, "-m", "ml4f", *map(str, args)], stdout=subprocess.PIPE,
                         stderr=slave, env=env)
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:             # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    out = p.stdout.read().decode()
    os.close(master)
    return p.wait(), seen, out


def test_compile_shows_progress_per_op_on_a_terminal(tmp_path):
    status, terminal, out = on_a_terminal("compile", DIGITS, "-o", tmp_path, "-b", "d")
    assert status == 0
    text = terminal.decode()
    assert "d: validating [" in text and "/6" in text, text
    assert "conv1" in text                      # the op being validated is named
    assert text.endswith("\r\x1b[K")            # the bar erases itself before the summary
    assert "estimated" in out and "validating" not in out


def test_compile_is_silent_when_quiet_or_not_on_a_terminal(tmp_path):
    status, terminal, out = on_a_terminal("compile", DIGITS, "-o", tmp_path, "-b", "d", "-q")
    assert status == 0 and terminal == b"" and out == ""
    r = ml4f("compile", DIGITS, "-o", tmp_path, "-b", "d")
    assert r.returncode == 0 and r.stderr == ""


def test_eval_shows_progress_on_a_terminal_only(tmp_path):
    status, terminal, out = on_a_terminal("eval", DIGITS, "--data", *X_Y)
    assert status == 0 and "accuracy" in out
    assert b"running the float32 object [" in terminal
    r = ml4f("eval", DIGITS, "--data", *X_Y)
    assert r.returncode == 0 and r.stderr == ""
