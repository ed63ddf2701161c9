"""Where a compile is: the file, the layer and the step, for the one line an internal
error (a bug, not a problem with the input) is reported in.

Each step wraps its work in ``with context.step(...)``: nothing is recorded while all
goes well; an unexpected exception passing through is marked with what the innermost
steps knew (``error.ml4f_where``), so the CLI and the build integrations can say
"FILE: layer 'conv' (Conv2D), generating code: internal error: ...".  ML4F errors pass
unchanged: they name file and layer themselves.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from .errors import ML4FError

_KEYS = ("path", "layer", "layer_class", "stage")


@contextmanager
def step(stage: str | None = None, *, path: str | None = None, layer: str | None = None,
         layer_class: str | None = None) -> Iterator[None]:
    try:
        yield
    except ML4FError:
        raise
    except Exception as error:
        where = getattr(error, "ml4f_where", None)
        if where is None:
            where = {}
            try:
                error.ml4f_where = where
            except AttributeError:              # pragma: no cover (a built-in without __dict__)
                raise error
        for key, value in zip(_KEYS, (path, layer, layer_class, stage)):
            if value is not None:
                where.setdefault(key, value)
        raise


def compiling(path: str):
    """The whole compile of one file."""
    return step(path=str(path))


def op_step(stage: str, op):
    """One op (of a layer) through one step."""
    return step(stage, layer=getattr(op, "name", None), layer_class=getattr(op, "layer_class", None))


def where(error: BaseException) -> str:
    """"FILE: layer 'x' (Conv2D), while STAGE" from what the steps recorded, or ""."""
    w = getattr(error, "ml4f_where", None) or {}
    parts = []
    if w.get("path"):
        parts.append(str(w["path"]))
    detail = []
    if w.get("layer"):
        cls = f" ({w['layer_class']})" if w.get("layer_class") else ""
        detail.append(f"layer '{w['layer']}'{cls}")
    if w.get("stage"):
        detail.append(f"while {w['stage']}")
    if detail:
        parts.append(", ".join(detail))
    return ": ".join(parts)


def internal_error_line(error: BaseException, path: str | None = None) -> str:
    """The one line of an internal error: where, what, and the request to report it."""
    place = where(error) or (str(path) if path else "")
    text = " ".join(str(error).split())
    if len(text) > 200:
        text = text[:197] + "..."
    what = f"{type(error).__name__}: {text}" if text else type(error).__name__
    prefix = f"{place}: " if place else ""
    return f"{prefix}internal error: {what} (please report this with the model file)"
