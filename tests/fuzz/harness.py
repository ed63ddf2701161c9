"""Run one fuzz case the way a user would: `ml4f compile` (ml4f.cli.main) in a fresh
process, under a memory cap, with a deadline, and look at what it left behind.

The process comes from a fork server that imported ml4f once (a case then starts in a
few milliseconds, with no TensorFlow of the test session in it); the compile's own
model-reader child is forked from it as in any compile.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import resource
import time
from dataclasses import dataclass
from pathlib import Path

#: every case ends within this many seconds
DEADLINE = 10.0
#: address space of a case's process (and so of the reader child it forks)
MEMORY_CAP = 1 << 30
OUTPUT_SUFFIXES = (".bin", ".h", ".S", ".c", ".json", ".lst", ".html")

_CONTEXT = None


def _context():
    global _CONTEXT
    if _CONTEXT is None:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["ml4f.cli", "ml4f.api", "tests.fuzz.harness"])
        _CONTEXT = ctx
    return _CONTEXT


@dataclass
class Result:
    code: int | None              # exit status of `ml4f compile`; None: killed at the deadline
    stdout: str
    stderr: str
    seconds: float
    max_rss: int                  # bytes, the larger of the process and its reader child
    left: list[str]               # files in the output directory afterwards


def _run(argv: list[str], result_file: str, stdout_file: str, stderr_file: str,
         cap: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    out = os.open(stdout_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    err = os.open(stderr_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(out, 1)
    os.dup2(err, 2)
    import sys

    from ml4f import cli
    try:
        code = cli.main(argv)
    except SystemExit as e:                  # argparse's usage errors
        code = e.code if isinstance(e.code, int) else 2
    sys.stdout.flush()
    sys.stderr.flush()
    rss = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
              resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) * 1024
    Path(result_file).write_text(json.dumps({"code": code, "max_rss": rss}))


def run_compile(argv: list[str], work: Path, out_dir: Path, cap: int = MEMORY_CAP,
                deadline: float = DEADLINE) -> Result:
    """`ml4f ARGV` in a fresh process; the result and what is left in `out_dir`."""
    work.mkdir(parents=True, exist_ok=True)
    files = [str(work / n) for n in ("result.json", "stdout.txt", "stderr.txt")]
    for f in files:
        if os.path.exists(f):
            os.unlink(f)
    process = _context().Process(target=_run, args=(argv, *files, cap))
    t0 = time.perf_counter()
    process.start()
    process.join(deadline)
    seconds = time.perf_counter() - t0
    code, rss = None, 0
    if process.is_alive():
        process.kill()
        process.join()
    elif os.path.exists(files[0]):
        data = json.loads(Path(files[0]).read_text())
        code, rss = data["code"], data["max_rss"]
    else:
        code = -1000 + (process.exitcode or 0)          # died without a result
    text = [Path(f).read_text(errors="replace") if os.path.exists(f) else "" for f in files[1:]]
    left = sorted(p.name for p in out_dir.iterdir()) if out_dir.is_dir() else []
    return Result(code, text[0], text[1], seconds, rss, left)
