"""The learning-rate schedule's settings: the checks of ``train.lr_milestones`` (epochs after which the
rate is multiplied by ``train.lr_gamma``), made when the config is read and when the run's length in
iterations is known."""

from __future__ import annotations

import logging
from collections.abc import Sequence

logger = logging.getLogger(__name__)


def check_milestones(milestones: Sequence[int]) -> None:
    """Refuse milestones that cannot mean what they say.

    A milestone is an epoch count after which the rate drops, so it is at least 1 (at 0 the run
    would start at ``lr * lr_gamma``: set ``train.lr`` instead), and each comes after the one before
    (PyTorch would apply a repeated one twice, and one out of order reads as a slip).

    Raises:
        ValueError: a message starting ``lr_milestones`` (the config names the key).
    """
    if any(milestone < 1 for milestone in milestones):
        raise ValueError(
            f"lr_milestones must be epochs >= 1 (after which the rate drops), got {list(milestones)}"
        )
    if any(later <= earlier for earlier, later in zip(milestones, milestones[1:], strict=False)):
        raise ValueError(f"lr_milestones must increase from one to the next, got {list(milestones)}")


def warn_unreached_milestones(milestones: Sequence[int], iterations_per_epoch: int, total: int) -> None:
    """Say which milestones a run of ``total`` iterations never reaches (the rate would drop after its
    last step), and why: its length ends it first."""
    unreached = [m for m in milestones if m * iterations_per_epoch >= total]
    if unreached:
        logger.warning(
            "train.lr_milestones %s: the run ends first (after %d iterations, %g epochs of %d "
            "iterations: train.epochs, or train.iterations when set), so the rate never drops there",
            unreached, total, total / iterations_per_epoch, iterations_per_epoch,
        )  # fmt: skip
