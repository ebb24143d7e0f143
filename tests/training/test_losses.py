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
    l1 = TrainingLoss("l1")(sr, gt)
    assert l1.dtype == torch.float32 and l1.item() == pytest.approx(1.25 / 3)
    charbonnier = TrainingLoss("charbonnier", charbonnier_eps=0.1)(sr, gt)
    assert charbonnier.item() == pytest.approx((0.1 + math.sqrt(0.0625 + 0.01) + math.sqrt(1.01)) / 3)
    with pytest.raises(ValueError, match="l1, charbonnier"):
        TrainingLoss("l2")


def test_the_config_offers_the_losses_there_are() -> None:
    (loss,) = [f for f in dataclasses.fields(TrainConfig) if f.name == "loss"]
    assert loss.metadata["choices"] == LOSSES and loss.default == "l1"
