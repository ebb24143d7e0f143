"""Fixtures shared by the command-line tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import lgfn
from lgfn.models import LGFN
from tests.helpers import TINY_MODEL


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory) -> Path:
    """A tiny x4 LGFN with a 3-frame window, saved as a project checkpoint."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pth"
    lgfn.save_checkpoint(path, LGFN(scale=4, num_frames=3, **TINY_MODEL))
    return path
