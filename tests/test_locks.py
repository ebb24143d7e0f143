"""The folder lock: one process at a time, even when they start together; dead holders taken over."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest

from lgfn.locks import lock_holder, release_lock, take_lock


def dead_pid() -> int:
    """The id of a process that has ended."""
    process = multiprocessing.get_context("fork").Process(target=int)
    process.start()
    process.join()
    return process.pid


def contend(lock: Path, start, results, done) -> None:
    """One of several processes taking ``lock`` at the same moment; it holds what it got until ``done``."""
    start.wait()
    results.put((os.getpid(), take_lock(lock)))
    done.wait(30)


@pytest.mark.parametrize("left", [None, "dead"])
def test_processes_starting_together_take_the_lock_one_only(tmp_path: Path, left) -> None:
    lock = tmp_path / "lock"
    if left:
        lock.write_text(str(dead_pid()))  # stale: every contender tries to take it over
    context = multiprocessing.get_context("fork")
    start, done, results = context.Barrier(6), context.Event(), context.Queue()
    processes = [context.Process(target=contend, args=(lock, start, results, done)) for _ in range(6)]
    for process in processes:
        process.start()
    try:
        outcomes = dict(results.get(timeout=60) for _ in processes)
    finally:
        done.set()
        for process in processes:
            process.join(30)
    winners = [pid for pid, holder in outcomes.items() if holder is None]
    assert len(winners) == 1
    assert all(holder == winners[0] for holder in outcomes.values() if holder is not None)
    assert lock_holder(lock) == winners[0]


def test_a_lock_is_released_and_a_dead_holders_lock_taken_over(tmp_path: Path) -> None:
    lock = tmp_path / "lock"
    assert take_lock(lock) is None and lock_holder(lock) == os.getpid()
    assert take_lock(lock) is None  # already this process's
    release_lock(lock)
    assert not lock.exists()
    release_lock(lock)  # nothing held: nothing to do
    for stale in (str(dead_pid()), "", "0", "-1", "garbage"):
        lock.write_text(stale)
        assert take_lock(lock) is None and lock_holder(lock) == os.getpid()
        release_lock(lock)


def test_a_live_process_keeps_its_lock(tmp_path: Path) -> None:
    lock = tmp_path / "lock"
    lock.write_text(str(os.getppid()))  # alive, and not this process
    assert take_lock(lock) == os.getppid()
    release_lock(lock)  # not ours: left alone
    assert lock_holder(lock) == os.getppid()


def test_a_removed_lock_file_is_taken_anew(tmp_path: Path) -> None:
    """A folder started over while locked (upscale's work folder): the new file is locked too."""
    lock = tmp_path / "lock"
    assert take_lock(lock) is None
    lock.unlink()
    assert take_lock(lock) is None and lock_holder(lock) == os.getpid()
    release_lock(lock)
    assert not lock.exists()
