"""Registers the models of a PlatformIO environment with the ml4f_scons Tool.

Called by extra_script.py with the library builder's environment.  The
generated NAME.bin/.h/.S live in $BUILD_DIR/ml4f (so `pio run -t clean`
removes them); that directory goes on the library's CPPPATH, which PlatformIO
hands on to the project's sources, so `#include "NAME.h"` works from src/ and
test/.  The assembled objects join PIOBUILDFILES and are linked into the
firmware.
"""
from __future__ import annotations

import os

import ml4f_scons
import SCons.Action
import SCons.Errors
from SCons.Script import ARGUMENTS, DefaultEnvironment

from . import settings as _settings
from .compiler import ensure_compiler

GENERATED_DIR = os.path.join("$BUILD_DIR", "ml4f")


def configure(env, library_dir: str) -> None:
    if not _settings.models_option(env) and not _settings.ml4f_keys(env):
        return                          # this environment compiles no models
    generated = env.Dir(GENERATED_DIR).get_abspath()
    env.AppendUnique(CPPPATH=[generated])
    default = DefaultEnvironment()
    if default.get("ML4F_OBJECTS") is not None:
        return                          # already set up by another builder of this library
    ensure_compiler(env, library_dir)
    ml4f_scons.generate(env)
    found = _settings.read(env, env.subst("$PROJECT_DIR"))
    if not found.models and not found.errors:
        found.errors.append("custom_ml4f_* options are set but custom_ml4f_models is not: "
                            "no model would be compiled")
    env.Replace(**board_variables(env), **found.variables)
    if not int(ARGUMENTS.get("PIOVERBOSE", 0)):
        env.Replace(ML4FCOMSTR="Compiling model $ML4F_MODEL")
    objects = [configuration_error(env, found.errors)] if found.errors else []
    bins, model_objects = [], []
    for model in found.models:
        target = os.path.join(generated, model.name)
        model_objects += env.ML4FObject(target, model.path, **model.overrides)
        bins.append(env.File(target + ".bin"))
    if model_objects:
        together = env.ML4FFitCheck(os.path.join(generated, "all-models.txt"), bins,
                                    shared_arena=found.shared_arena)
        env.Depends(model_objects, together)    # nothing links before all models fit together
    objects += model_objects
    default["ML4F_OBJECTS"] = objects
    default.Append(PIOBUILDFILES=objects)


def board_variables(env) -> dict:
    """Clock and memory of the board, for the printed estimate and the fit check."""
    if not env.get("BOARD"):
        return {}
    board = env.BoardConfig()
    f_cpu = (env.subst("$BOARD_F_CPU") or str(board.get("build.f_cpu", ""))).rstrip("Ll")
    ram = int(board.get("upload.maximum_ram_size", 0) or 0)
    variables = {
        "ML4F_BOARD": env.subst("$BOARD"),
        "ML4F_MAX_RAM": ram,
        "ML4F_MAX_FLASH": int(board.get("upload.maximum_size", 0) or 0),
        "ML4F_MAX_ARENA": ram,          # the default budget: stream regions until it fits
    }
    if f_cpu.isdigit() and int(f_cpu) > 0:
        variables["ML4F_MHZ"] = int(f_cpu) / 1e6
    return variables


def _fail(target, source, env):
    raise SCons.Errors.BuildError(node=target[0], errstr=source[0].read(), status=1, exitstatus=2)


def configuration_error(env, problems: list):
    """A build step that fails with the problems found in platformio.ini: wrong options stop
    `pio run` with one clear line when the build starts (an extra script must not exit, and
    IDE passes must not fail)."""
    message = f"platformio.ini [env:{env.subst('$PIOENV')}]: " + "; ".join(problems)
    return env.Command(os.path.join(GENERATED_DIR, "platformio.ini-error"), env.Value(message),
                       SCons.Action.Action(_fail, "Checking custom_ml4f_* options"))[0]
