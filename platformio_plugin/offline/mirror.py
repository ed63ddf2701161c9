"""Platform and framework archives downloaded elsewhere, installed as the packages they stand for.

A mirror directory holds archives (.tar.gz, .tgz, .tar, .zip) or unpacked
folders, each one package: a folder with `platform.json` is a development
platform (installed under the name and version it declares); any other is the
package its archive is named after (`framework-cmsis.tar.gz` ->
`framework-cmsis`), installed once for every version the platforms ask for.
"""
from __future__ import annotations

import json
import os
import re
import tarfile
import zipfile
from dataclasses import dataclass

from .packages import install_dir, package_dir, versions_asked

ARCHIVE = re.compile(r"^(?P<name>.+?)(?:\.tar\.gz|\.tgz|\.tar|\.zip)$")


@dataclass
class Unpacked:
    name: str          # the package it stands for
    path: str          # its root folder
    manifest: dict     # platform.json of a platform, package.json (or {}) of a package

    @property
    def is_platform(self) -> bool:
        return "packages" in self.manifest and os.path.isfile(os.path.join(self.path, "platform.json"))


def unpack_all(mirror: str, work: str) -> list:
    """Every archive and folder of the mirror, unpacked below `work`."""
    found = []
    for entry in sorted(os.listdir(mirror)):
        path = os.path.join(mirror, entry)
        match = ARCHIVE.match(entry)
        if os.path.isdir(path):
            root, name = path, entry
        elif match:
            name = match["name"]
            try:
                root = _unpack(path, os.path.join(work, name))
            except (tarfile.TarError, zipfile.BadZipFile, EOFError):
                raise RuntimeError(f"{path}: not a readable {'zip' if entry.endswith('.zip') else 'tar'} "
                                   "archive") from None
        else:
            continue
        found.append(Unpacked(name, root, _manifest(root)))
    return found


def _unpack(archive: str, dest: str) -> str:
    os.makedirs(dest)
    if archive.endswith(".zip"):
        with zipfile.ZipFile(archive) as z:
            z.extractall(dest)
    else:
        with tarfile.open(archive) as t:
            if hasattr(tarfile, "data_filter"):
                t.extractall(dest, filter="data")     # no absolute paths, links out of dest, devices
            else:
                t.extractall(dest)
    entries = os.listdir(dest)
    # an archive of one folder (the usual form): that folder is the package
    return os.path.join(dest, entries[0]) if len(entries) == 1 and \
        os.path.isdir(os.path.join(dest, entries[0])) else dest


def _manifest(root: str) -> dict:
    for name in ("platform.json", "package.json", "library.json"):
        try:
            with open(os.path.join(root, name)) as fh:
                return json.load(fh)
        except (OSError, ValueError):
            continue
    return {}


def install_platform(core_dir: str, item: Unpacked) -> str:
    m = item.manifest
    return install_dir(package_dir(core_dir, m["name"], m["version"], "platform"), "platform",
                       m["name"], m["version"], source=item.path)


def install_package(core_dir: str, item: Unpacked, platforms: list) -> list:
    """The package once per version the platforms ask for (else under its own version)."""
    own = str(item.manifest.get("version") or "0.0.0")
    asked = versions_asked(platforms, item.name) or {own: ""}
    origin = item.manifest.get("description") or item.name
    release = _release(item.path) or own
    written = []
    for version, who in asked.items():
        manifest = dict(item.manifest, name=item.name, version=version,
                        description=f"{origin} (release {release}"
                                    + (f", declared as {version} because {who} asks for it)" if who else ")"))
        written.append(install_dir(package_dir(core_dir, item.name, version), "tool", item.name,
                                   version, source=item.path, manifest=manifest))
    return written


def _release(root: str) -> str | None:
    """The release an Arduino core says it is (platform.txt `version=`)."""
    try:
        with open(os.path.join(root, "platform.txt"), encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("version="):
                    return line.split("=", 1)[1].strip()
    except OSError:
        pass
    return None
