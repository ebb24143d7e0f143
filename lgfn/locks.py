"""Which process owns a folder: a lock file holding the owner's process id.

A folder that a job writes for a long time (``lgfn upscale``'s work folder, a training run's folder)
is taken with :func:`take_lock` before anything is written in it and given back with
:func:`release_lock` on every way out. The owner also holds an exclusive ``flock`` on the file
(where the system has them), which the kernel takes back when the process ends however it ends:
two jobs starting at the same moment cannot both take the folder, and a lock left by a process that
no longer runs (killed, or the machine restarted), or one that cannot be read, is taken over, so a
dead job never blocks a folder for ever.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: the process id alone
    fcntl = None

#: The lock file's name in a locked folder.
LOCK_FILE = "lock"

#: The open lock files of this process (resolved path -> descriptor holding the flock); a forked child
#: inherits the parent's entries, which are not its own (:func:`_own`).
_held: dict[str, tuple[int, int]] = {}


def take_lock(lock: Path) -> int | None:
    """Make ``lock`` this process's, unless another live process holds it.

    Args:
        lock: the lock file (usually ``folder / LOCK_FILE``); its folder exists.

    Returns:
        ``None`` when this process now holds the lock (or already did), else the process id of the
        live process that holds it (-1 when it has not written its id yet).
    """
    key = str(lock.resolve())
    fd = _own(key)
    if fd is not None:
        if _same_file(fd, lock):
            return None
        os.close(_held.pop(key)[1])  # that file was removed (its folder started over): take the new one
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            holder = _claim(fd, lock)
        except BaseException:
            os.close(fd)
            raise
        if holder is None:
            _held[key] = (os.getpid(), fd)
            return None
        os.close(fd)
        if holder:
            return holder
        # 0: the file was released and removed between our open and flock: look again


def _claim(fd: int, lock: Path) -> int | None:
    """Make the lock file open as ``fd`` this process's.

    Returns:
        ``None`` when it now is, the id of the live process holding it (-1 when not written yet),
        or 0 when ``lock`` no longer names that file.
    """
    if not _try_flock(fd):
        return _holder_of_locked(lock)
    if not _same_file(fd, lock):
        return 0
    holder = lock_holder(lock)
    if holder is not None and holder != os.getpid() and pid_alive(holder):
        return holder  # a live process's id without its flock (no flock here, or an older lgfn)
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    return None


def holds_lock(lock: Path) -> bool:
    """Whether this process holds ``lock`` (taken with :func:`take_lock` and not released)."""
    fd = _own(str(lock.resolve()))
    return fd is not None and _same_file(fd, lock)


def release_lock(lock: Path) -> None:
    """Remove ``lock`` if this process holds it (a lock another process holds stays)."""
    key = str(lock.resolve())
    fd = _own(key)
    if fd is None:
        return
    del _held[key]
    try:
        if _same_file(fd, lock):
            lock.unlink(missing_ok=True)  # before the flock goes, so no one takes the old file
    finally:
        os.close(fd)


def lock_holder(lock: Path) -> int | None:
    """The process id in ``lock``; ``None`` when there is no such file or it holds no process id."""
    try:
        pid = int(lock.read_text())
    except (OSError, ValueError):
        return None
    return pid if pid > 0 else None  # 0 and -1 would name process groups to os.kill


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs (someone else's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    except (OverflowError, ValueError):
        return False  # no process can have such an id
    return True


def _own(key: str) -> int | None:
    """The descriptor of the lock this process holds under ``key``, if it does."""
    pid, fd = _held.get(key, (None, -1))
    return fd if pid == os.getpid() else None


def _try_flock(fd: int) -> bool:
    """Take the exclusive flock on ``fd`` without waiting; ``False`` if another process has it."""
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _same_file(fd: int, path: Path) -> bool:
    """Whether ``path`` still names the file open as ``fd``."""
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except OSError:
        return False


def _holder_of_locked(lock: Path) -> int:
    """The id of the process holding ``lock``'s flock, once it has written it over what was there
    (-1 if it never does)."""
    for _ in range(100):
        holder = lock_holder(lock)
        if holder is not None and pid_alive(holder):
            return holder
        time.sleep(0.01)  # between its flock and its write
    return -1
