"""The training losses against their definitions."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from lgfn.config import TrainConfig
from lgfn.training.losses import LOSSES, TrainingLoss, charbonnier_loss


def test_charbonnier_loss_matches_its_definition() -> None:
    sr = torch.tensor([0.0, 0.5, 1.0])
    gt = torch.tensor([0.0, 0.2, 0.0])
    expected = (0.1 + math.sqrt(0.09 + 0.01) + math.sqrt(1 + 0.01)) / 3
    assert charbonnier_loss(sr, gt, eps=0.1).item() == pytest.approx(expected, rel=1e-6)


def test_the_training_loss_is_the_configured_one_in_fp32() -> None:
    sr = torch.tensor([0.0, 0.5, 1.0], dtype=torch.bfloat16)
    gt = torch.tensor([0.0, 0.25, 0.0], dtype=torch.bfloat16)
    l1 = TrainingLoss("l1", 1e-3, pixel_range=1)(sr, gt)
    assert l1.dtype == torch.float32 and l1.item() == pytest.approx(1.25 / 3)
    charbonnier = TrainingLoss("charbonnier", charbonnier_eps=0.1, pixel_range=1)(sr, gt)
    assert charbonnier.item() == pytest.approx((0.1 + math.sqrt(0.0625 + 0.01) + math.sqrt(1.01)) / 3)
    with pytest.raises(ValueError, match="l1, charbonnier"):
        TrainingLoss("l2", 1e-3, 1)


def test_the_config_offers_the_losses_there_are() -> None:
    (loss,) = [f for f in dataclasses.fields(TrainConfig) if f.name == "loss"]
    assert loss.metadata["choices"] == LOSSES and loss.default == "l1"


def test_the_loss_sees_pixels_on_its_pixel_range() -> None:
    """On the 0-255 scale the L1 loss is the authors' ``L1Loss()(output * 255, hr_0_255)``; the
    Charbonnier smoothing is in those units too."""
    sr = torch.tensor([0.0, 0.5, 1.0])
    gt = torch.tensor([0.0, 64.0, 0.0]) / 255
    assert TrainingLoss("l1", 1e-3, 255)(sr, gt).item() == pytest.approx((127.5 - 64 + 255) / 3)
    charbonnier = TrainingLoss("charbonnier", 2.0, 255)(sr, gt).item()
    assert charbonnier == pytest.approx((2 + math.hypot(63.5, 2) + math.hypot(255, 2)) / 3, rel=1e-6)
    with pytest.raises(ValueError, match="positive"):
        TrainingLoss("l1", 1e-3, 0)


def test_the_paper_recipe_takes_the_loss_on_the_authors_scale() -> None:
    assert TrainConfig().loss_pixel_range == 255
