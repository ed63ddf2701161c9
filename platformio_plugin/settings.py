"""The `custom_ml4f_*` options of a PlatformIO environment.

    custom_ml4f_models    = models/*.h5, models/wake.keras   ; files or globs, relative to the project
    custom_ml4f_float16   = yes        ; float16 weights (half the flash)      [no]
    custom_ml4f_validate  = no         ; skip the emulator check of each layer  [yes]
    custom_ml4f_test_data = yes        ; embed a test vector for ml4f_test()    [no]
    custom_ml4f_optimize  = speed      ; size | balanced | speed                [balanced]
    custom_ml4f_max_arena = 96K        ; arena budget: regions streamed to fit  [the board's RAM]
    custom_ml4f_arena_goal = small     ; small | balanced | fast                [balanced]
    custom_ml4f_shared_arena = yes     ; the models share one arena: the RAM check takes the
                                       ; largest arena instead of the sum       [no]

Models are separated by commas or new lines.  Options after a model's path apply to that
model (or to every file its glob matches) only, as `key=value` words:

    custom_ml4f_models =
        models/gesture.h5
        models/wake.keras  float16=yes optimize=size name=wake_word

Keys: float16, validate, test_data, optimize, name (the generated NAME.h).  Problems
are collected as one-line messages, not raised: the build reports them (configure.py).
"""
from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field

MODEL_SUFFIXES = (".h5", ".keras")
PREFIX = "custom_ml4f_"

#: option (platformio.ini key without the prefix, or per-model key) -> (construction variable, kind)
OPTIONS = {
    "float16": ("ML4F_FLOAT16", "flag"),
    "validate": ("ML4F_VALIDATE", "flag"),
    "test_data": ("ML4F_TEST_DATA", "flag"),
    "optimize": ("ML4F_OPTIMIZE", ("size", "balanced", "speed")),
    "max_arena": ("ML4F_MAX_ARENA", "bytes"),
    "arena_goal": ("ML4F_ARENA_GOAL", ("small", "balanced", "fast")),
}
ENV_ONLY = {"models", "shared_arena"}
PER_MODEL_ONLY = {"name"}
KNOWN_KEYS = sorted(PREFIX + k for k in set(OPTIONS) | ENV_ONLY)
_TRUE = {"1", "yes", "true", "on", "y"}
_FALSE = {"0", "no", "false", "off", "n"}


@dataclass
class Model:
    name: str                       # of NAME.h and the C symbols' prefix
    path: str                       # absolute
    overrides: dict = field(default_factory=dict)    # construction variables for this model


@dataclass
class Settings:
    models: list = field(default_factory=list)       # Model
    variables: dict = field(default_factory=dict)    # construction variables of every model
    shared_arena: bool = False
    errors: list = field(default_factory=list)       # one-line messages


def _items(value) -> list:
    if isinstance(value, (list, tuple)):
        value = "\n".join(str(v) for v in value)
    return [item.strip() for line in str(value or "").splitlines() for item in line.split(",")
            if item.strip()]


def models_option(env) -> list:
    return _items(env.GetProjectOption("custom_ml4f_models", ""))


def ml4f_keys(env) -> list:
    """Every custom_ml4f_* key the environment sets (its own, [env]'s and extended sections')."""
    config = env.GetProjectConfig()
    return [o for o in config.options(env=env.subst("$PIOENV")) if o.startswith(PREFIX)]


def unknown_keys(env) -> list:
    unknown = [key for key in ml4f_keys(env) if key not in KNOWN_KEYS]
    if not unknown:
        return []
    return [f"unknown option{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} "
            f"(known: {', '.join(KNOWN_KEYS)})"]


def _value(key: str, raw: str, errors: list, where: str):
    variable, kind = OPTIONS[key]
    value = str(raw).strip().lower()
    if kind == "flag" and value in _TRUE | _FALSE:
        return value in _TRUE
    if kind == "bytes":
        size = _byte_count(value)
        if size is not None:
            return size
    elif kind != "flag" and value in kind:
        return value
    expected = {"flag": "yes or no", "bytes": "a number of bytes (e.g. 96000, 96K, 0x18000)"}.get(
        kind) if isinstance(kind, str) else " | ".join(kind)
    errors.append(f"{where} must be {expected}, not {raw!r}")
    return None


def _byte_count(text: str) -> int | None:
    t = text.strip().upper().rstrip("B")
    scale = 1
    if t.endswith(("K", "M")):
        scale, t = (1024 if t[-1] == "K" else 1024 * 1024), t[:-1]
    try:
        value = int(t, 0) * scale
    except ValueError:
        return None
    return value if value > 0 else None


def _per_model(words: list, item: str, errors: list) -> tuple:
    """`key=value` words after a model's path -> (name or None, construction variables)."""
    name, overrides = None, {}
    known = sorted(set(OPTIONS) | PER_MODEL_ONLY)
    for word in words:
        key, sep, raw = word.partition("=")
        if not sep or key not in known:
            errors.append(f"custom_ml4f_models: {item}: unknown per-model option {word!r} "
                          f"(known: {', '.join(k + '=' for k in known)})")
        elif key == "name":
            name = raw
        else:
            value = _value(key, raw, errors, f"custom_ml4f_models: {item}: {key}")
            if value is not None:
                overrides[OPTIONS[key][0]] = value
    return name, overrides


def model_name(stem: str) -> str:
    """The generated files' and C symbols' name: the compiler's rule (`8x8` -> `m_8x8`)."""
    try:
        from ml4f.firmware import c_identifier
    except ImportError:         # the build step then reports the missing compiler
        return stem
    return c_identifier(stem)


def read(env, project_dir: str) -> Settings:
    s = Settings(errors=unknown_keys(env))
    for item in models_option(env):
        pattern, *words = item.split()
        name, overrides = _per_model(words, item, s.errors)
        found = sorted(glob.glob(os.path.join(project_dir, os.path.expanduser(pattern))))
        found = [p for p in found if os.path.isfile(p)]
        if not found:
            what = "matches no file" if glob.has_magic(pattern) else "does not exist"
            s.errors.append(f"custom_ml4f_models: {pattern} {what}")
        if name and len(found) > 1:
            s.errors.append(f"custom_ml4f_models: {item}: name={name} given to {len(found)} files")
        for path in found:
            model = Model(model_name(name or os.path.splitext(os.path.basename(path))[0]), path,
                          overrides)
            if any(model.name == other.name for other in s.models):
                s.errors.append(f"custom_ml4f_models: two models named '{model.name}' "
                                f"(the name of the generated {model.name}.h); rename one file or "
                                "give one a name=")
                continue
            s.models.append(model)
    for key in OPTIONS:
        raw = env.GetProjectOption(PREFIX + key, None)
        if raw is not None:
            value = _value(key, raw, s.errors, PREFIX + key)
            if value is not None:
                s.variables[OPTIONS[key][0]] = value
    shared = env.GetProjectOption(PREFIX + "shared_arena", None)
    if shared is not None:
        value = str(shared).strip().lower()
        if value in _TRUE | _FALSE:
            s.shared_arena = value in _TRUE
        else:
            s.errors.append(f"{PREFIX}shared_arena must be yes or no, not {shared!r}")
    return s
