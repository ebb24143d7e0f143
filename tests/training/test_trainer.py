"""The training loop and the optimisation step: the schedule, skipped non-finite steps, pretrained
weights, fine-tuning some parts, and the CPU hint."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import pytest
import torch

import lgfn
from lgfn.checkpoint import load_checkpoint
from lgfn.errors import ConfigError, InputDataError
from lgfn.training import trainer as trainer_module
from lgfn.training.optimisation import Optimisation
from lgfn.training.trainer import Trainer
from tests.helpers import assert_same_weights, tiny_config, weights


def test_schedule_halves_the_lr_at_each_milestone_epoch(clips: Path, tmp_path: Path) -> None:
    # 8 samples, global batch 4: 2 iterations per epoch; milestones after epochs 1 and 2.
    trainer = Trainer.build(tiny_config(clips, train={"save_every": 0, "iterations": 5}), tmp_path / "run")
    trainer.fit()
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    lrs = {r["iteration"]: r["lr"] for r in records if r["kind"] == "train"}
    # The lr logged after iteration i is the one iteration i+1 uses.
    assert lrs == pytest.approx({1: 1e-3, 2: 5e-4, 3: 5e-4, 4: 2.5e-4, 5: 2.5e-4})


def test_a_nan_batch_is_skipped_and_counted(clips: Path, tmp_path: Path) -> None:
    trainer = Trainer.build(tiny_config(clips), tmp_path / "run")
    optimisation = trainer.optimisation
    try:
        batch = next(iter(trainer.data.loader))
        bad = dict(batch, lq=batch["lq"].clone())
        bad["lq"][0, 0, 0, 0, 0] = math.nan
        before = {k: v.clone() for k, v in optimisation.model.state_dict().items()}
        loss, applied = optimisation.step(bad)
        assert not applied and math.isnan(loss)
        assert trainer.skipped_steps == 1 and trainer.iteration == 1
        assert_same_weights(before, optimisation.model.state_dict())
        assert optimisation.optimizer.state_dict()["state"] == {}  # Adam never stepped
        assert all(p.grad is None for p in optimisation.model.parameters())
        # A finite batch whose loss is NaN, then one whose loss is finite but whose gradient is not
        # (sqrt has an infinite slope at 0).
        losses = [
            lambda sr, gt: (sr - gt).abs().mean() * math.nan,
            lambda sr, gt: torch.sqrt((sr - sr.detach()).abs().sum()),
        ]
        configured = optimisation.loss_function
        for number, loss_function in enumerate(losses, start=2):
            optimisation.loss_function = loss_function
            loss, applied = optimisation.step(batch)
            assert not applied and trainer.skipped_steps == number and trainer.iteration == number
            assert_same_weights(before, optimisation.model.state_dict())
            assert optimisation.optimizer.state_dict()["state"] == {}
        assert loss == 0.0  # the last loss itself was finite
        optimisation.loss_function = configured
        loss, applied = optimisation.step(batch)
        assert applied and math.isfinite(loss) and trainer.skipped_steps == 3
        assert any(not torch.equal(before[k], v) for k, v in optimisation.model.state_dict().items())
    finally:
        trainer.close()


def test_pretrained_weights_start_the_run_and_a_mismatch_is_clear(clips: Path, tmp_path: Path) -> None:
    first = Trainer.build(tiny_config(clips, train={"epochs": 1}), tmp_path / "first").fit()
    export = tmp_path / "slim.pth"  # what scripts/export_checkpoint.py --half writes
    lgfn.save_checkpoint(export, lgfn.load_model(first).half(), {"iteration": 2})
    trainer = Trainer.build(tiny_config(clips, train={"pretrained": str(export)}), tmp_path / "second")
    try:
        model = trainer.optimisation.model
        for key, value in weights(first).items():
            torch.testing.assert_close(model.state_dict()[key], value, atol=1e-3, rtol=1e-3)
        assert next(model.parameters()).dtype == torch.float32
    finally:
        trainer.close()
    wider = tiny_config(clips, model={"num_features": 8}, train={"pretrained": str(export)})
    with pytest.raises(lgfn.CheckpointError, match=r"slim\.pth does not fit this LGFN configuration"):
        Trainer.build(wider, tmp_path / "third")


def test_trainable_parts_train_and_the_rest_keep_their_weights(clips: Path, tmp_path: Path) -> None:
    start = Trainer.build(tiny_config(clips, train={"epochs": 1}), tmp_path / "start").fit()
    config = tiny_config(clips, train={"epochs": 1, "pretrained": str(start), "trainable": ["rg", "tail"]})
    trainer = Trainer.build(config, tmp_path / "tuned")
    optimisation = trainer.optimisation
    assert {id(p) for group in optimisation.optimizer.param_groups for p in group["params"]} == {
        id(p) for name, p in optimisation.model.named_parameters() if name.startswith(("rg.", "tail."))
    }
    before, after = weights(start), weights(trainer.fit())
    for key, value in after.items():
        if key.startswith(("rg.", "tail.")):
            assert not torch.equal(value, before[key]), key
        else:
            assert torch.equal(value, before[key]), key


def test_an_unknown_trainable_part_is_named(clips: Path, tmp_path: Path) -> None:
    config = tiny_config(clips, train={"trainable": ["rg", "decoder"]})
    message = r"train\.trainable: decoder is not a part of the network; choose from feat0, res_feat"
    with pytest.raises(ConfigError, match=message):
        Trainer.build(config, tmp_path / "run")


@pytest.mark.parametrize("backend", ["torchvision", "grid_sample"])
def test_cpu_training_points_to_the_faster_deformable_backend(
    clips: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, backend: str
) -> None:
    with caplog.at_level("INFO", logger="lgfn"):
        trainer = Trainer.build(tiny_config(clips, model={"dcn_backend": backend}), tmp_path / "run")
    trainer.close()
    assert ("model.dcn_backend=grid_sample" in caplog.text) == (backend == "torchvision")


def test_a_failed_build_leaves_no_log_file_attached(clips: Path, tmp_path: Path) -> None:
    """What the trainer opened before a user error is closed again (the package logger included)."""
    package_logger = logging.getLogger("lgfn")
    handlers, level = list(package_logger.handlers), package_logger.level
    with pytest.raises(ConfigError, match="train.trainable"):
        Trainer.build(tiny_config(clips, train={"trainable": ["decoder"]}), tmp_path / "run")
    assert package_logger.handlers == handlers and package_logger.level == level
    assert not (tmp_path / "run").exists()  # opened before the error, removed again (this call made it)


def test_a_failed_build_removes_the_folders_it_made_and_only_those(clips: Path, tmp_path: Path) -> None:
    bad = tiny_config(clips, train={"trainable": ["decoder"]})
    with pytest.raises(ConfigError, match="train.trainable"):
        Trainer.build(bad, tmp_path / "runs" / "deep" / "run")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clips"]  # runs/ made by the call: gone too
    existing = tmp_path / "existing"
    (existing / "notes.txt").parent.mkdir()
    (existing / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="train.trainable"):
        Trainer.build(bad, existing)
    # The folder is left exactly as it was: nothing is written before every check has passed.
    assert sorted(p.name for p in existing.iterdir()) == ["notes.txt"]
    assert (existing / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize(
    ("val", "message"),
    [
        (
            {"dataset": "folder", "root": "/nonexistent/val"},
            r"validation data \(val\.root\): .*/nonexistent/val",
        ),
        (
            {"dataset": "videos", "clips": ["sample:nope"]},
            r"validation data \(val\.clips\): no sample clip named 'nope'",
        ),
    ],
)
def test_missing_validation_data_fails_before_training_and_leaves_no_run_folder(
    clips: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, val: dict, message: str
) -> None:
    def no_training(self, batch):
        raise AssertionError("trained before the validation data was checked")

    monkeypatch.setattr(Optimisation, "step", no_training)
    with pytest.raises(InputDataError, match=message):
        Trainer.build(tiny_config(clips, val=val, train={"iterations": 2}), tmp_path / "run").fit()
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(("every", "failed_at"), [(0, 3), (2, 2)])
def test_a_failing_validation_keeps_the_training_first(
    clips: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, every: int, failed_at: int
) -> None:
    """Validation files vanishing mid-run: latest.pth (and final.pth at the end) are saved, then the
    error is raised."""

    def vanished(*args, **kwargs):
        raise InputDataError("folder not found: val")

    monkeypatch.setattr(trainer_module, "score_model", vanished)
    config = tiny_config(
        clips,
        val={"dataset": "folder", "root": str(clips), "every": every},
        train={"iterations": 3, "save_every": 0},
    )
    run = tmp_path / "run"
    with pytest.raises(InputDataError, match="folder not found: val"):
        Trainer.build(config, run).fit()
    assert load_checkpoint(run / "latest.pth")["iteration"] == failed_at
    assert (run / "final.pth").is_file() == (failed_at == 3)
    if failed_at == 3:
        assert load_checkpoint(run / "final.pth")["iteration"] == 3
