"""Writing a `ChangeSet` into a directory (tests, and the git worker's checkout).

Everything is checked before anything is written: every path must stay inside the directory
(no absolute paths, no `..`, no symlink anywhere on the way), files to create must not exist,
and files to modify or delete must still have the content the change set was computed from.
Writes go through a temporary file and `os.replace`, so a crash never leaves half a file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from .errors import ConflictError, UnsafePathError
from .layout import safe_path
from .model import ChangeSet, FileAction, FileChange, sha256_text


def _no_symlinks(root: Path, rel: str) -> Path:
    """The target path, after checking no existing component of it is a symlink."""
    target = safe_path(root, rel)
    current = Path(os.path.realpath(root))
    for part in rel.split("/"):
        current = current / part
        if current.is_symlink():
            raise UnsafePathError(f"{rel}: {current.relative_to(root)} is a symlink")
        if not current.exists():
            break
    return target


def _check(root: Path, change: FileChange) -> Path:
    target = _no_symlinks(root, change.path)
    if change.action is FileAction.CREATE:
        if os.path.lexists(target):
            raise ConflictError(f"{change.path} already exists")
        return target
    if not target.is_file():
        raise ConflictError(f"{change.path} is missing or not a regular file")
    with open(target, encoding="utf-8", newline="") as handle:
        current = handle.read()
    if sha256_text(current) != change.base_sha256:
        raise ConflictError(f"{change.path} changed since the change set was computed")
    return target


def _write(target: Path, content: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".portal-", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.write(content)
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def _prune(root: Path, directory: Path) -> None:
    """Removes directories left empty by a deletion, up to (not including) the root."""
    real_root = Path(os.path.realpath(root))
    while directory != real_root and real_root in directory.parents:
        try:
            directory.rmdir()
        except OSError:
            return  # not empty
        directory = directory.parent


def apply_changeset(root: str | os.PathLike[str], changeset: ChangeSet) -> None:
    """Applies `changeset` to the checkout at `root`, or raises before writing anything."""
    base = Path(os.path.realpath(root))
    targets = [(change, _check(base, change)) for change in changeset.files]
    for change, target in targets:
        if change.action is FileAction.DELETE:
            target.unlink()
            _prune(base, target.parent)
        elif change.content is not None:  # always true for create/modify (FileChange checks)
            _write(target, change.content)
