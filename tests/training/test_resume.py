"""Exact resume: a stopped run continues to the same weights; RNG states; what a resume may change."""

from __future__ import annotations

import json
import os
import random
import signal
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import lgfn
from lgfn.checkpoint import load_checkpoint
from lgfn.cli.console import run_main
from lgfn.cli.train import main
from lgfn.config import load_config
from lgfn.training.optimisation import Optimisation
from lgfn.training.resume import RUN_TIME_SETTINGS, capture_rng_states, changed_settings, restore_rng_states
from lgfn.training.trainer import Trainer
from tests.helpers import TINY_MODEL, assert_same_weights, tiny_config, weights


def test_stopping_and_resuming_gives_the_same_weights(clips: Path, tmp_path: Path) -> None:
    config = tiny_config(clips, train={"epochs": 2})  # 4 iterations, 2 per epoch
    full = Trainer.build(config, tmp_path / "full").fit()
    # Stop after 1 iteration, in the middle of the first epoch, then resume to the end.
    Trainer.build(tiny_config(clips, train={"epochs": 2, "iterations": 1}), tmp_path / "split").fit()
    assert load_checkpoint(tmp_path / "split" / "latest.pth")["iteration"] == 1
    # What a run killed after its last checkpoint leaves behind: later records, a cut-off line.
    with (tmp_path / "split" / "metrics.jsonl").open("a") as f:
        f.write('{"kind": "train", "iteration": 2, "loss": 9.9}\n{"kind": "tra')
    resumed = Trainer.build(config, tmp_path / "split", resume=True)
    resumed.fit()
    assert resumed.iteration == 4
    assert_same_weights(weights(full), weights(tmp_path / "split" / "final.pth"))
    lines = (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["iteration"] for line in lines] == [1, 2, 3, 4]
    assert 9.9 not in [json.loads(line)["loss"] for line in lines]
    # The uninterrupted run really trained: the weights moved away from the seed's initialisation.
    torch.manual_seed(0)
    initial = lgfn.LGFN(scale=4, num_frames=3, **TINY_MODEL).state_dict()
    assert any(not torch.equal(initial[k], v) for k, v in weights(full).items())


def test_rng_states_round_trip() -> None:
    states = capture_rng_states()
    expected = (torch.rand(3), np.random.rand(2), random.random())  # noqa: NPY002
    restore_rng_states(states)
    again = (torch.rand(3), np.random.rand(2), random.random())  # noqa: NPY002
    assert torch.equal(expected[0], again[0]) and np.array_equal(expected[1], again[1])
    assert expected[2] == again[2]


def test_a_run_resumes_with_another_deformable_backend(
    clips: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """The backend is a run-time choice: a run started with torchvision's kernel resumes with
    grid_sample's, and the resume does not report it as a change of the experiment."""
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_config(clips, train={"epochs": 2, "save_every": 0}).to_dict()))
    run = tmp_path / "run"
    real_step = Optimisation.step

    def stopped_in_iteration_two(self, batch):
        if self.iteration == 1:
            os.kill(os.getpid(), signal.SIGTERM)  # as a scheduler's preemption
        return real_step(self, batch)

    with monkeypatch.context() as patch:
        patch.setattr(Optimisation, "step", stopped_in_iteration_two)
        assert run_main(main, ["-c", str(config), "--out", str(run)]) == 130
    assert load_checkpoint(run / "latest.pth")["iteration"] == 2
    assert load_config(run / "config.yaml").model.dcn_backend == "torchvision"
    capsys.readouterr()
    resume = ["-c", str(config), "--out", str(run), "--resume", "--set", "model.dcn_backend=grid_sample"]
    code = run_main(main, resume)
    err = capsys.readouterr().err
    assert code == 0, err
    assert f"resumed from {run / 'latest.pth'} at iteration 2" in err
    assert "config differs" not in err and "dcn_backend" not in err
    final = load_checkpoint(run / "final.pth")
    assert final["iteration"] == 4 and final["config"]["model"]["dcn_backend"] == "grid_sample"
    assert lgfn.load_model(run / "final.pth").num_frames == 3


def test_the_config_change_warning_names_changes_but_not_run_time_choices(clips: Path) -> None:
    assert RUN_TIME_SETTINGS == {"model.dcn_backend"}
    before = tiny_config(clips).to_dict()
    now = tiny_config(clips, model={"dcn_backend": "grid_sample"}, train={"lr": 5e-4}).to_dict()
    assert changed_settings(before, now) == ["train.lr"]
    assert changed_settings(before, tiny_config(clips, model={"dcn_backend": "grid_sample"}).to_dict()) == []


def test_a_config_change_on_resume_is_named_in_a_warning(
    clips: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    Trainer.build(tiny_config(clips, train={"iterations": 1}), tmp_path / "run").fit()
    changed = tiny_config(clips, model={"dcn_backend": "grid_sample"}, train={"iterations": 2})
    with caplog.at_level("WARNING", logger="lgfn"):
        Trainer.build(changed, tmp_path / "run", resume=True).fit()
    (warning,) = [r.getMessage() for r in caplog.records if "config differs" in r.getMessage()]
    assert "(train.iterations)" in warning and "dcn_backend" not in warning


def test_a_changed_schedule_on_resume_is_applied_and_recorded(
    clips: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """What config.yaml says runs: a new train.lr (milestones, gamma, Adam settings) applies from the
    resumed iteration on, at the schedule's position; the checkpoint's lr does not come back."""
    run = tmp_path / "run"
    Trainer.build(tiny_config(clips, train={"iterations": 1}), run).fit()  # lr 1e-3, milestones at 2, 4
    changed = tiny_config(clips, train={"iterations": 3, "lr": 4e-4, "weight_decay": 0.5})
    with caplog.at_level("WARNING", logger="lgfn"):
        resumed = Trainer.build(changed, run, resume=True)
    try:
        (group,) = resumed.optimisation.optimizer.param_groups
        assert group["lr"] == pytest.approx(4e-4) and group["weight_decay"] == 0.5
        assert resumed.optimisation.lr == pytest.approx(4e-4)
        resumed.fit()
    finally:
        resumed.close()
    assert load_config(run / "config.yaml").train.lr == pytest.approx(4e-4)
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    # The lr logged after iteration i is the one iteration i+1 uses: halved after iteration 2.
    assert {r["iteration"]: r["lr"] for r in records} == pytest.approx({1: 1e-3, 2: 2e-4, 3: 2e-4})
    (warning,) = [r.getMessage() for r in caplog.records if "config differs" in r.getMessage()]
    assert "(train.iterations, train.lr, train.weight_decay)" in warning
    assert "the new values apply after iteration 1 (config.yaml holds them)" in warning


def run_folder_files(run: Path) -> dict[str, bytes]:
    """Every file in a run folder with its content."""
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        ({"model": {"num_features": 12}}, "was trained with model"),  # read_resume_checkpoint's check
        ({"train": {"offset_lr_factor": 0.5}}, "cannot change to or from 1"),  # load_state's check
    ],
)
def test_a_refused_resume_changes_nothing_in_the_run_folder(
    clips: Path, tmp_path: Path, capsys: pytest.CaptureFixture, change: dict, refusal: str
) -> None:
    """The run then still resumes with its own config.yaml (which a refused resume used to replace)."""
    run = tmp_path / "run"
    assert run_main(main, ["-c", str(write_tiny(clips, tmp_path, iterations=1)), "--out", str(run)]) == 0
    before = run_folder_files(run)
    changed = write_tiny(clips, tmp_path, name="changed.yaml", iterations=2, **change)
    capsys.readouterr()
    assert run_main(main, ["-c", str(changed), "--out", str(run), "--resume"]) == 2
    err = capsys.readouterr().err
    assert refusal in err.splitlines()[-1] and "Traceback" not in err
    assert run_folder_files(run) == before
    own = ["-c", str(run / "config.yaml"), "--out", str(run), "--resume", "--set", "train.iterations=2"]
    assert run_main(main, own) == 0
    assert load_checkpoint(run / "final.pth")["iteration"] == 2


def write_tiny(clips: Path, folder: Path, name: str = "tiny.yaml", iterations: int = 1, **change) -> Path:
    """The tiny experiment (with ``change``'s sections updated) as a config file."""
    raw = tiny_config(clips, train={"iterations": iterations}).to_dict()
    for section, values in change.items():
        raw[section].update(values)
    path = folder / name
    path.write_text(yaml.safe_dump(raw))
    return path
