"""Fixtures of the inference tests: a tiny LGFN whose alignment really deforms, a moving clip, and the
two ways of getting float outputs that the tests compare."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch

from lgfn.data.windows import window_indices
from lgfn.inference import VideoSuperResolver, to_tensor
from lgfn.models import LGFN
from tests.helpers import TINY_MODEL


@pytest.fixture(scope="module")
def model() -> LGFN:
    torch.manual_seed(0)
    net = LGFN(scale=2, num_frames=5, **TINY_MODEL).eval()
    # Non-zero offsets, as in a trained model, so that alignment really deforms.
    for dcn in net.cd_align.dc:
        torch.nn.init.normal_(dcn.conv_offset_mask.weight, std=0.05)
    return net


@pytest.fixture(scope="module")
def clip() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (14, 18, 3))
    # A slowly moving pattern, so neighbouring frames are related as in a video.
    return [np.roll(base, shift=i, axis=1).astype(np.uint8) for i in range(9)]


def _plain_outputs(model: LGFN, frames: list[np.ndarray], padding: str = "new_info") -> list[torch.Tensor]:
    """The reference: model(window) for each centre, written out independently."""
    x = torch.stack([to_tensor(f, torch.device("cpu")) for f in frames])
    outs = []
    with torch.no_grad():
        for k in range(len(frames)):
            idx = window_indices(k, model.num_frames, len(frames), padding)
            outs.append(model(x[idx][None])[0])
    return outs


def _run_float(resolver: VideoSuperResolver, frames: list[np.ndarray]) -> list[torch.Tensor]:
    return [sr for _, sr in resolver.upscale_clip(frames, as_float=True)]


@pytest.fixture(scope="session")
def plain_outputs() -> Callable[..., list[torch.Tensor]]:
    """``plain_outputs(model, frames, padding="new_info")``: direct model calls, ``(3, s*h, s*w)`` each."""
    return _plain_outputs


@pytest.fixture(scope="session")
def run_float() -> Callable[[VideoSuperResolver, list[np.ndarray]], list[torch.Tensor]]:
    """``run_float(resolver, frames)``: the resolver's raw float outputs of a whole clip."""
    return _run_float
