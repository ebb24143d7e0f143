"""Ctrl-C and SIGTERM: the run stops after the iteration in progress, saves, and resumes exactly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from lgfn.checkpoint import load_checkpoint
from lgfn.training.optimisation import Optimisation
from lgfn.training.trainer import Trainer
from tests.helpers import REPO, assert_same_weights, tiny_config, weights


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_after_the_iteration_saves_and_resumes_exactly(
    clips: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    signum: int,
) -> None:
    config = tiny_config(clips, train={"epochs": 2, "save_every": 0})  # 4 iterations, no periodic saves
    full = Trainer.build(config, tmp_path / "full").fit()
    real_step = Optimisation.step

    def signalled_in_iteration_two(self, batch):
        if self.iteration == 1:
            os.kill(os.getpid(), signum)  # arrives in the middle of the step
        return real_step(self, batch)

    with monkeypatch.context() as patch:
        patch.setattr(Optimisation, "step", signalled_in_iteration_two)
        with pytest.raises(KeyboardInterrupt):
            Trainer.build(config, tmp_path / "run").fit()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handlers given back
    assert load_checkpoint(tmp_path / "run" / "latest.pth")["iteration"] == 2  # the step was finished
    assert "stopped at iteration 2 of 4" in caplog.text and "--resume" in caplog.text
    Trainer.build(config, tmp_path / "run", resume=True).fit()
    assert_same_weights(weights(full), weights(tmp_path / "run" / "final.pth"))


def test_a_second_ctrl_c_stops_at_once(clips: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_step = Optimisation.step

    def impatient(self, batch):
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)
        return real_step(self, batch)

    monkeypatch.setattr(Optimisation, "step", impatient)
    with pytest.raises(KeyboardInterrupt):
        Trainer.build(tiny_config(clips, train={"save_every": 0}), tmp_path / "run").fit()
    assert not (tmp_path / "run" / "latest.pth").exists()  # no step was finished, nothing saved
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.slow
def test_ctrl_c_to_the_process_group_with_loader_workers(clips: Path, tmp_path: Path) -> None:
    """A terminal's Ctrl-C reaches train.py and its loader workers alike."""
    config_file = tmp_path / "run.yaml"
    config = tiny_config(clips, train={"epochs": 40, "save_every": 0}, data={"num_workers": 2})
    config_file.write_text(yaml.safe_dump(config.to_dict()))
    command = [sys.executable, str(REPO / "train.py"), "-c", str(config_file), "--out", str(tmp_path / "run")]
    process = subprocess.Popen(command, start_new_session=True, stderr=subprocess.PIPE, text=True)
    metrics = tmp_path / "run" / "metrics.jsonl"
    deadline = time.monotonic() + 60
    while not (metrics.exists() and metrics.read_text().count("\n") >= 2) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    stopped = load_checkpoint(tmp_path / "run" / "latest.pth")["iteration"]
    assert 2 <= stopped < 80 and f"stopped at iteration {stopped} of 80" in stderr
