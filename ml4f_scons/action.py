"""The builder's action: compile one model through ``ml4f.api`` and write NAME.bin, NAME.h, NAME.S.

Everything the output depends on besides the model file is a construction
variable listed in SIGNATURE_VARS; the builder puts them into the action's
signature (``varlist``), so SCons rebuilds exactly when the model's content,
an option or the compiler version changes.
"""
from __future__ import annotations

import os
import sys
import threading

import SCons.Errors

# Models compile one at a time.  The compiler is CPU-bound Python, so threads
# of `scons -j` would gain nothing, and a single compile at a time keeps the
# compiler free of any need to be thread-safe.  C files still build in parallel.
_COMPILE_LOCK = threading.Lock()

OPTION_VARS = ("ML4F_FLOAT16", "ML4F_VALIDATE", "ML4F_TEST_DATA", "ML4F_OPTIMIZE", "ML4F_MHZ",
               "ML4F_MAX_ARENA", "ML4F_ARENA_GOAL")
LIMIT_VARS = ("ML4F_MAX_RAM", "ML4F_MAX_FLASH", "ML4F_BOARD")
SIGNATURE_VARS = OPTION_VARS + LIMIT_VARS + ("ML4F_VERSION", "ML4F_COMPILER_DIGEST")
OUTPUT_SUFFIXES = (".bin", ".h", ".S")

_TRUE = {"1", "yes", "true", "on", "y"}
_FALSE = {"0", "no", "false", "off", "n", "", "none"}


class OptionError(ValueError):
    """A construction variable has a value the builder cannot use."""


def flag(env, var: str) -> bool:
    value = env.get(var)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise OptionError(f"{var} must be yes or no, not {value!r}")
    return bool(value)


def number(env, var: str, kind=int):
    value = env.get(var) or 0
    if isinstance(value, str):
        value = value.strip().rstrip("Ll")
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise OptionError(f"{var} must be a number, not {env.get(var)!r}") from None


def compile_options(env) -> dict:
    """Keyword arguments of ``ml4f.compile_file`` from the construction variables."""
    return {
        "float16": flag(env, "ML4F_FLOAT16"),
        "validate": flag(env, "ML4F_VALIDATE"),
        "test_data": flag(env, "ML4F_TEST_DATA"),
        "optimize": str(env.get("ML4F_OPTIMIZE") or "balanced").strip(),
        "mhz": number(env, "ML4F_MHZ", float),
        "max_arena": number(env, "ML4F_MAX_ARENA") or None,
        "arena_goal": str(env.get("ML4F_ARENA_GOAL") or "balanced").strip(),
    }


def cli_flags(env) -> str:
    """The options as `ml4f compile` flags, for the build line ($ML4FCOM)."""
    try:
        opts = compile_options(env)
    except OptionError:
        return " <invalid options>"
    flags = []
    if opts["float16"]:
        flags.append("--float16")
    if not opts["validate"]:
        flags.append("--no-validate")
    if opts["test_data"]:
        flags.append("--test-data")
    if opts["optimize"] != "balanced":
        flags.append(f"--optimize {opts['optimize']}")
    if opts["mhz"] != 64.0:
        flags.append(f"--mhz {opts['mhz']:g}")
    if opts["max_arena"]:
        flags.append(f"--max-arena {opts['max_arena']}")
    if opts["arena_goal"] != "balanced":
        flags.append(f"--arena-goal {opts['arena_goal']}")
    return "".join(" " + f for f in flags)


def show(target, source, env) -> str:
    """The build line: $ML4FCOMSTR, or the equivalent `ml4f compile` command when it is empty."""
    text = env.subst("$ML4FCOMSTR", target=target, source=source)
    return text or env.subst("$ML4FCOM", target=target, source=source)


def display_path(node) -> str:
    try:
        return os.path.relpath(node.get_abspath())
    except ValueError:          # another drive on Windows
        return node.get_abspath()


def build(target, source, env):
    bin_node, header_node, asm_node = target[:3]
    model = display_path(source[0])
    outputs = None
    try:
        from ml4f.firmware import asm_file, c_identifier, header_file
        from ml4f.html_report import render
        from ml4f.outputs import Outputs
        name = c_identifier(os.path.splitext(bin_node.name)[0])
        html = os.path.splitext(bin_node.get_abspath())[0] + ".html"
        outputs = Outputs([node.get_abspath() for node in target] + [html])
        outputs.check()
        with _COMPILE_LOCK:
            compiled = _compile(model, env)
        _check_fits(env, model, compiled.header.arena_bytes, len(compiled.object))
        stable = {k: v for k, v in compiled.report.items() if k != "compile_seconds"}
        outputs.commit({
            bin_node.get_abspath(): compiled.object,
            header_node.get_abspath(): header_file(name, compiled.header, compiled.report,
                                                   compiled.content_hash).encode(),
            asm_node.get_abspath(): asm_file(name, bin_node.name, compiled.content_hash).encode(),
            html: render(stable, name).encode(),       # `scons -c` removes it with NAME.bin
        })
    except BaseException as e:  # every failure ends as one line naming the model; no traceback
        if outputs is not None:
            outputs.discard()               # nothing stale can be linked
        else:
            _remove(target)
        if os.environ.get("ML4F_DEBUG") or not isinstance(e, Exception):
            raise
        raise SCons.Errors.BuildError(node=bin_node, errstr=_message(e, model, env), status=1,
                                      exitstatus=2) from None
    if not _silent():
        print(summary_line(name, model, compiled.report), flush=True)
        print(f"ML4F {name} report: {os.path.relpath(html)}", flush=True)
    return 0


def _compile(model: str, env):
    if env.get("ML4F_VERSION") in (None, "", "unavailable"):
        raise ImportError("No module named 'ml4f'")
    from ml4f.api import compile_file

    def budget(arena_bytes: int, object_bytes: int) -> None:
        _check_fits(env, model, arena_bytes, object_bytes)     # before the (slow) validation
    return compile_file(model, check_budget=budget, **compile_options(env))


def _message(error: Exception, model: str, env) -> str:
    if _is_compiler_error(error) or isinstance(error, OptionError):
        text = str(error)
        return text if text.startswith(model) else f"{model}: {text}"
    if isinstance(error, ImportError):
        hint = env.subst("$ML4F_INSTALL_HINT") or f"{sys.executable} -m pip install ml4f"
        return (f"{model}: the ml4f compiler is not importable by {sys.executable} ({error}); "
                f"install it with: {hint}")
    if isinstance(error, OSError):
        return f"{model}: {error.strerror or error}: {error.filename or ''}".rstrip(": ")
    try:
        from ml4f.context import internal_error_line
    except ImportError:
        return (f"{model}: internal error in ml4f: {type(error).__name__}: {error} "
                "(please report this with the model file)")
    line = internal_error_line(error)
    return line if line.startswith(model) else f"{model}: {line}"


def _is_compiler_error(error: Exception) -> bool:
    try:
        from ml4f.errors import ML4FError
    except ImportError:
        return False
    return isinstance(error, ML4FError)


def _check_fits(env, model: str, arena: int, size: int) -> None:
    board = env.get("ML4F_BOARD") or "the target"
    ram = number(env, "ML4F_MAX_RAM")
    flash = number(env, "ML4F_MAX_FLASH")
    if ram and arena > ram:
        raise OptionError(f"{model}: the model's arena ({arena:,} B) does not fit the RAM of "
                          f"{board} ({ram:,} B)")
    if flash and size > flash:
        raise OptionError(f"{model}: the model's object ({size:,} B) does not fit the flash of "
                          f"{board} ({flash:,} B)")


def summary_line(name: str, model: str, report: dict) -> str:
    t = report["totals"]
    weights = "float16" if report["options"]["float16"] else "float32"
    return (f"ML4F {name} ({model}): flash {t['file_bytes']:,} B, "
            f"arena {report['arena']['arena_bytes']:,} B, {t['cycles']:,} cycles "
            f"= {t['ms_at_mhz']:.3f} ms at {t['mhz']:g} MHz ({weights} weights)")


def _remove(targets) -> None:
    """A failed model leaves none of its outputs behind, so nothing stale can be linked."""
    for node in targets:
        path = node.get_abspath()
        html = os.path.splitext(path)[0] + ".html"
        for p in (path, f"{path}.tmp{os.getpid()}", html):
            if os.path.exists(p):
                os.remove(p)


def _silent() -> bool:
    try:
        from SCons.Script import GetOption
        return bool(GetOption("silent"))
    except Exception:           # not running under the scons command (e.g. env.Execute from Python)
        return False
