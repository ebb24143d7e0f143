"""The run folder: what it holds, atomic checkpoints and their rotation, records dropped on resume."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

import lgfn
from lgfn.checkpoint import load_checkpoint
from lgfn.config import load_config
from lgfn.errors import ConfigError
from lgfn.training.run_record import RunRecord
from lgfn.training.trainer import Trainer
from tests.helpers import assert_same_weights, tiny_config, weights


def test_a_failed_checkpoint_write_leaves_the_previous_one_intact(
    clips: Path, tmp_path: Path, monkeypatch
) -> None:
    run = tmp_path / "run"
    Trainer.build(tiny_config(clips, train={"iterations": 1}), run).fit()
    before = load_checkpoint(run / "latest.pth")
    trainer = Trainer.build(tiny_config(clips), run, resume=True)
    batch = next(iter(trainer.data.loader))
    trainer.optimisation.step(batch)
    real_save = torch.save

    def save_half_then_fail(obj, f, *args, **kwargs):
        real_save(obj, f, *args, **kwargs)
        f.seek(0)
        f.truncate(100)  # a partly written file, then the crash
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", save_half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        trainer.save()
    trainer.close()
    after = load_checkpoint(run / "latest.pth")
    assert after["iteration"] == before["iteration"] == 1
    assert_same_weights(after["state_dict"], before["state_dict"])
    assert not [p.name for p in run.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_keep_last_rotates_iteration_checkpoints(clips: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    Trainer.build(tiny_config(clips, train={"iterations": 4, "keep_last": 2}), run).fit()
    assert sorted(p.name for p in run.glob("iter_*.pth")) == ["iter_00000003.pth", "iter_00000004.pth"]
    assert load_checkpoint(run / "iter_00000003.pth")["iteration"] == 3
    assert not [p.name for p in run.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_a_run_folder_that_is_a_file(clips: Path, tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("not a folder")
    with pytest.raises(ConfigError, match="cannot make the run folder"):
        Trainer.build(tiny_config(clips, train={"iterations": 1}), tmp_path / "afile").fit()


def test_an_existing_run_needs_resume(clips: Path, tmp_path: Path) -> None:
    Trainer.build(tiny_config(clips, train={"iterations": 1}), tmp_path / "run").fit()
    with pytest.raises(ConfigError, match="--resume"):
        Trainer.build(tiny_config(clips, train={"iterations": 1}), tmp_path / "run").fit()


def test_run_folder_holds_config_revision_metrics_and_loadable_models(clips: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    config = tiny_config(
        clips,
        train={"iterations": 2},
        val={"dataset": "folder", "root": str(clips), "every": 1},
        log={"tensorboard": True, "images": 1},
    )
    Trainer.build(config, run).fit()
    assert load_config(run / "config.yaml").to_dict() == config.to_dict()
    revision = (run / "git_revision.txt").read_text().strip()
    assert revision == "unknown" or len(revision) == 40
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [(r["kind"], r["iteration"]) for r in records] == [
        ("train", 1),
        ("val", 1),
        ("train", 2),
        ("val", 2),
    ]
    assert set(records[1]["clips"]) == {"clip0", "clip1"}
    table = (run / "validation.csv").read_text().splitlines()
    assert table[0] == "iteration,epoch,psnr,ssim" and len(table) == 3
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    best_iteration = max((r for r in records if r["kind"] == "val"), key=lambda r: r["psnr"])["iteration"]
    assert load_checkpoint(run / "best.pth")["iteration"] == best_iteration
    final = lgfn.load_model(run / "final.pth")
    assert final.num_frames == 3 and not final.training
    assert_same_weights(final.state_dict(), weights(run / "latest.pth"))
    lgfn.load_model(run / "best.pth")
    assert "validation PSNR" in (run / "train.log").read_text()


def test_records_past_the_resumed_iteration_are_dropped(clips: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    lines = [{"kind": "train", "iteration": i, "loss": 0.5} for i in (1, 2, 3)]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines) + '{"kind": "va')
    # validation.csv as the csv module writes it (\r\n line ends), kept byte for byte.
    (run / "validation.csv").write_bytes(b"iteration,epoch,psnr,ssim\r\n2,1,20.5,0.5\r\n3,1,21.0,0.6\r\n")
    record = RunRecord.create(run, tiny_config(clips), resume=True)
    try:
        record.drop_records_after(2)
    finally:
        record.close()
    assert (run / "metrics.jsonl").read_text() == "".join(json.dumps(r) + "\n" for r in lines[:2])
    assert (run / "validation.csv").read_bytes() == b"iteration,epoch,psnr,ssim\r\n2,1,20.5,0.5\r\n"
    assert not [p.name for p in run.iterdir() if p.name.startswith(".")]  # no temporary files left


REPO = Path(__file__).resolve().parents[2]


def train_py(config: Path, run: Path, *options: str) -> subprocess.Popen:
    """``train.py -c config --out run`` in a process of its own."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, str(REPO / "train.py"), "-c", str(config), "--out", str(run), *options]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_second_run_on_a_run_folder_in_use_is_refused_before_any_checkpoint(
    clips: Path, tmp_path: Path
) -> None:
    """Two train.py on one folder: the second says who holds it and leaves every file as it was."""
    run = tmp_path / "run"
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_config(clips, train={"iterations": 1}).to_dict()))
    first = Trainer.build(load_config(config), run)  # holds the folder; no latest.pth yet
    try:
        assert (run / "lock").read_text() == str(os.getpid())
        before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
        second = train_py(config, run)
        _, err = second.communicate(timeout=300)
        assert second.returncode == 2, err
        assert err.strip().splitlines()[-1] == (
            f"error: the run folder {run} is in use by another training run (process {os.getpid()}); "
            "wait for it or stop it first, or pass --out to train into another folder"
        )
        assert "Traceback" not in err
        assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before
        with pytest.raises(ConfigError, match=f"the run folder {run} is in use by another trainer of this"):
            Trainer.build(load_config(config), run)  # the same process twice: refused as well
        assert (run / "lock").read_text() == str(os.getpid())  # still the first trainer's
        first.fit()
    finally:
        first.close()
    assert not (run / "lock").exists()  # released: the folder is free again
    assert load_checkpoint(run / "final.pth")["iteration"] == 1


def test_a_killed_runs_lock_does_not_block_its_resume(clips: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    config = tmp_path / "long.yaml"
    config.write_text(yaml.safe_dump(tiny_config(clips, train={"epochs": 500}).to_dict()))
    killed = train_py(config, run)
    try:
        deadline = time.monotonic() + 120
        while not (run / "latest.pth").exists() and killed.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert (run / "lock").read_text() == str(killed.pid)
        with pytest.raises(ConfigError, match=rf"in use by another training run \(process {killed.pid}\)"):
            Trainer.build(load_config(config), run, resume=True)
    finally:
        killed.kill()  # SIGKILL: no way out runs, the lock file stays behind
        killed.communicate(timeout=60)
    assert (run / "lock").read_text() == str(killed.pid)
    resumed = Trainer.build(load_config(config), run, resume=True)
    try:
        assert (run / "lock").read_text() == str(os.getpid()) and resumed.iteration >= 1
    finally:
        resumed.close()
    assert not (run / "lock").exists()
