"""The training engine: exact resume, atomic checkpoints, skipped non-finite steps, the run folder, CLI."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import lgfn
from lgfn.checkpoint import load_checkpoint
from lgfn.config import load_config
from lgfn.console import run_main
from lgfn.engine import trainer as trainer_module
from lgfn.engine.trainer import Trainer, capture_rng_states, charbonnier_loss, main, restore_rng_states
from lgfn.errors import ConfigError
from tests.helpers import REPO, TINY_MODEL, tiny_config, write_clips


@pytest.fixture(autouse=True)
def restore_torch_settings():
    """The trainer sets torch's thread count and denormal flushing; give other tests theirs back."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)
    torch.set_flush_denormal(False)


@pytest.fixture
def clips(tmp_path: Path) -> Path:
    return write_clips(tmp_path / "clips")


def weights(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path)["state_dict"]


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


# ------------------------------------------------------------------------------------------------
# Exact resume


def test_stopping_and_resuming_gives_the_same_weights(clips: Path, tmp_path: Path) -> None:
    config = tiny_config(clips, train={"epochs": 2})  # 4 iterations, 2 per epoch
    full = Trainer(config, tmp_path / "full").fit()
    # Stop after 1 iteration, in the middle of the first epoch, then resume to the end.
    Trainer(tiny_config(clips, train={"epochs": 2, "iterations": 1}), tmp_path / "split").fit()
    assert load_checkpoint(tmp_path / "split" / "latest.pth")["iteration"] == 1
    # What a run killed after its last checkpoint leaves behind: later records, a cut-off line.
    with (tmp_path / "split" / "metrics.jsonl").open("a") as f:
        f.write('{"kind": "train", "iteration": 2, "loss": 9.9}\n{"kind": "tra')
    resumed = Trainer(config, tmp_path / "split", resume=True)
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


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_after_the_iteration_saves_and_resumes_exactly(
    clips: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    signum: int,
) -> None:
    config = tiny_config(clips, train={"epochs": 2, "save_every": 0})  # 4 iterations, no periodic saves
    full = Trainer(config, tmp_path / "full").fit()
    real_step = Trainer.train_step

    def signalled_in_iteration_two(self, batch):
        if self.iteration == 1:
            os.kill(os.getpid(), signum)  # arrives in the middle of the step
        return real_step(self, batch)

    with monkeypatch.context() as patch:
        patch.setattr(Trainer, "train_step", signalled_in_iteration_two)
        with pytest.raises(KeyboardInterrupt):
            Trainer(config, tmp_path / "run").fit()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handlers given back
    assert load_checkpoint(tmp_path / "run" / "latest.pth")["iteration"] == 2  # the step was finished
    assert "stopped at iteration 2 of 4" in caplog.text and "--resume" in caplog.text
    Trainer(config, tmp_path / "run", resume=True).fit()
    assert_same_weights(weights(full), weights(tmp_path / "run" / "final.pth"))


def test_a_second_ctrl_c_stops_at_once(clips: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_step = Trainer.train_step

    def impatient(self, batch):
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)
        return real_step(self, batch)

    monkeypatch.setattr(Trainer, "train_step", impatient)
    with pytest.raises(KeyboardInterrupt):
        Trainer(tiny_config(clips, train={"save_every": 0}), tmp_path / "run").fit()
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


def test_schedule_halves_the_lr_at_each_milestone_epoch(clips: Path, tmp_path: Path) -> None:
    # 8 samples, global batch 4: 2 iterations per epoch; milestones after epochs 1 and 2.
    trainer = Trainer(tiny_config(clips, train={"save_every": 0, "iterations": 5}), tmp_path / "run")
    trainer.fit()
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    lrs = {r["iteration"]: r["lr"] for r in records if r["kind"] == "train"}
    # The lr logged after iteration i is the one iteration i+1 uses.
    assert lrs == pytest.approx({1: 1e-3, 2: 5e-4, 3: 5e-4, 4: 2.5e-4, 5: 2.5e-4})


def test_rng_states_round_trip() -> None:
    import random

    states = capture_rng_states()
    expected = (torch.rand(3), np.random.rand(2), random.random())  # noqa: NPY002
    restore_rng_states(states)
    again = (torch.rand(3), np.random.rand(2), random.random())  # noqa: NPY002
    assert torch.equal(expected[0], again[0]) and np.array_equal(expected[1], again[1])
    assert expected[2] == again[2]


# ------------------------------------------------------------------------------------------------
# Checkpoints


def test_a_failed_checkpoint_write_leaves_the_previous_one_intact(
    clips: Path, tmp_path: Path, monkeypatch
) -> None:
    run = tmp_path / "run"
    Trainer(tiny_config(clips, train={"iterations": 1}), run).fit()
    before = load_checkpoint(run / "latest.pth")
    trainer = Trainer(tiny_config(clips), run, resume=True)
    trainer.setup()
    batch = next(iter(trainer.loader))
    trainer.train_step(batch)
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
    Trainer(tiny_config(clips, train={"iterations": 4, "keep_last": 2}), run).fit()
    assert sorted(p.name for p in run.glob("iter_*.pth")) == ["iter_00000003.pth", "iter_00000004.pth"]
    assert load_checkpoint(run / "iter_00000003.pth")["iteration"] == 3


def test_a_run_folder_that_is_a_file(clips: Path, tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("not a folder")
    with pytest.raises(ConfigError, match="cannot make the run folder"):
        Trainer(tiny_config(clips, train={"iterations": 1}), tmp_path / "afile").fit()


def test_an_existing_run_needs_resume(clips: Path, tmp_path: Path) -> None:
    Trainer(tiny_config(clips, train={"iterations": 1}), tmp_path / "run").fit()
    with pytest.raises(ConfigError, match="--resume"):
        Trainer(tiny_config(clips, train={"iterations": 1}), tmp_path / "run").fit()


# ------------------------------------------------------------------------------------------------
# Non-finite steps


def test_a_nan_batch_is_skipped_and_counted(clips: Path, tmp_path: Path) -> None:
    trainer = Trainer(tiny_config(clips), tmp_path / "run")
    trainer.setup()
    try:
        batch = next(iter(trainer.loader))
        bad = dict(batch, lq=batch["lq"].clone())
        bad["lq"][0, 0, 0, 0, 0] = math.nan
        before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
        loss, applied = trainer.train_step(bad)
        assert not applied and math.isnan(loss)
        assert trainer.skipped_steps == 1 and trainer.iteration == 1
        assert_same_weights(before, trainer.model.state_dict())
        assert trainer.optimizer.state_dict()["state"] == {}  # Adam never stepped
        assert all(p.grad is None for p in trainer.model.parameters())
        # A finite batch whose loss is NaN, then one whose loss is finite but whose gradient is not
        # (sqrt has an infinite slope at 0).
        losses = [
            lambda sr, gt: (sr - gt).abs().mean() * math.nan,
            lambda sr, gt: torch.sqrt((sr - sr.detach()).abs().sum()),
        ]
        for number, loss_function in enumerate(losses, start=2):
            trainer.loss_function = loss_function
            loss, applied = trainer.train_step(batch)
            assert not applied and trainer.skipped_steps == number and trainer.iteration == number
            assert_same_weights(before, trainer.model.state_dict())
            assert trainer.optimizer.state_dict()["state"] == {}
        assert loss == 0.0  # the last loss itself was finite
        del trainer.loss_function
        loss, applied = trainer.train_step(batch)
        assert applied and math.isfinite(loss) and trainer.skipped_steps == 3
        assert any(not torch.equal(before[k], v) for k, v in trainer.model.state_dict().items())
    finally:
        trainer.close()


def test_charbonnier_loss_matches_its_definition() -> None:
    sr = torch.tensor([0.0, 0.5, 1.0])
    gt = torch.tensor([0.0, 0.2, 0.0])
    expected = (0.1 + math.sqrt(0.09 + 0.01) + math.sqrt(1 + 0.01)) / 3
    assert charbonnier_loss(sr, gt, eps=0.1).item() == pytest.approx(expected, rel=1e-6)


# ------------------------------------------------------------------------------------------------
# The run folder


def test_run_folder_holds_config_revision_metrics_and_loadable_models(clips: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    config = tiny_config(
        clips,
        train={"iterations": 2},
        val={"dataset": "folder", "root": str(clips), "every": 1},
        log={"tensorboard": True, "images": 1},
    )
    Trainer(config, run).fit()
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


# ------------------------------------------------------------------------------------------------
# Command line


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
    if "lrr" in message:
        assert str(config) in err


def test_cli_missing_config_exits_2(tmp_path: Path, capsys) -> None:
    assert run_main(main, ["-c", str(tmp_path / "absent.yaml")]) == 2
    assert "config file not found" in capsys.readouterr().err


def test_trainer_module_builds_each_data_type(clips: Path, tmp_path: Path) -> None:
    vimeo = tiny_config(clips, data={"type": "vimeo90k", "root": str(tmp_path / "v")})
    assert type(trainer_module.build_train_dataset(vimeo, tmp_path)).__name__ == "Vimeo90KDataset"
    videos = tiny_config(clips, data={"type": "video_files", "videos": ["sample:bikes"]})
    assert type(trainer_module.build_train_dataset(videos, tmp_path)).__name__ == "VideoFileDataset"
    with pytest.raises(ConfigError, match="data.videos"):
        trainer_module.build_train_dataset(tiny_config(clips, data={"type": "video_files"}), tmp_path)
    assert trainer_module.build_val_dataset(tiny_config(clips)) is None
    with pytest.raises(ConfigError, match="val.root"):
        trainer_module.build_val_dataset(tiny_config(clips, val={"dataset": "vid4"}))


def test_a_bad_frame_read_in_a_loader_worker_is_one_line(clips: Path, tmp_path: Path, capsys) -> None:
    (clips / "clip1" / "0002.png").write_bytes(b"not a png")
    raw = tiny_config(clips, data={"num_workers": 1}).to_dict()
    config = tmp_path / "bad_frame.yaml"
    config.write_text(yaml.safe_dump(raw))
    assert run_main(main, ["-c", str(config), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = [line for line in err.splitlines() if line.startswith("error: ")]
    assert "0002.png" in line


def test_pretrained_weights_start_the_run_and_a_mismatch_is_clear(clips: Path, tmp_path: Path) -> None:
    first = Trainer(tiny_config(clips, train={"epochs": 1}), tmp_path / "first").fit()
    export = tmp_path / "slim.pth"  # what scripts/export_checkpoint.py --half writes
    lgfn.save_checkpoint(export, lgfn.load_model(first).half(), {"iteration": 2})
    trainer = Trainer(tiny_config(clips, train={"pretrained": str(export)}), tmp_path / "second")
    trainer.setup()
    for key, value in weights(first).items():
        torch.testing.assert_close(trainer.model.state_dict()[key], value, atol=1e-3, rtol=1e-3)
    assert next(trainer.model.parameters()).dtype == torch.float32
    wider = tiny_config(clips, model={"num_features": 8}, train={"pretrained": str(export)})
    with pytest.raises(lgfn.CheckpointError, match=r"slim\.pth does not fit this LGFN configuration"):
        Trainer(wider, tmp_path / "third").setup()


def test_trainable_parts_train_and_the_rest_keep_their_weights(clips: Path, tmp_path: Path) -> None:
    start = Trainer(tiny_config(clips, train={"epochs": 1}), tmp_path / "start").fit()
    config = tiny_config(clips, train={"epochs": 1, "pretrained": str(start), "trainable": ["rg", "tail"]})
    trainer = Trainer(config, tmp_path / "tuned")
    trainer.setup()
    assert {id(p) for group in trainer.optimizer.param_groups for p in group["params"]} == {
        id(p) for name, p in trainer.model.named_parameters() if name.startswith(("rg.", "tail."))
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
        Trainer(config, tmp_path / "run").setup()


@pytest.mark.parametrize("backend", ["torchvision", "grid_sample"])
def test_cpu_training_points_to_the_faster_deformable_backend(
    clips: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, backend: str
) -> None:
    trainer = Trainer(tiny_config(clips, model={"dcn_backend": backend}), tmp_path / "run")
    with caplog.at_level("INFO", logger="lgfn"):
        trainer.setup()
    trainer.close()
    assert ("model.dcn_backend=grid_sample" in caplog.text) == (backend == "torchvision")
