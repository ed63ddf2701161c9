"""Writing local PlatformIO packages and choosing the versions they declare.

PlatformIO accepts an installed package when its `.piopm` names owner
"platformio", the package's name and a version inside the requirement of the
platform that uses it.  A package written here therefore declares the version
that requirement asks for, and its description says what it really is.
"""
from __future__ import annotations

import json
import os
import re
import shutil

OWNER = "platformio"


def declared_version(spec: str) -> str | None:
    """The lowest version named in a requirement that satisfies it: '~1.120301.0' -> '1.120301.0',
    '>=1.60301.0,<1.80000.0' -> '1.60301.0'; None for '*' and other open requirements."""
    import semantic_version
    try:
        requirement = semantic_version.SimpleSpec(spec)
    except ValueError:
        return None
    for text in re.findall(r"\d+\.\d+\.\d+", spec):
        if semantic_version.Version(text) in requirement:
            return text
    return None


def requirement_specs(platform_manifest: dict, package: str) -> list:
    """Every requirement a platform may place on a package: its default and its optional versions
    (platform.py picks among these per board and framework)."""
    entry = platform_manifest.get("packages", {}).get(package)
    if not entry:
        return []
    specs = [entry.get("version", "*")] + list(entry.get("optionalVersions", []))
    return [s for s in specs if isinstance(s, str)]


def versions_asked(platform_manifests: list, package: str) -> dict:
    """{declared version: "platform spec, ..."} over all platforms."""
    asked = {}
    for manifest in platform_manifests:
        for spec in requirement_specs(manifest, package):
            version = declared_version(spec)
            if version:
                asked.setdefault(version, []).append(f"{manifest['name']} {spec}")
    return {v: ", ".join(who) for v, who in sorted(asked.items())}


def metadata(kind: str, name: str, version: str) -> dict:
    # what PlatformIO trusts: without owner "platformio" the package is ignored
    return {"type": kind, "name": name, "version": version,
            "spec": {"owner": OWNER, "id": None, "name": name, "requirements": None, "uri": None}}


def package_dir(core_dir: str, name: str, version: str, kind: str = "tool") -> str:
    parent = os.path.join(core_dir, "platforms" if kind == "platform" else "packages")
    return os.path.join(parent, name if kind == "platform" else f"{name}@{version}")


def install_dir(dest: str, kind: str, name: str, version: str, source: str | None = None,
                manifest: dict | None = None) -> str:
    """Put a package at dest: a copy of `source` (or an empty folder), its package.json (when
    given) and the .piopm PlatformIO requires.  A previous copy is replaced whole."""
    tmp = dest + ".partial"
    for stale in (tmp, dest):
        if os.path.islink(stale) or os.path.isfile(stale):
            os.remove(stale)
        elif os.path.isdir(stale):
            shutil.rmtree(stale)
    if source:
        shutil.copytree(source, tmp, symlinks=True)
    else:
        os.makedirs(tmp)
    if manifest is not None:
        with open(os.path.join(tmp, "package.json"), "w") as fh:
            json.dump(manifest, fh, indent=2)
            fh.write("\n")
    with open(os.path.join(tmp, ".piopm"), "w") as fh:
        json.dump(metadata(kind, name, version), fh)
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    os.rename(tmp, dest)
    return dest
