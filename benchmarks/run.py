"""The benchmark command: python -m benchmarks [--out DIR] [--quick] [--models NAME ...].

Compiles the benchmark models with ML4F and as C with arm-none-eabi-gcc, prints
the result tables (Markdown) and writes results.json, results.md and cmac.png."""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import ml4f

from . import cbaseline, goals, models, report
from .measure import measure

DEFAULT_OUT = Path(__file__).resolve().parent / "results"


def _gcc_version() -> str:
    try:
        out = subprocess.run([cbaseline.GCC, "--version"], capture_output=True, text=True, check=False)
        return out.stdout.splitlines()[0].strip()
    except (OSError, IndexError):
        return "arm-none-eabi-gcc not found"


def run(out: Path, quick: bool = False, names: list[str] | None = None, log=print) -> dict:
    """Measure the models, evaluate the goals and write the results into `out`."""
    t0 = time.perf_counter()
    # a shipped example that is not in the checkout is left out; synthetic models are built
    chosen = [m for m in models.selected(quick) if m.build or m.path.exists()]
    if names:
        unknown = set(names) - {m.name for m in models.MODELS}
        if unknown:
            raise SystemExit(f"unknown model(s): {', '.join(sorted(unknown))}")
        chosen = [m for m in models.MODELS if m.name in names]
    missing = [m for m in chosen if m.build]
    if any(not m.path.exists() for m in missing):
        log("building missing model files (Keras)...")
        models.make(missing)
    # compile times are those of a warm process: the first compile imports h5py,
    # Unicorn and the kernel families, which a build pays once whatever it compiles
    warm = min((m for m in chosen if m.path.exists()), key=lambda m: m.path.stat().st_size,
               default=None)
    if warm is not None:
        ml4f.compile_file(warm.path, validate=True)
    entries = []
    for m in chosen:
        log(f"{m.name}: {m.description}")
        entries.append(measure(m, quick=quick, log=log))
    command = ("python -m benchmarks" + (" --quick" if quick else "")
               + (" --models " + " ".join(names) if names else ""))
    results = {
        "schema": report.SCHEMA,
        "command": command,
        "compiler": f"ml4f {ml4f.__version__}",
        "quick": quick,
        "environment": {
            "gcc": _gcc_version(),
            "baseline_flags": {v: cbaseline.flags(v) for v in cbaseline.VARIANTS},
            "python": platform.python_version(),
            "cycle_model": "ml4f.emulator.timing.TimingModel over the emulated basic-block "
                           "profile; zero wait states; an estimate, not a measurement",
        },
        "models": entries,
        "goals": goals.evaluate(entries),
        "run_seconds": 0.0,
    }
    results["run_seconds"] = round(time.perf_counter() - t0, 1)
    paths = report.write_all(results, out)
    log(f"wrote {', '.join(str(p) for p in paths.values())} in {results['run_seconds']:.0f} s")
    return results


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT,
                    help=f"results directory (default {DEFAULT_OUT})")
    ap.add_argument("--quick", action="store_true",
                    help="a few small models, balanced mode only (CI-sized)")
    ap.add_argument("--models", nargs="+", metavar="NAME",
                    help="only these models (" + ", ".join(m.name for m in models.MODELS) + ")")
    args = ap.parse_args(argv)
    # progress on stderr, the tables (results.md) on stdout
    results = run(args.out, quick=args.quick, names=args.models,
                  log=lambda *a: print(*a, file=sys.stderr, flush=True))
    print(report.markdown(results))
    status = 0
    bad = [m["name"] for m in results["models"]
           if m["status"] == "ok" and m["baseline"].get("status") == "outputs differ"]
    if bad:
        print(f"C baseline outputs differ from ours: {', '.join(bad)}", file=sys.stderr)
        status = 1
    broken = [m["name"] for m in results["models"] if m["status"] == "internal error"]
    if broken:
        print(f"the compiler failed internally on: {', '.join(broken)}", file=sys.stderr)
        status = 1
    return status
