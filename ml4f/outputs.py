"""The output files of one compile, written all or none.

    outputs = Outputs([dir / "m.bin", dir / "m.h", dir / "m.S", ...])  # every file it owns
    outputs.check()                  # before compiling: can they be written at all?
    try:
        ...compile...
        outputs.commit({dir / "m.bin": data, ...})  # temporaries, then renamed
    except BaseException:
        outputs.discard()            # nothing of this name is left: no stale object to link
        raise

Temporaries are written in the outputs' own directory (a rename never crosses a file
system) and renamed once all are written; the owned files not written this time are
removed (e.g. NAME.c when NAME.S is written).  Directories are made only at commit, so a
failed compile creates nothing.  Problems with the paths are one-line OutputErrors.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import OutputError

TMP_MARK = ".ml4f-tmp-"


def _problem(path: Path, error: OSError) -> OutputError:
    reason = error.strerror or type(error).__name__
    return OutputError(f"cannot write the outputs here: {reason}", path=str(path))


class Outputs:
    def __init__(self, paths) -> None:
        self.paths = [Path(p) for p in paths]
        self._temporaries: list[Path] = []

    @property
    def directories(self) -> list[Path]:
        return sorted({p.parent for p in self.paths}, key=str)

    def check(self) -> None:
        """Each directory exists or can be made, and a file can be written in it."""
        for directory in self.directories:
            existing = directory
            while not existing.exists():
                if existing.is_symlink():
                    raise OutputError("is a dangling symbolic link", path=str(existing))
                if existing.parent == existing:
                    break
                existing = existing.parent
            if not existing.is_dir():
                what = "a file" if existing.is_file() else "not a directory"
                if existing == directory:
                    message = f"the output directory is {what}"
                else:
                    message = f"cannot make the output directory: '{existing}' is {what}"
                raise OutputError(message, path=str(directory))
            try:
                fd, probe = tempfile.mkstemp(prefix=TMP_MARK, dir=existing)
            except OSError as error:
                raise _problem(existing, error) from None
            os.close(fd)
            os.unlink(probe)
        for path in self.paths:
            if path.is_dir():
                raise OutputError("an output file's name is taken by a directory",
                                  path=str(path))

    def commit(self, files: dict) -> None:
        """Write `files` ({path: bytes}, paths among the owned ones) and remove the other
        owned files; on any failure nothing owned is left."""
        files = {Path(p): data for p, data in files.items()}
        unknown = [p for p in files if p not in self.paths]
        if unknown:
            raise ValueError(f"not an owned output: {unknown[0]}")
        try:
            pending = []
            for path, data in files.items():
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    fd, tmp = tempfile.mkstemp(prefix=TMP_MARK + path.name + ".", dir=path.parent)
                except OSError as error:
                    raise _problem(path.parent, error) from None
                self._temporaries.append(Path(tmp))
                try:
                    with os.fdopen(fd, "wb") as handle:
                        handle.write(data)
                    os.chmod(tmp, 0o666 & ~_umask())
                except OSError as error:
                    raise _problem(path.parent, error) from None
                pending.append((Path(tmp), path))
            for tmp, path in pending:
                try:
                    os.replace(tmp, path)
                except OSError as error:
                    raise _problem(path.parent, error) from None
                self._temporaries.remove(tmp)
            for path in self.paths:
                if path not in files:
                    _unlink(path)
        except BaseException:
            self.discard()
            raise

    def discard(self) -> None:
        """Remove every owned file and temporary (what a failed compile must not leave)."""
        for path in self._temporaries + self.paths:
            _unlink(path)
        self._temporaries.clear()


def _unlink(path: Path) -> None:
    try:
        if path.is_symlink() or path.is_file():
            path.unlink()
    except OSError:       # gone already, or cannot be removed: the write that needs it says so
        pass


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
