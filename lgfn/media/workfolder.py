"""The resumable work folder of an output: where finished work waits until the output is complete.

Output is atomic and work is not lost: a sink writes into a hidden work folder beside the output
(:func:`work_folder`, ``.NAME.partial``), each finished piece under its final name, and the output is
moved to its name (:func:`move_into_place`) only when the sink closes after success. On an error or
Ctrl-C the output path is left as it was (the complete result or nothing) and the finished pieces
stay in the work folder, with the run's settings (``job.json``), for a later run to resume from.

While a run writes a work folder, its ``lock`` file holds the run's process id; a folder locked by
a live process is refused, one left by a dead process is taken over.

Nothing is written through a symbolic link: a work folder that is a link, or that holds one, is
refused before anything is written (a link would send the lock and the frames elsewhere).

Layout::

    OUTPUT_PARENT/
        .NAME.partial/
            lock          process id of the run writing it
            job.json      the settings the finished pieces were made with
            ...           the pieces, as the sink names them
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from lgfn.errors import LGFNError
from lgfn.files import DISK_FULL, atomic_write_text, settings_changes
from lgfn.locks import LOCK_FILE, release_lock, take_lock

logger = logging.getLogger(__name__)

#: The settings a work folder was made with, checked before it is resumed.
JOB_FILE = "job.json"


def work_folder(path: str | os.PathLike) -> Path:
    """The hidden folder beside an output that holds its finished work until the output is complete."""
    path = Path(path)
    return path.parent / f".{path.name}.partial"


def write_error(path: Path, exc: OSError) -> LGFNError:
    """The one-line error for an ``OSError`` while writing the output ``path`` or its work folder (a
    full disk, a read-only folder, ...), naming the file and what to do."""
    where = exc.filename or work_folder(path)
    if exc.errno in DISK_FULL:
        return LGFNError(
            f"cannot write {path}: the disk is full ({where}: {exc.strerror}); free some space, then "
            "run the same command with --resume to continue from the finished frames"
        )
    return LGFNError(
        f"cannot write {path}: {where}: {exc.strerror or exc}; write to a folder where you can create files"
    )


def refuse_existing_output(path: str | os.PathLike, overwrite: bool) -> None:
    """Raise :class:`LGFNError` when ``path`` exists and may not be replaced."""
    if os.path.lexists(path) and not overwrite:
        raise LGFNError(f"output {path} already exists; pass --overwrite to replace it")


def prepare_work_folder(
    work: Path, path: Path, job: Mapping[str, Any], resume: bool, overwrite: bool, finished: Callable[[], int]
) -> int:
    """Create, check or reuse the work folder of ``path`` and lock it for this process.

    A folder left by an interrupted run is continued when ``resume`` is set and its recorded
    settings equal ``job``, discarded (with a warning) when only ``overwrite`` is, and otherwise an
    error: finished work is never dropped unasked. A folder without finished work is started over.

    Args:
        work: the work folder (:func:`work_folder` of ``path``).
        path: the output, for messages.
        job: JSON-compatible settings that decide the output; recorded in a new folder, compared
            with the record of an existing one.
        resume: continue from the finished work of an interrupted run.
        overwrite: discard the finished work of an interrupted run.
        finished: counts the frames finished in ``work`` (the sink knows its pieces).

    Returns:
        The number of frames already finished: the first frame this run writes.

    Raises:
        LGFNError: a live process holds the folder; finished work is in the way without ``resume``
            or ``overwrite``; it was made with other settings or has no readable record of them.
    """
    _refuse_links(work, path)
    if work.is_dir():
        lock_work_folder(work, path)
        done = _finished_to_keep(work, path, finished(), resume, overwrite)
        if done:
            _check_job(work, path, job)
            logger.info("resuming %s: %d frame(s) already finished in %s", path, done, work)
            return done
        shutil.rmtree(work)
    try:
        work.mkdir(parents=True)
    except FileExistsError:  # made in the meantime by a run that started at the same moment
        raise LGFNError(f"another run is writing {path}; wait for it or stop it first") from None
    lock_work_folder(work, path)
    atomic_write_text(work / JOB_FILE, json.dumps(dict(job), indent=1, sort_keys=True))
    return 0


def _refuse_links(work: Path, path: Path) -> None:
    """Refuse a work folder that is not a plain folder of ours: a symbolic link, something else in its
    place, or a folder holding a link (in it or in its ``frames``)."""
    if not os.path.lexists(work):
        return
    if work.is_symlink() or not work.is_dir():
        what = f"a symbolic link to {os.readlink(work)}" if work.is_symlink() else "not a folder"
        raise LGFNError(
            f"cannot write {path}: {work}, where its unfinished work is kept, is {what}; lgfn upscale "
            "writes only into a folder it made itself: remove it and run again"
        )
    for folder in (work, work / "frames"):
        if folder.is_symlink() or not folder.is_dir():
            continue  # a link named frames is reported as an entry of work
        with os.scandir(folder) as entries:
            linked = next((Path(entry.path) for entry in entries if entry.is_symlink()), None)
        if linked is not None:
            raise LGFNError(
                f"cannot write {path}: {linked} in its work folder is a symbolic link; lgfn upscale never "
                f"writes through a link: remove it (or the folder {work}) and run again"
            )


def _finished_to_keep(work: Path, path: Path, done: int, resume: bool, overwrite: bool) -> int:
    """The ``done`` finished frames when resuming, 0 when ``overwrite`` discards them; else an error."""
    if not done or resume:
        return done
    if not overwrite:
        raise LGFNError(
            f"an interrupted run left {done} finished frame(s) of {path} in {work}; pass --resume "
            "to continue from them, or --overwrite to start over"
        )
    logger.warning("--overwrite: starting %s over, discarding %d finished frame(s) in %s", path, done, work)
    return 0


def recorded_job(work: Path) -> dict[str, Any] | None:
    """The settings recorded in the work folder ``work`` (its ``job.json``), ``None`` when it has no
    readable record."""
    try:
        recorded = json.loads((work / JOB_FILE).read_text())
    except (OSError, ValueError):
        return None
    return recorded if isinstance(recorded, dict) else None


def _check_job(work: Path, path: Path, job: Mapping[str, Any]) -> None:
    """Refuse to resume ``work`` unless its recorded settings equal ``job``."""
    recorded = recorded_job(work)
    if recorded is None:
        raise LGFNError(f"{work} has no readable record of its settings; delete it to start over")
    details = settings_changes(recorded, job)
    if details:
        raise LGFNError(
            f"cannot resume {path}: the interrupted run in {work} used other settings ({details}); "
            "run it with the same options, or delete that folder to start over"
        )


def kept_work_message(
    path: Path, work: Path, kept: int, written: int, segment_frames: int | None, gapless: bool = True
) -> str:
    """What an interrupted run keeps of ``path``'s ``written`` frames (an earlier run's included):
    the ``kept`` finished ones in ``work`` and the frames of unfinished segments (``segment_frames``
    a segment; ``None`` for a PNG folder, which keeps every frame written), which a resumed run
    redoes; ``""`` when nothing was written. ``gapless``: the kept frames run from frame 0 without a
    gap (else the processes of a torchrun left shares of their own, which a resumed run skips)."""
    if written == 0:
        return ""
    if kept == 0 and segment_frames is not None:
        return (
            f"{path} is not complete and nothing is kept: the {written} frame(s) written make no finished "
            f"segment of {segment_frames} frames (--segment-frames sets the length); a new run starts over"
        )
    if segment_frames is None:
        lost = "a PNG folder keeps every frame written, so nothing is redone"
    elif written == kept:
        lost = "every frame written is in a finished segment, so nothing is redone"
    else:
        unfinished = "an unfinished segment" if gapless else "unfinished segments"
        lost = f"{written - kept} frame(s) of {unfinished} will be redone by --resume"
    then = f"continues from frame {kept}" if gapless else "does only the frames not kept"
    return (
        f"{path} is not complete: kept {kept} of {written} frames in {work}; {lost}; the same command "
        f"with --resume {then}"
    )


def lock_work_folder(work: Path, path: Path) -> None:
    """Mark ``work`` as this process's, taking it over from a process that no longer runs
    (:func:`lgfn.locks.take_lock`).

    Raises:
        LGFNError: another live process holds it (``path`` names the output in the message).
    """
    holder = take_lock(work / LOCK_FILE)
    if holder is not None:
        raise LGFNError(f"another run (process {holder}) is writing {path}; wait for it or stop it first")


def unlock_work_folder(work: Path) -> None:
    """Release ``work`` for a later run (its finished work stays)."""
    release_lock(work / LOCK_FILE)


def move_into_place(temporary: Path, path: Path, overwrite: bool) -> None:
    """Rename the finished ``temporary`` to ``path``, replacing an existing ``path`` only if ``overwrite``.

    A file replaces a file atomically; anything else is swapped through a hidden folder beside
    ``path``, and the old ``path`` is put back if the new one cannot take its place.

    Raises:
        LGFNError: ``path`` exists (it appeared while the work was done) and ``overwrite`` is false.
    """
    if not os.path.lexists(path):
        os.rename(temporary, path)
        return
    if not overwrite:
        raise LGFNError(f"output {path} appeared while writing; pass --overwrite to replace it")
    if temporary.is_file() and path.is_file():
        os.replace(temporary, path)  # atomic: readers see the old or the new file, never neither
        return
    # A folder cannot be swapped atomically: move the old one aside first, delete it afterwards.
    old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
    aside = old / path.name
    os.rename(path, aside)
    try:
        os.rename(temporary, path)
    except BaseException:
        os.rename(aside, path)
        raise
    shutil.rmtree(old, ignore_errors=True)
