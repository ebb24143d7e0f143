"""The schedule's milestones: refused when meaningless, named when the run ends before them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lgfn.training.schedule import check_milestones
from lgfn.training.trainer import Trainer
from tests.helpers import tiny_config


@pytest.mark.parametrize(
    ("milestones", "problem"), [([-1], ">= 1"), ([0], ">= 1"), ([2, 1], "increase"), ([3, 3], "increase")]
)
def test_milestones_that_cannot_mean_what_they_say_are_refused(milestones: list[int], problem: str) -> None:
    with pytest.raises(
        ValueError, match=rf"^lr_milestones must .*{problem}.*got {re.escape(str(milestones))}$"
    ):
        check_milestones(milestones)
    check_milestones([])  # no drops at all: the rate stays
    check_milestones([1, 2, 40])


def test_milestones_past_the_runs_end_are_named_with_the_reason(
    clips: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """3 iterations of 2 per epoch: the milestone after epoch 1 (iteration 2) applies, the one after
    epoch 2 (iteration 4) would come after the last step."""
    config = tiny_config(clips, train={"iterations": 3, "lr_milestones": [1, 2]})
    with caplog.at_level("WARNING", logger="lgfn"):
        trainer = Trainer.build(config, tmp_path / "run")
    try:
        (warning,) = [r.getMessage() for r in caplog.records if "lr_milestones" in r.getMessage()]
        assert warning.startswith(
            "train.lr_milestones [2]: the run ends first (after 3 iterations, 1.5 epochs"
        )
        trainer.fit()
    finally:
        trainer.close()
    assert trainer.optimisation.lr == pytest.approx(config.train.lr * config.train.lr_gamma)  # epoch 1's drop
    caplog.clear()
    with caplog.at_level("WARNING", logger="lgfn"):
        Trainer.build(tiny_config(clips, train={"lr_milestones": [1, 2]}), tmp_path / "whole").close()
    assert not [r for r in caplog.records if "lr_milestones" in r.getMessage()]  # 3 epochs: both reached
