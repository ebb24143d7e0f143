"""Shared fixtures: a tiny LGFN configuration and access to the optional real data in ../shared."""

from __future__ import annotations

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
