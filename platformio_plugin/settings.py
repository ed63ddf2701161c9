"""The `custom_ml4f_*` options of a PlatformIO environment.

    custom_ml4f_models    = models/*.h5, models/wake.keras   ; files or globs, relative to the project
    custom_ml4f_float16   = yes        ; float16 weights (half the flash)      [no]
    custom_ml4f_validate  = no         ; skip the emulator check of each layer  [yes]
    custom_ml4f_test_data = yes        ; embed a test vector for ml4f_test()    [no]
    custom_ml4f_optimize  = speed      ; size | balanced | speed                [balanced]

Models are separated by commas or new lines.  Problems are collected as
messages, not raised: the build reports them (see configure.py).
"""
from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field

MODEL_SUFFIXES = (".h5", ".keras")

#: platformio.ini option -> (construction variable of ml4f_scons, kind)
OPTIONS = {
    "custom_ml4f_float16": ("ML4F_FLOAT16", "flag"),
    "custom_ml4f_validate": ("ML4F_VALIDATE", "flag"),
    "custom_ml4f_test_data": ("ML4F_TEST_DATA", "flag"),
    "custom_ml4f_optimize": ("ML4F_OPTIMIZE", ("size", "balanced", "speed")),
}
_TRUE = {"1", "yes", "true", "on", "y"}
_FALSE = {"0", "no", "false", "off", "n"}


@dataclass
class Settings:
    models: list = field(default_factory=list)       # (name, absolute path)
    variables: dict = field(default_factory=dict)    # construction variables
    errors: list = field(default_factory=list)       # one-line messages


def _items(value) -> list:
    if isinstance(value, (list, tuple)):
        value = "\n".join(str(v) for v in value)
    return [item.strip() for line in str(value or "").splitlines() for item in line.split(",")
            if item.strip()]


def models_option(env) -> list:
    return _items(env.GetProjectOption("custom_ml4f_models", ""))


def read(env, project_dir: str) -> Settings:
    s = Settings()
    for pattern in models_option(env):
        found = sorted(glob.glob(os.path.join(project_dir, os.path.expanduser(pattern))))
        found = [p for p in found if os.path.isfile(p)]
        if not found:
            what = "matches no file" if glob.has_magic(pattern) else "does not exist"
            s.errors.append(f"custom_ml4f_models: {pattern} {what}")
        for path in found:
            name = os.path.splitext(os.path.basename(path))[0]
            if any(name == other for other, _ in s.models):
                s.errors.append(f"custom_ml4f_models: two models named '{name}' "
                                f"(the name of the generated {name}.h); rename one file")
                continue
            s.models.append((name, path))
    for option, (variable, kind) in OPTIONS.items():
        raw = env.GetProjectOption(option, None)
        if raw is None:
            continue
        value = str(raw).strip().lower()
        if kind == "flag" and value in _TRUE | _FALSE:
            s.variables[variable] = value in _TRUE
        elif kind != "flag" and value in kind:
            s.variables[variable] = value
        else:
            expected = "yes or no" if kind == "flag" else " | ".join(kind)
            s.errors.append(f"{option} must be {expected}, not {raw!r}")
    return s
