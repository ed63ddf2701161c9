"""The Tool: ``generate(env)`` adds the ``ML4F`` builder and the ``ML4FObject`` method.

    env.ML4F("build/gesture", "models/gesture.h5", ML4F_FLOAT16=True)
        -> [build/gesture.bin, build/gesture.h, build/gesture.S]
    env.ML4FObject("build/gesture", "models/gesture.h5")
        -> the object assembled from gesture.S, ready to link; build/ on CPPPATH

Construction variables (defaults in brackets):

    ML4F_FLOAT16 [no]  ML4F_VALIDATE [yes]  ML4F_TEST_DATA [no]  ML4F_OPTIMIZE [balanced]
    ML4F_MHZ [64]      clock of the printed time estimate
    ML4F_MAX_ARENA [0 = none]  arena budget in bytes: regions are streamed to fit
    ML4F_ARENA_GOAL [balanced] small | balanced | fast (see ml4f compile --arena-goal)
    ML4F_MAX_RAM, ML4F_MAX_FLASH [0 = unchecked], ML4F_BOARD: fail when a model does not fit
    ML4FCOM            the equivalent `ml4f compile` command, shown while building
    ML4FCOMSTR         shown instead of ML4FCOM when not empty
    ML4F_MODEL         (in ML4FCOM/ML4FCOMSTR) the model's path relative to the working directory
    ML4F_VERSION       the compiler's version (set here; part of every signature)
    ML4F_COMPILER_DIGEST  a hash of the compiler's own files (set here; part of every signature)

    env.ML4FFitCheck(bin_nodes, shared_arena=False)
        -> a step that fails when all models together do not fit ML4F_MAX_RAM / ML4F_MAX_FLASH
"""
from __future__ import annotations

import importlib.util
import os

import SCons.Action
import SCons.Builder
import SCons.Node.FS

from . import action as _action
from . import fit as _fit
from .signature import compiler_digest

DEFAULTS = {
    "ML4F_FLOAT16": False,
    "ML4F_VALIDATE": True,
    "ML4F_TEST_DATA": False,
    "ML4F_OPTIMIZE": "balanced",
    "ML4F_MHZ": 64,
    "ML4F_MAX_ARENA": 0,
    "ML4F_ARENA_GOAL": "balanced",
    "ML4F_MAX_RAM": 0,
    "ML4F_MAX_FLASH": 0,
    "ML4F_BOARD": "",
    "ML4F_INSTALL_HINT": "",
    "ML4FCOM": "ml4f compile $ML4F_MODEL -o ${TARGET.dir} -b ${TARGET.filebase}${_ML4F_CLI_FLAGS(__env__)}",
    "ML4FCOMSTR": "",
}


def emit_outputs(target, source, env):
    """NAME -> NAME.bin, NAME.h, NAME.S in the target's directory (NAME may carry one of
    those suffixes)."""
    base = target[0]
    stem, ext = os.path.splitext(base.name)
    name = stem if ext in _action.OUTPUT_SUFFIXES else base.name
    env.Clean(base.dir.File(name + ".bin"), base.dir.File(name + ".html"))   # the report page
    return [base.dir.File(name + suffix) for suffix in _action.OUTPUT_SUFFIXES], source


ML4F_ACTION = SCons.Action.Action(_action.build, strfunction=_action.show,
                                  varlist=list(_action.SIGNATURE_VARS))

ML4F_BUILDER = SCons.Builder.Builder(
    action=ML4F_ACTION,
    emitter=emit_outputs,
    suffix=".bin",
    src_suffix=[".h5", ".keras"],
    single_source=True,
    target_factory=SCons.Node.FS.File,
    source_factory=SCons.Node.FS.File,
)


def ml4f_object(env, target, source, **overrides):
    """Compile a model and assemble its NAME.S: returns the object nodes to link.

    Puts the output directory on CPPPATH (C files include NAME.h; the assembler
    finds the .incbin'd NAME.bin there) and makes the object depend on NAME.bin,
    which no scanner sees behind `.incbin`."""
    bin_node, header, asm = env.ML4F(target, source, **overrides)
    env.AppendUnique(CPPPATH=[header.dir.get_abspath()])
    objects = env.Object(asm)
    env.Depends(objects, bin_node)
    return objects


def compiler_version() -> str:
    try:
        import ml4f
    except ImportError:
        return "unavailable"
    return ml4f.__version__


def _model_path(target, source, env, for_signature):
    return _action.display_path(source[0]) if source else ""


def generate(env):
    env.SetDefault(**DEFAULTS)
    env["_ML4F_CLI_FLAGS"] = _action.cli_flags
    env["ML4F_MODEL"] = _model_path
    env["ML4F_VERSION"] = compiler_version()
    env["ML4F_COMPILER_DIGEST"] = compiler_digest()
    env["BUILDERS"]["ML4F"] = ML4F_BUILDER
    env.AddMethod(ml4f_object, "ML4FObject")
    env.AddMethod(_fit.fit_check, "ML4FFitCheck")


def exists(env):
    return importlib.util.find_spec("ml4f") is not None
