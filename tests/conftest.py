"""Shared fixtures: a tiny LGFN configuration, and no test leaving a child process behind."""

from __future__ import annotations

import multiprocessing

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


@pytest.fixture(autouse=True)
def no_child_process_outlives_a_test():
    """A child left running (a loader worker, say) fails the test that left it and is killed: at the
    interpreter's exit multiprocessing waits for its children, and a worker that ignores SIGTERM would
    hang the whole session after its last test."""
    yield
    left = multiprocessing.active_children()
    for child in left:
        child.kill()
        child.join(timeout=10)
    assert not left, f"child processes outlived the test: {left}"
