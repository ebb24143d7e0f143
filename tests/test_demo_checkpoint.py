"""The weights that ship in checkpoints/: they load and beat bicubic on real video."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import lgfn
from lgfn.data.degradations import bi_degrade, bicubic_upscale, crop_to_multiple
from lgfn.data.samples import sample_clip_path
from lgfn.inference import VideoSuperResolver
from lgfn.media import read_video_frames
from lgfn.metrics import calculate_psnr_ssim
from tests.helpers import REPO

DEMO = REPO / "checkpoints" / "lgfn_x4_demo.pth"  # a reduced LGFN trained on a CPU, the default weights
FULL = REPO / "checkpoints" / "lgfn_x4_full.pth"  # the paper's network, trained briefly on a GPU


@pytest.fixture(scope="module", params=[DEMO, FULL], ids=["demo", "full"])
def shipped(request):
    path = request.param
    assert path.is_file(), f"the shipped checkpoint {path} is missing"
    return path, lgfn.load_model(path)


def test_shipped_checkpoints_are_small_and_record_their_configuration(shipped):
    path, model = shipped
    assert path.stat().st_size < 40 * 2**20
    raw = torch.load(path, map_location="cpu", weights_only=True)
    assert raw["format"] == "lgfn" and raw["model_config"]["scale"] == 4
    assert model.scale == 4 and not model.training


def test_full_weights_are_the_papers_network_and_the_demo_a_reduced_one():
    assert lgfn.load_model(FULL).config == lgfn.LGFNConfig()
    demo = lgfn.load_model(DEMO)
    assert demo.config.num_features < lgfn.LGFNConfig().num_features
    assert demo.dcn_backend == "torchvision"  # the default backend, whatever it trained with


@pytest.mark.slow
def test_shipped_checkpoints_beat_bicubic_on_a_real_clip(shipped):
    _, model = shipped
    # carphone_pristine, the clip the main job evaluates on, never seen in training.
    frames = [crop_to_multiple(f, 4) for f in read_video_frames(sample_clip_path("carphone_pristine"), 7)]
    lr = [bi_degrade(f, 4) for f in frames]
    resolver = VideoSuperResolver(model)
    centre = [2, 3, 4]
    lgfn_psnr = [calculate_psnr_ssim(sr, frames[i])[0] for i, sr in resolver.upscale_clip(lr, centre)]
    bicubic_psnr = [calculate_psnr_ssim(bicubic_upscale(lr[i], 4), frames[i])[0] for i in centre]
    assert np.mean(lgfn_psnr) > np.mean(bicubic_psnr) + 0.3, (lgfn_psnr, bicubic_psnr)
