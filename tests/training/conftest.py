"""Fixtures of the training tests: torch's process-wide settings given back, and tiny training clips."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.helpers import write_clips


@pytest.fixture(autouse=True)
def restore_torch_settings():
    """The trainer sets torch's thread count and denormal flushing; give other tests theirs back."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)
    torch.set_flush_denormal(False)


@pytest.fixture
def clips(tmp_path: Path) -> Path:
    """Two 4-frame 32x32 clips as frame folders: 8 training samples of :func:`tests.helpers.tiny_config`."""
    return write_clips(tmp_path / "clips")
