"""`ml4f` command line.

    ml4f compile MODEL [-o DIR] [-b NAME] [--float16] [--no-validate] [--test-data]
                       [--listing] [--optimize size|balanced|speed] [--mhz MHZ]
                       [--max-arena BYTES] [--arena-goal small|balanced|fast]
                       [--winograd auto|off|always] [--max-bytes BYTES] [--timeout SECONDS]
                       [--c-array | --arduino-library DIR]
    ml4f run OBJECT [INPUT.json|INPUT.npy] [--json]
    ml4f eval MODEL --data FILE [FILE] [--float16] [--optimize ...] [--object NAME.bin] [--json]
    ml4f serve [--port N]
    ml4f selftest

Exit status: 0 ok, 1 compile (or run) error, 2 usage error.  Errors are one
line on stderr; a failed compile (also an internal error, a timeout, Ctrl-C) leaves no
output files of its name behind (see docs/reliability.md).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

import numpy as np

from . import __version__
from .errors import ML4FError, UsageError
from .limits import DEFAULT_MAX_BYTES, DEFAULT_TIMEOUT
from .progress import Progress

OUTPUT_SUFFIXES = (".bin", ".h", ".S", ".c", ".json", ".lst", ".html")


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        self.exit(2, f"ml4f: error: {message}\n")


def _bytes(text: str) -> int:
    """A byte count: decimal, 0x hex, or with a K (1024) or M suffix."""
    t = text.strip().upper().rstrip("B")
    scale = 1
    if t.endswith(("K", "M")):
        scale, t = (1024 if t[-1] == "K" else 1024 * 1024), t[:-1]
    try:
        value = int(t, 0) * scale
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a byte count: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value < 1e6:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def _limit_options(p) -> None:
    """--max-bytes and --timeout (ml4f/limits.py, docs/reliability.md)."""
    p.add_argument("--max-bytes", type=_bytes, default=DEFAULT_MAX_BYTES, metavar="BYTES",
                   help="the largest tensor, and the most weights in all, a model may have "
                        "(default: 16M; more than any Cortex-M4F holds); larger models are "
                        "refused before anything is allocated")
    p.add_argument("--timeout", type=_seconds, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                   help="time limit for reading the model file (default: 5); a damaged file "
                        "that makes the HDF5 library hang is stopped after it")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="ml4f", description="Compile Keras models to Cortex-M4F machine code (ML4F objects).")
    p.add_argument("--version", action="version", version=f"ml4f {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    c = sub.add_parser("compile", help="compile a Keras model (.h5 or .keras)")
    c.add_argument("model", help="Keras model file (.h5 written by Keras 2 or 3, or .keras)")
    c.add_argument("-o", "--output", default="built", help="output directory (default: built)")
    c.add_argument("-b", "--basename", help="output base name and C symbol prefix (default: the model file's name)")
    c.add_argument("--float16", action="store_true", help="store weights as float16 (half the flash)")
    c.add_argument("-n", "--no-validate", dest="validate", action="store_false",
                   help="skip running each layer in the emulator against the reference")
    c.add_argument("-t", "--test-data", action="store_true",
                   help="embed a test input and the expected output in the object")
    c.add_argument("--listing", action="store_true", help="also write NAME.lst (annotated disassembly)")
    c.add_argument("--html", action="store_true",
                   help="also write NAME.html, the report as one self-contained page")
    c.add_argument("--optimize", choices=("size", "balanced", "speed"), default="balanced",
                   help="code size against speed (default: balanced)")
    c.add_argument("--mhz", type=float, default=64.0, help="clock for the time estimate (default: 64)")
    c.add_argument("--max-arena", type=_bytes, metavar="BYTES",
                   help="RAM budget for the arena (e.g. 96000, 96K, 0x18000): regions are streamed "
                        "row by row as needed to fit, or the compile fails naming the peak op")
    c.add_argument("--arena-goal", choices=("small", "balanced", "fast"), default="balanced",
                   help="small: the least arena; fast: no row streaming; balanced (default): the "
                        "least streaming within 10%% of the least arena")
    c.add_argument("--winograd", choices=("auto", "off", "always"), default="auto",
                   help="Winograd convolutions for 3x3 (and 3-tap 1-D) stride-1 layers: auto "
                        "(default: where faster, by --optimize), off, always (every eligible layer)")
    _limit_options(c)
    c.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    form = c.add_mutually_exclusive_group()
    form.add_argument("--c-array", action="store_true",
                      help="write NAME.c (the object as a const array) instead of NAME.S, for "
                           "toolchains without GNU .incbin")
    form.add_argument("--arduino-library", metavar="DIR",
                      help="write an Arduino library into DIR (or a ZIP when DIR ends in .zip) "
                           "instead of the files in -o")

    r = sub.add_parser("run", help="run an ML4F object in the emulator")
    r.add_argument("object", help="ML4F object (.bin)")
    r.add_argument("input", nargs="?", help="input values (.json list or .npy); default: the embedded test input")
    r.add_argument("--json", action="store_true", help="print the result as JSON")
    r.add_argument("--mhz", type=float, default=64.0, help="clock for the time estimate (default: 64)")

    e = sub.add_parser("eval", help="run the compiled code on a labelled dataset: accuracy, "
                                    "confusion matrix, agreement with the reference")
    e.add_argument("model", help="Keras model file (.h5 or .keras)")
    e.add_argument("--data", nargs="+", required=True, metavar="FILE",
                   help="DATA.npz (x, y), X.npy Y.npy, or ML4F's eval JSON {x, y}")
    e.add_argument("--float16", action="store_true",
                   help="evaluate float16 weights, and compare with float32 weights")
    e.add_argument("--optimize", choices=("size", "balanced", "speed"), default="balanced",
                   help="code size against speed (default: balanced)")
    e.add_argument("--object", metavar="NAME.bin",
                   help="evaluate this compiled object (compiled from MODEL) instead of compiling")
    e.add_argument("-n", "--no-validate", dest="validate", action="store_false",
                   help="skip the compiler's own validation of each layer")
    e.add_argument("--json", action="store_true", help="print the result as JSON")
    _limit_options(e)

    s = sub.add_parser("serve", help="the compiler in a local web page (127.0.0.1 only)")
    s.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1 (default: 8000; 0: any free)")

    sub.add_parser("selftest", help="compile and run the example models shipped with ml4f")
    return p


#: the longest -b NAME (file names have room for the suffixes, symbols stay readable)
MAX_NAME = 100
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def _output_name(args) -> str:
    """-b NAME, which must be a C identifier; else the model file's name, mapped to one
    (said on stderr when that changes it: `a-b` and `a.b` would both be `a_b`)."""
    from .firmware import c_identifier

    if args.basename is not None:
        if not IDENTIFIER.match(args.basename) or len(args.basename) > MAX_NAME:
            raise UsageError(f"-b/--basename {_shown(args.basename)} must be a C identifier "
                             f"(letters, digits and _, not starting with a digit; at most "
                             f"{MAX_NAME} characters)")
        return args.basename
    stem = Path(args.model).stem
    name = c_identifier(stem)
    if len(name) > MAX_NAME:
        raise UsageError(f"the model file's name is longer than {MAX_NAME} characters; give "
                         "the outputs a name with -b NAME")
    if name != stem and not args.quiet:
        print(f"ml4f: note: {_shown(stem)} is not a C identifier: the outputs and symbols are "
              f"named '{name}' (choose with -b NAME)", file=sys.stderr)
    return name


def _shown(text: str) -> str:
    shown = repr(text)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def _owned(args, out_dir: Path, name: str) -> list[Path]:
    """Every file a compile of NAME owns (written or, if stale, removed)."""
    if args.arduino_library:
        from .arduino_library import library_paths
        return library_paths(args.arduino_library, name)
    return [out_dir / f"{name}{suffix}" for suffix in OUTPUT_SUFFIXES]


def cmd_compile(args) -> int:
    from .api import compile_file
    from .outputs import Outputs
    from .report import summary

    name = _output_name(args)
    out_dir = Path(args.output)
    outputs = Outputs(_owned(args, out_dir, name))
    outputs.check()
    try:
        with Progress(f"{name}: validating", enabled=False if args.quiet else None) as bar:
            compiled = compile_file(args.model, float16=args.float16, validate=args.validate,
                                    test_data=args.test_data, optimize=args.optimize,
                                    mhz=args.mhz, progress=bar, max_arena=args.max_arena,
                                    arena_goal=args.arena_goal, winograd=args.winograd,
                                    max_bytes=args.max_bytes, timeout=args.timeout)
        html = _html(args, compiled, name) if args.html else None
        if args.arduino_library:
            from .arduino_library import library_outputs
            outputs.commit(library_outputs(args.arduino_library, name, compiled))
        else:
            outputs.commit(_files(args, compiled, out_dir, name, html))
    except BaseException:
        outputs.discard()               # never leave a stale object to be linked
        raise
    if not args.quiet:
        print(summary(compiled.report, name))
        if args.arduino_library:
            print(f"  Arduino library: {args.arduino_library}")
    return 0


def _files(args, compiled, out_dir: Path, name: str, html: bytes | None) -> dict:
    """{path: bytes} of the outputs in -o (the owned ones not in it are removed: the other
    form, .S or .c, would be a second object of the same name)."""
    from .firmware import asm_file, c_array_file, header_file

    linkable = (f"{name}.c", c_array_file(name, compiled.object, compiled.content_hash)) \
        if args.c_array else (f"{name}.S", asm_file(name, f"{name}.bin", compiled.content_hash))
    files = {
        out_dir / f"{name}.bin": compiled.object,
        out_dir / f"{name}.h": header_file(name, compiled.header, compiled.report,
                                           compiled.content_hash).encode(),
        out_dir / linkable[0]: linkable[1].encode(),
        out_dir / f"{name}.json": (json.dumps(_stable(compiled.report), indent=2) + "\n").encode(),
    }
    if args.listing:
        files[out_dir / f"{name}.lst"] = compiled.listing().encode()
    if html is not None:
        files[out_dir / f"{name}.html"] = html
    return files


def _html(args, compiled, name: str) -> bytes:
    """NAME.html, with the other weight type's flash and cycles beside (compiled
    again without validation: its sizes and cycles only)."""
    from .api import compile_file
    from .html_report import render

    try:
        other = _stable(compile_file(args.model, float16=not args.float16, validate=False,
                                     test_data=args.test_data, optimize=args.optimize,
                                     mhz=args.mhz, max_arena=args.max_arena,
                                     arena_goal=args.arena_goal, winograd=args.winograd,
                                     max_bytes=args.max_bytes, timeout=args.timeout).report)
    except ML4FError:             # the page then shows the weight type asked for alone
        other = None
    return render(_stable(compiled.report), name, other=other).encode()


def _stable(report: dict) -> dict:
    """The report without the run-dependent compile time (keeps NAME.json deterministic)."""
    return {k: v for k, v in report.items() if k != "compile_seconds"}


def _read_input(path: str, elems: int) -> np.ndarray:
    p = Path(path)
    try:
        if p.suffix == ".npy":
            x = np.load(p, allow_pickle=False)
        else:
            data = json.loads(p.read_text())
            if isinstance(data, dict):
                data = data.get("x", data.get("input"))
            x = np.asarray(data, dtype=np.float32)
    except (OSError, ValueError, TypeError) as e:
        raise UsageError(f"cannot read input values: {e}", path=path) from None
    if x.size != elems:
        raise UsageError(f"input has {x.size} values, the model takes {elems}", path=path)
    return x.astype(np.float32).ravel()


def cmd_run(args) -> int:
    from .container import parse_header
    from .emulator import Machine
    from .emulator.timing import CycleCounter

    try:
        obj = Path(args.object).read_bytes()
    except OSError as e:
        raise UsageError(f"cannot read object: {e.strerror}", path=args.object) from None
    header = parse_header(obj, path=args.object)
    x = _read_input(args.input, header.input_elems) if args.input else None
    res = Machine(obj, profile=True, path=args.object).run(x)
    cycles = CycleCounter(obj).count(res.block_counts, res.edge_counts)["total"]
    out = res.output.ravel()
    result = {"output_shape": list(header.output_shape), "output": [float(v) for v in out],
              "cycles": cycles, "ms": round(cycles / (args.mhz * 1e3), 4),
              "instructions": res.instructions, "stack_bytes": res.stack_bytes}
    status = 0
    if x is None:
        expected = np.frombuffer(obj, "<f4", header.output_elems, header.test_output_offset)
        diff = np.abs(out - expected)
        ok = bool(np.all((diff < 2e-5) | (diff / (np.abs(out) + np.abs(expected) + 1e-30) < 2e-5)))
        result["embedded_test"] = "pass" if ok else "FAIL"
        status = 0 if ok else 1
    if args.json:
        print(json.dumps(result))
    else:
        np.set_printoptions(precision=6, suppress=False, linewidth=100)
        print(f"output {list(header.output_shape)}: {np.array2string(out, separator=', ')}")
        print(f"argmax: {int(np.argmax(out))}")
        print(f"estimated {cycles:,} cycles ({result['ms']:.3f} ms at {args.mhz:g} MHz), "
              f"{res.instructions:,} instructions, stack {res.stack_bytes} B")
        if "embedded_test" in result:
            print(f"embedded test vector: {result['embedded_test']}")
    return status


def cmd_eval(args) -> int:
    from .api import compile_file
    from . import evaluate as ev

    def target(float16: bool, validate: bool) -> "ev.Target":
        label = f"compiling ({'float16' if float16 else 'float32'} weights): validating"
        with Progress(label) as bar:
            c = compile_file(args.model, float16=float16, validate=validate,
                             optimize=args.optimize, progress=bar, max_bytes=args.max_bytes,
                             timeout=args.timeout)
        return ev.Target(c.object, c.graph, float16)

    if len(args.data) > 2:
        raise UsageError("--data takes one file (.npz or .json) or two (X.npy Y.npy)")
    if args.object:
        main_target = target(args.float16, False)
        main_target.object, main_target.path = ev.read_object(args.object), args.object
        ev.check_target(main_target, args.model)
    else:
        main_target = target(args.float16, args.validate)
    data = ev.load_dataset(args.data, main_target)
    float32 = target(False, args.validate) if args.float16 else None
    result = ev.evaluate(main_target, data, float32)
    result["model"] = args.model
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(ev.text(result, Path(args.object or args.model).stem))
    return 0


def cmd_serve(args) -> int:
    from .serve import serve
    return serve(args.port)


def cmd_selftest(args) -> int:
    from .selftest import main as selftest
    return selftest()


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        status = {"compile": cmd_compile, "run": cmd_run, "eval": cmd_eval, "serve": cmd_serve,
                  "selftest": cmd_selftest}[args.command](args)
        sys.stdout.flush()
        return status
    except BrokenPipeError:
        # the reader went away (`ml4f compile … | head -1`): stop quietly, as other tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except UsageError as e:
        print(f"ml4f: error: {e}", file=sys.stderr)
        return 2
    except ML4FError as e:
        print(f"ml4f: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("ml4f: interrupted", file=sys.stderr)
        return 130
    except Exception as e:       # a bug in the compiler: still one line, never a traceback
        if os.environ.get("ML4F_DEBUG"):
            raise
        from .context import internal_error_line
        print(f"ml4f: {internal_error_line(e, getattr(args, 'model', None))}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
