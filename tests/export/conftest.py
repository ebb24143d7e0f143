"""Exports shared by the ONNX tests: each takes tens of seconds, so each is made once per session."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import lgfn
from lgfn.checkpoint import DEFAULT_CHECKPOINT
from lgfn.models import LGFN
from tests.helpers import TINY_MODEL


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Every export test on one torch thread (:func:`tests.conftest.one_torch_thread`)."""


@pytest.fixture(scope="session")
def demo_onnx(tmp_path_factory) -> dict[str, Path]:
    """The shipped demo checkpoint exported in both deformable forms: ``{form: path}`` (dynamic size)."""
    if not DEFAULT_CHECKPOINT.is_file():
        pytest.skip(f"the demo checkpoint {DEFAULT_CHECKPOINT} is missing")
    from lgfn.export import export_checkpoint

    folder = tmp_path_factory.mktemp("demo_onnx")
    paths = {}
    for form in ("deform_conv", "grid_sample"):
        paths[form] = folder / f"demo_{form}.onnx"
        export_checkpoint(DEFAULT_CHECKPOINT, paths[form], dcn=form)
    return paths


@pytest.fixture(scope="session")
def tiny_net() -> LGFN:
    """A tiny x4, 5-frame LGFN whose offsets are not zero (so the deformable sampling is exercised)."""
    torch.manual_seed(0)
    model = LGFN(scale=4, num_frames=5, **TINY_MODEL).eval()
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "conv_offset_mask" in name:
                parameter.normal_(0, 0.05)
    return model


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory, tiny_net) -> Path:
    path = tmp_path_factory.mktemp("tiny_ckpt") / "tiny.pth"
    lgfn.save_checkpoint(path, tiny_net)
    return path


@pytest.fixture(scope="session")
def tiny_onnx(tmp_path_factory, tiny_ckpt) -> Path:
    """The tiny checkpoint exported with the defaults (DeformConv, frames layout, any size, fp32)."""
    from lgfn.export import export_checkpoint

    path = tmp_path_factory.mktemp("tiny_onnx") / "tiny.onnx"
    export_checkpoint(tiny_ckpt, path)
    return path
