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


def test_a_run_folders_own_config_resumes_that_run(clips: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    """``-c runs/x/config.yaml --resume`` without --out continues runs/x (it used to start runs/config)."""
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_config(clips).to_dict()))
    monkeypatch.chdir(tmp_path)
    assert run_main(main, ["-c", str(config), "--out", "runs/x", "--set", "train.iterations=1"]) == 0
    own = str(Path("runs", "x", "config.yaml"))
    capsys.readouterr()
    assert run_main(main, ["-c", own]) == 2  # without --resume: refused, not a new run elsewhere
    assert "runs/x already holds a training run (latest.pth); pass --resume" in capsys.readouterr().err
    assert run_main(main, ["-c", own, "--resume", "--set", "train.iterations=2"]) == 0
    assert "resumed from runs/x/latest.pth at iteration 1" in capsys.readouterr().err
    assert load_checkpoint(tmp_path / "runs" / "x" / "final.pth")["iteration"] == 2
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["x"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"train:\n  pretrained: caf\xe9.pth\n", "line 2: not UTF-8 text (byte 0xe9); save it as UTF-8"),
        (
            b"train:\n  lr: 1" + b"0" * 399 + b"\n",
            "train.lr = 100000000000... (400 digits): expected a finite",
        ),
        (b"train:\n  seed: -1\n", "train.seed = -1 must be >= 0"),
        (
            b"train:\n  seed: 18446744073709551616\n",
            "train.seed = 18446744073709551616: expected an integer of",
        ),
        (b"train:\n  num_threads: 1000000\n", "train.num_threads = 1000000 is more than 4 per CPU core"),
        (b"data:\n  num_workers: 1000000\n", "data.num_workers = 1000000 is more than 4 per CPU core"),
        (b"train:\n  lr_milestones: [-1]\n", "train.lr_milestones must be epochs >= 1"),
    ],
)
def test_bad_config_values_are_one_error_line(
    clips: Path, tmp_path: Path, capsys, text: bytes, message: str
) -> None:
    odd = tmp_path / "odd.yaml"
    odd.write_bytes(text)
    argv = ["-c", str(odd), "--out", str(tmp_path / "run"), "--set", f"data.root={clips}"]
    argv += ["--set", "data.type=frame_folders", "--set", "train.device=cpu"]
    assert run_main(main, argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert err.startswith("error: ") and message in err
    assert not (tmp_path / "run").exists()
