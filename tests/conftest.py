"""Shared fixtures: a tiny LGFN configuration, and no test leaving a child process behind."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
from multiprocessing import resource_tracker
from pathlib import Path

import pytest
import torch

from tests.helpers import TINY_MODEL


@pytest.fixture
def tiny_model_kwargs() -> dict:
    return dict(TINY_MODEL)


@pytest.fixture
def tiny_model():
    from lgfn.models import LGFN

    torch.manual_seed(0)
    return LGFN(scale=4, num_frames=5, **TINY_MODEL).eval()


@pytest.fixture(scope="module")
def one_torch_thread():
    """torch on one thread for a module's tests: tiny frames gain nothing from threads, and on a busy
    shared CPU waiting threads slow them down."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _live_children() -> list[int]:
    """This process's child processes that are still running (zombies, finished but not yet reaped,
    hold nothing and are left out), but for multiprocessing's resource tracker: a helper that a
    "spawn" pool starts once and that ends with the session by itself."""
    tracker = getattr(resource_tracker._resource_tracker, "_pid", None)  # no public accessor
    pids = []
    for children in Path(f"/proc/{os.getpid()}/task").glob("*/children"):
        for pid in children.read_text().split():
            try:
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue  # ended meanwhile
            if state != "Z" and int(pid) != tracker:
                pids.append(int(pid))
    return pids


@pytest.fixture(autouse=True)
def no_child_process_outlives_a_test():
    """A child left running (a loader worker, a command started by a test) fails the test that left it
    and is killed: at the interpreter's exit multiprocessing waits for its children (a loader worker
    ignores SIGTERM, so that wait never ended), and a child holding the session's output open keeps
    whatever reads it waiting."""
    yield
    left = multiprocessing.active_children()
    for child in left:
        child.kill()
        child.join(timeout=10)
    others = _live_children() if sys.platform.startswith("linux") else []
    for pid in others:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert not left and not others, f"child processes outlived the test: {left or others}"
