"""Which process owns a folder: a lock file holding the owner's process id.

A folder that a job writes for a long time (``lgfn upscale``'s work folder, a training run's folder)
is taken with :func:`take_lock` before anything is written in it and given back with
:func:`release_lock` on every way out. The lock file appears complete (pid included) or not at all,
so two jobs starting at the same moment cannot both take it. A lock left by a process that no longer
runs (killed, or the machine restarted), or one that cannot be read, is taken over: a dead job never
blocks a folder for ever.
"""

from __future__ import annotations

import os
from pathlib import Path

#: The lock file's name in a locked folder.
LOCK_FILE = "lock"


def take_lock(lock: Path) -> int | None:
    """Make ``lock`` this process's, unless another live process holds it.

    Args:
        lock: the lock file (usually ``folder / LOCK_FILE``); its folder exists.

    Returns:
        ``None`` when this process now holds the lock (or already did), else the process id of the
        live process that holds it.
    """
    for _ in range(3):  # a lock given up or taken over by others meanwhile: look again
        if _create(lock):
            return None
        holder = lock_holder(lock)
        if holder == os.getpid():
            return None
        if holder is not None and pid_alive(holder):
            return holder
        _remove_stale(lock, holder)
    holder = lock_holder(lock)
    return None if holder == os.getpid() else (holder or -1)


def release_lock(lock: Path) -> None:
    """Remove ``lock`` if this process holds it (a lock taken over by another process stays)."""
    if lock_holder(lock) == os.getpid():
        lock.unlink(missing_ok=True)


def lock_holder(lock: Path) -> int | None:
    """The process id in ``lock``; ``None`` when there is no such file or it holds no number."""
    try:
        return int(lock.read_text())
    except (OSError, ValueError):
        return None


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


def _create(lock: Path) -> bool:
    """Create ``lock`` holding this process's id, atomically; ``False`` if it exists.

    The id is written to a file of this process's own and linked to the lock's name, so the lock
    is never seen empty; where the file system has no hard links, an exclusive create does.
    """
    mine = lock.with_name(f".{lock.name}.{os.getpid()}")
    mine.write_text(str(os.getpid()))
    try:
        os.link(mine, lock)
        return True
    except FileExistsError:
        return False
    except OSError:
        pass  # no hard links here
    finally:
        mine.unlink(missing_ok=True)
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as handle:
        handle.write(str(os.getpid()))
    return True


def _remove_stale(lock: Path, holder: int | None) -> None:
    """Remove the lock of ``holder``, a process that no longer runs (``None``: an unreadable lock).

    It is moved aside first and removed only if it is still the one judged stale: a lock another
    process took in the meantime is put back.
    """
    aside = lock.with_name(f".{lock.name}.stale.{os.getpid()}")
    try:
        os.rename(lock, aside)
    except FileNotFoundError:
        return  # released or taken over meanwhile
    try:
        if lock_holder(aside) != holder:
            os.link(aside, lock)  # a fresh lock of someone else: theirs again
    except OSError:
        pass
    finally:
        aside.unlink(missing_ok=True)
