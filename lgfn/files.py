"""Files that survive a crash: atomic replacement, JSON Lines pushed to the disk, and what a resumed
job compares with the job it continues.

Every file the project writes under a final name goes through :func:`atomic_write`: the content is
written beside the target under a temporary name, pushed to the disk and renamed into place, so a
reader (or a resumed run) sees the old file or the complete new one, never half of it.
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

#: ``errno`` values of a full disk: no space left, or the user's quota spent.
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> None:
    """Let ``write`` fill a temporary file beside ``path``, then rename it to ``path``.

    Args:
        path: the final name; its folder is created when missing.
        write: writes the complete content to the path it is given (which keeps ``path``'s suffix,
            so writers that choose the format by the suffix work).

    On any failure the temporary file is removed and an existing ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    temporary = Path(name)
    try:
        write(temporary)
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        apply_umask(temporary, 0o666)  # mkstemp made it private (0600)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def apply_umask(path: str | os.PathLike, mode: int) -> None:
    """Give ``path`` the permissions ``mode`` limited by the process umask, as ``open``/``mkdir`` would."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, mode & ~umask)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Replace ``path``'s content with ``text`` atomically (see :func:`atomic_write`)."""
    atomic_write(path, lambda temporary: temporary.write_text(text))


def append_jsonl(path: str | os.PathLike, record: Any) -> None:
    """Append one JSON line to ``path`` and push it to the disk: a crash loses at most that line."""
    with open(path, "a") as handle:
        handle.write(json.dumps(record) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def write_jsonl(path: str | os.PathLike, records: Iterable[Any]) -> None:
    """Replace ``path`` with one JSON line per record, atomically."""
    atomic_write_text(path, "".join(json.dumps(record) + "\n" for record in records))


def file_identity(path: str | os.PathLike) -> dict:
    """A file's absolute path, size and modification time (JSON values): what tells a resumed run that
    its checkpoint or input is still the file an interrupted run used."""
    path = Path(path)
    try:
        status = path.stat()
    except OSError:
        return {"path": str(path.resolve())}
    return {"path": str(path.resolve()), "bytes": status.st_size, "mtime_ns": status.st_mtime_ns}


def settings_changes(before: Mapping[str, Any], now: Mapping[str, Any]) -> str:
    """The settings that differ between an interrupted run and its resumption, for an error message:
    ``"precision: 'fp32' then, 'bf16' now; ..."``; empty when they are the same."""
    changed = sorted(key for key in before.keys() | now.keys() if before.get(key) != now.get(key))
    return "; ".join(f"{key}: {before.get(key)!r} then, {now.get(key)!r} now" for key in changed)


def lies_within(path: str | os.PathLike, folder: str | os.PathLike) -> bool:
    """Whether ``path`` is ``folder`` or lies inside it, links resolved (an output that would land in
    an input, or an input that lies where an output tree is written)."""
    path, folder = Path(path).resolve(), Path(folder).resolve()
    return path == folder or folder in path.parents
