"""Shared fixtures: a tiny LGFN configuration and access to the optional real data in ../shared."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

#: A small LGFN that keeps every component (two alignment blocks so DMDCU has 4 and 2 branches).
TINY_MODEL = dict(
    num_features=16,
    num_extract_blocks=1,
    num_align_blocks=2,
    num_local_blocks=1,
    num_global_blocks=1,
    num_rcab=1,
    reduction=4,
    deformable_groups=2,
)


@pytest.fixture
def tiny_model_kwargs() -> dict:
    return dict(TINY_MODEL)


@pytest.fixture
def tiny_model():
    from lgfn.models import LGFN

    torch.manual_seed(0)
    return LGFN(scale=4, num_frames=5, **TINY_MODEL).eval()


def shared_data_path(*parts: str) -> Path:
    """A path inside ../shared/data, or skip the test with the reason when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available: {path} is missing (see ../shared/data/README.md)")
    return path
