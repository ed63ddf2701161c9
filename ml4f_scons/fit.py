"""All models of a firmware together against the board's RAM and flash.

Each model is checked alone while it compiles (before validation); this step runs
once all are compiled and reads their sizes from the NAME.bin headers (word 7:
arena bytes; the file size: flash).  Models that each have their own arena need
the sum of the arenas; models run one after another can share one arena (a union
of their NAME_arena_t) and need only the largest -- `shared_arena=True`.
"""
from __future__ import annotations

import os
import struct

import SCons.Action
import SCons.Errors

ARENA_WORD = 7


def sizes(bin_path: str) -> tuple:
    """(arena bytes, flash bytes) of a compiled ML4F object file."""
    with open(bin_path, "rb") as fh:
        data = fh.read()
    return struct.unpack_from("<I", data, 4 * ARENA_WORD)[0], len(data)


def _names(items) -> str:
    return " + ".join(f"{name} ({value:,} B)" for name, value in items)


def total_problems(models: list, ram: int, flash: int, board: str, shared: bool) -> list:
    """models: [(name, arena, flash)] -> one-line messages."""
    problems = []
    if len(models) < 2:
        return problems
    arenas = [(n, a) for n, a, _ in models]
    if ram:
        need = max(a for _, a in arenas) if shared else sum(a for _, a in arenas)
        if need > ram:
            what = "the largest arena" if shared else "the arenas"
            hint = "" if shared or max(a for _, a in arenas) > ram else \
                "; models run one after another can share one arena (see custom_ml4f_shared_arena)"
            problems.append(f"{what} of all models, {_names(arenas)} = {need:,} B, do not fit "
                            f"the RAM of {board} ({ram:,} B){hint}")
    total = sum(f for _, _, f in models)
    if flash and total > flash:
        problems.append(f"the objects of all models, {_names((n, f) for n, _, f in models)} = "
                        f"{total:,} B, do not fit the flash of {board} ({flash:,} B)")
    return problems


def _check(target, source, env):
    models = [(os.path.splitext(s.name)[0], *sizes(s.get_abspath())) for s in source]
    from .action import number
    problems = total_problems(models, number(env, "ML4F_MAX_RAM"), number(env, "ML4F_MAX_FLASH"),
                              env.get("ML4F_BOARD") or "the target", bool(env.get("ML4F_SHARED_ARENA")))
    if problems:
        raise SCons.Errors.BuildError(node=target[0], errstr="; ".join(problems), status=1,
                                      exitstatus=2)
    with open(target[0].get_abspath(), "w") as fh:
        fh.write("".join(f"{n}: arena {a} B, flash {f} B\n" for n, a, f in models))
    return 0


def fit_check(env, target, bin_nodes, shared_arena: bool = False):
    """A step writing `target` (a list of the sizes) that fails when the models do not fit
    together; make the objects depend on it so nothing links before it passed."""
    return env.Command(target, bin_nodes, SCons.Action.Action(
        _check, "Checking that all models fit together",
        varlist=["ML4F_MAX_RAM", "ML4F_MAX_FLASH", "ML4F_BOARD", "ML4F_SHARED_ARENA"]),
        ML4F_SHARED_ARENA=shared_arena)[0]
