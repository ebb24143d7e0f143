"""The alignment's offset statistics (train.offset_warn) and the offset layers' learning rate
(train.offset_lr_factor)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from lgfn.config import config_from_dict
from lgfn.distributed import DistributedContext
from lgfn.errors import ConfigError
from lgfn.models import LGFN
from lgfn.training.offsets import OffsetMonitor, offset_parameters
from lgfn.training.optimisation import Optimisation
from lgfn.training.process import TrainingProcess
from lgfn.training.trainer import Trainer
from tests.helpers import TINY_MODEL, assert_same_weights, tiny_config, weights


def tiny_model() -> LGFN:
    torch.manual_seed(0)
    return LGFN(scale=4, num_frames=3, **TINY_MODEL)


def set_offset_bias(model: LGFN, stage: int, offset: torch.Tensor | float, mask_logit: float) -> None:
    """Make stage ``stage`` predict constant offsets and mask logits (zero weights, these biases)."""
    predictor = model.cd_align.dc[stage].conv_offset_mask
    n = predictor.out_channels // 3
    with torch.no_grad():
        predictor.weight.zero_()
        predictor.bias[: 2 * n] = offset
        predictor.bias[2 * n :] = mask_logit


def test_monitor_measures_each_stage_and_leaves_the_network_as_it_was() -> None:
    model = tiny_model()
    n = model.cd_align.dc[0].conv_offset_mask.out_channels // 3
    set_offset_bias(model, 0, 1.5, 0.0)  # |offset| 1.5, mask 0.5
    alternating = torch.tensor([2.0, -2.0]).repeat(n)  # |offset| 2 with mean 0
    set_offset_bias(model, 1, alternating, math.log(3.0))  # mask 0.75
    x = torch.rand(2, 3, 3, 8, 8)

    plain = model(x)
    plain.sum().backward()
    plain_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    state = {k: v.clone() for k, v in model.state_dict().items()}

    monitor = OffsetMonitor(model, warn_above=100.0)
    watched = model(x)
    watched.sum().backward()
    assert torch.equal(watched, plain)
    assert all(torch.equal(p.grad, g) for p, g in zip(model.parameters(), plain_grads, strict=True))
    assert_same_weights(model.state_dict(), state)  # no buffer, no parameter added
    model(x)  # a second forward in the window: the means are over both
    stats = monitor.summary(iteration=1)
    assert stats["offset_abs_mean"] == pytest.approx([1.5, 2.0], rel=1e-6)
    assert stats["mask_mean"] == pytest.approx([0.5, 0.75], rel=1e-6)

    # Evaluation-mode forwards (validation) are not counted; a window without forwards has none.
    model.eval()
    model(x)
    assert monitor.summary(iteration=2) == {"offset_abs_mean": [None, None], "mask_mean": [None, None]}
    monitor.close()
    model.train()
    model(x)
    assert monitor.summary(iteration=3)["offset_abs_mean"] == [None, None]


def test_the_warning_is_given_once(caplog: pytest.LogCaptureFixture) -> None:
    model = tiny_model()
    set_offset_bias(model, 1, 3.0, 0.0)
    monitor = OffsetMonitor(model, warn_above=2.5)
    x = torch.rand(1, 3, 3, 8, 8)
    for iteration in (1, 2, 3):
        model(x)
        monitor.summary(iteration)
    warnings = [r.getMessage() for r in caplog.records if "train.offset_warn" in r.getMessage()]
    assert len(warnings) == 1
    assert "iteration 1" in warnings[0] and "stage 1: 3.0" in warnings[0] and "stage 0" not in warnings[0]


def build_optimisation(clips: Path, **train: object) -> Optimisation:
    config = tiny_config(clips, train={"lr_milestones": [1], **train})
    process = TrainingProcess(DistributedContext(), torch.device("cpu"), 4, config.train.lr)
    return Optimisation.build(config, process, iterations_per_epoch=2)


def test_the_factor_changes_the_offset_layers_rate_and_nothing_else(clips: Path) -> None:
    torch.manual_seed(1)
    batch = {"lq": torch.rand(4, 3, 3, 6, 6), "gt": torch.rand(4, 3, 24, 24)}
    plain = build_optimisation(clips)
    faster = build_optimisation(clips, offset_lr_factor=4.0)
    assert len(plain.optimizer.param_groups) == 1
    rest, offsets = faster.optimizer.param_groups
    assert {id(p) for p in offsets["params"]} == {id(p) for p in offset_parameters(faster.model)}
    assert len(rest["params"]) + len(offsets["params"]) == len(list(faster.model.parameters()))
    assert (rest["lr"], offsets["lr"]) == (1e-3, 4e-3)

    before = {name: p.detach().clone() for name, p in faster.model.named_parameters()}
    plain.step(batch)
    faster.step(batch)
    moved = 0
    for (name, a), b in zip(plain.model.named_parameters(), faster.model.parameters(), strict=True):
        if "conv_offset_mask" in name:  # the offset layers with a gradient at the first step
            step_a, step_b = a.detach() - before[name], b.detach() - before[name]
            assert torch.allclose(step_b, 4 * step_a, rtol=1e-3, atol=1e-9), name
            moved += int(step_a.abs().max() > 0)
        elif not any(layer in name for layer in ("offset_conv1", "offset_conv2")):
            assert torch.equal(a, b), name  # everything else took exactly the same step
    assert moved > 0
    # The schedule scales both groups: past the milestone (iteration 2), both are halved.
    faster.step(batch)
    assert [group["lr"] for group in faster.optimizer.param_groups] == [5e-4, 2e-3]


@pytest.mark.parametrize("value", [0.0, -1.0, float("nan"), float("inf")])
def test_the_keys_refuse_bad_values(clips: Path, value: float) -> None:
    for key in ("offset_lr_factor", "offset_warn"):
        raw = tiny_config(clips).to_dict()
        raw["train"][key] = value
        with pytest.raises(ConfigError, match=f"train.{key}"):
            config_from_dict(raw)


def train_records(run: Path) -> list[dict]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [record for record in map(json.loads, lines) if record["kind"] == "train"]


def test_a_training_run_logs_the_offsets_and_warns_once(clips: Path, tmp_path: Path) -> None:
    # Offsets start at exactly 0 (a zero predictor), so the warning can only come after the first step.
    config = tiny_config(clips, train={"epochs": 2, "offset_warn": 1e-12}, log={"tensorboard": True})
    Trainer.build(config, tmp_path / "run").fit()
    records = train_records(tmp_path / "run")
    assert [r["iteration"] for r in records] == [1, 2, 3, 4]
    stages = TINY_MODEL["num_align_blocks"]
    for record in records:
        assert len(record["offset_abs_mean"]) == len(record["mask_mean"]) == stages
        assert all(0.0 < mask < 1.0 for mask in record["mask_mean"])
    assert records[0]["offset_abs_mean"] == [0.0] * stages and records[0]["mask_mean"] == [0.5] * stages
    assert all(value > 0 for value in records[-1]["offset_abs_mean"])
    log = (tmp_path / "run" / "train.log").read_text()
    assert log.count("train.offset_warn") == 1 and "iteration 2:" in log
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    events.Reload()
    for name in ("offset_abs_mean", "mask_mean"):
        for stage in range(stages):
            logged = [event.value for event in events.Scalars(f"train/{name}/stage{stage}")]
            assert logged == pytest.approx([record[name][stage] for record in records], rel=1e-6)


def test_a_run_with_a_factor_resumes_exactly(clips: Path, tmp_path: Path) -> None:
    config = tiny_config(clips, train={"epochs": 2, "offset_lr_factor": 0.5})
    full = Trainer.build(config, tmp_path / "full").fit()
    stopped = tiny_config(clips, train={"epochs": 2, "iterations": 1, "offset_lr_factor": 0.5})
    Trainer.build(stopped, tmp_path / "split").fit()
    Trainer.build(config, tmp_path / "split", resume=True).fit()
    assert_same_weights(weights(full), weights(tmp_path / "split" / "final.pth"))
    # The paper's single group cannot take the two groups' optimiser state.
    plain = tiny_config(clips, train={"epochs": 3})
    with pytest.raises(ConfigError, match="offset_lr_factor cannot change to or from 1"):
        Trainer.build(plain, tmp_path / "split", resume=True)
