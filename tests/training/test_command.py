"""The train.py command: overrides, the default run folder, user errors as one line."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from lgfn.checkpoint import load_checkpoint
from lgfn.cli.console import run_main
from lgfn.cli.train import main
from lgfn.config import load_config
from lgfn.training.losses import TrainingLoss
from tests.helpers import tiny_config


def test_cli_trains_with_overrides(clips: Path, tmp_path: Path) -> None:
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_config(clips).to_dict()))
    code = run_main(main, ["-c", str(config), "--out", str(tmp_path / "run"), "--set", "train.iterations=1",
                           "--set", "train.lr=5e-4"])  # fmt: skip
    assert code == 0
    saved = load_config(tmp_path / "run" / "config.yaml")
    assert saved.train.iterations == 1 and saved.train.lr == pytest.approx(5e-4)
    assert load_checkpoint(tmp_path / "run" / "final.pth")["iteration"] == 1


def test_cli_default_run_folder_is_named_after_the_config(clips: Path, tmp_path: Path, monkeypatch) -> None:
    config = tmp_path / "my_experiment.yaml"
    config.write_text(yaml.safe_dump(tiny_config(clips).to_dict()))
    monkeypatch.chdir(tmp_path)
    assert run_main(main, ["-c", str(config), "--set", "train.iterations=1"]) == 0
    assert (tmp_path / "runs" / "my_experiment" / "final.pth").is_file()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"train": {"lrr": 1}}, "unknown key train.lrr"),
        ({"data": {"root": "/nonexistent/clips"}}, "training data folder not found: /nonexistent/clips"),
        ({"data": {"type": "vimeo90k", "root": ""}}, "data.root"),
    ],
)
def test_cli_user_errors_are_one_line_and_exit_2(
    clips: Path, tmp_path: Path, capsys, change, message
) -> None:
    raw = tiny_config(clips).to_dict()
    for section, values in change.items():
        raw[section].update(values)
    config = tmp_path / "bad.yaml"
    config.write_text(yaml.safe_dump(raw))
    assert run_main(main, ["-c", str(config), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err
    assert not (tmp_path / "run").exists()  # a run that failed its checks leaves no folder behind
    if "lrr" in message:
        assert str(config) in err


def test_a_run_with_most_steps_skipped_fails_and_says_so(
    clips: Path, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every loss not finite (what train.lr=.inf did): final.pth is written, but the run fails."""
    monkeypatch.setattr(TrainingLoss, "__call__", lambda self, sr, gt: (sr - gt).abs().mean() * math.nan)
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_config(clips).to_dict()))
    run = tmp_path / "run"
    assert run_main(main, ["-c", str(config), "--out", str(run), "--set", "train.iterations=3"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()  # the log (warnings per step), then the error
    err = lines[-1]
    assert err.startswith("error: 3 of 3 optimisation steps were skipped as not finite")
    assert [line for line in lines if line.startswith("error:")] == [err]
    assert f"the weights in {run / 'final.pth'} are not trustworthy" in err
    assert load_checkpoint(run / "final.pth")["skipped_steps"] == 3
    assert "done:" not in (run / "train.log").read_text()


def test_cli_missing_config_exits_2(tmp_path: Path, capsys) -> None:
    assert run_main(main, ["-c", str(tmp_path / "absent.yaml")]) == 2
    assert "config file not found" in capsys.readouterr().err


def test_a_full_disk_is_one_error_line_and_the_run_resumes(
    clips: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    import errno

    import torch

    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_config(clips).to_dict()))
    argv = ["-c", str(config), "--out", str(tmp_path / "run"), "--set", "train.iterations=3"]
    save, calls = torch.save, []

    def filling_disk(obj, f, *args, **kwargs):
        calls.append(1)
        if len(calls) > 1:  # the first checkpoint fits, the second does not
            raise OSError(errno.ENOSPC, "No space left on device", str(f.name))
        return save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", filling_disk)
    assert run_main(main, argv) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert "Traceback" not in err and len(errors) == 1
    assert "the disk is full" in errors[0] and "--resume" in errors[0] and str(tmp_path / "run") in errors[0]
    assert load_checkpoint(tmp_path / "run" / "latest.pth")["iteration"] == 1  # the saved one, intact
    monkeypatch.undo()
    assert run_main(main, [*argv, "--resume"]) == 0
    assert load_checkpoint(tmp_path / "run" / "final.pth")["iteration"] == 3
