"""Sharded evaluation: the round plan, and ``torchrun test.py`` on two Gloo processes writing the files
that one process writes, also when an interrupted sharded run is resumed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from lgfn import save_checkpoint
from lgfn.cli import evaluate
from lgfn.cli.console import run_main
from lgfn.data.io import write_image
from lgfn.evaluation.sharding import plan_rounds
from lgfn.inference import BicubicUpscaler
from lgfn.models import LGFN
from tests.helpers import REPO, TINY_MODEL, torch_threads, torchrun

FRAMES = {"a": 4, "b": 6, "c": 3, "d": 5}  # clip: frames; inner frames scored


def test_rounds_cover_every_pending_clip_once_longest_first() -> None:
    counts = [2, 9, 4, 9, 1, 5]
    rounds = plan_rounds(counts, [0, 1, 2, 3, 4, 5], world_size=4)
    assert rounds == [[1, 3, 5, 2], [0, 4]]  # ties keep the dataset's order
    assert plan_rounds(counts, [0, 2, 4], world_size=2) == [[2, 0], [4]]
    # One process: the dataset's order, one clip a round.
    assert plan_rounds(counts, [0, 1, 2, 3, 4, 5], world_size=1) == [[0], [1], [2], [3], [4], [5]]
    assert plan_rounds(counts, [], world_size=3) == []


def run_test_py(*argv: str | Path, processes: int) -> subprocess.CompletedProcess:
    """``test.py argv`` as one plain process, or under torchrun with ``processes`` Gloo processes."""
    launcher, env = (
        torchrun(processes) if processes > 1 else ([sys.executable], dict(os.environ, OMP_NUM_THREADS="1"))
    )
    command = [*launcher, str(REPO / "test.py"), *map(str, argv), "--no-progress"]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def clips_and_checkpoint(tmp_path: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    for clip, frames in FRAMES.items():
        for i in range(frames):
            image = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
            write_image(tmp_path / "clips" / clip / f"{i:04d}.png", image)
    torch.manual_seed(0)
    checkpoint = tmp_path / "tiny.pth"
    save_checkpoint(checkpoint, LGFN(scale=4, num_frames=3, **TINY_MODEL))
    return tmp_path / "clips", checkpoint


def outputs(out: Path) -> tuple[dict, str]:
    return json.loads((out / "metrics.json").read_text()), (out / "per_frame.csv").read_text()


@pytest.mark.slow
def test_two_gloo_processes_write_what_one_process_writes_and_resume(
    tmp_path: Path, clips_and_checkpoint: tuple[Path, Path]
) -> None:
    clips, checkpoint = clips_and_checkpoint
    argv = ["--dataset", "folder", "--data-root", clips, "--ckpt", checkpoint, "--save-images"]
    one = run_test_py(*argv, "--out", tmp_path / "one", processes=1)
    assert one.returncode == 0, one.stderr[-3000:]
    two = run_test_py(*argv, "--out", tmp_path / "two", processes=2)
    assert two.returncode == 0, two.stderr[-3000:]

    expected = outputs(tmp_path / "one")
    assert list(expected[0]["clips"]) == list(FRAMES)  # the dataset's order, not the scoring order
    assert outputs(tmp_path / "two") == expected  # the same floats, the same rows, the same figures
    assert expected[0]["figures"] == ["per_frame_psnr.png", "per_frame_ssim.png"] + [
        f"comparison_{clip}.png" for clip in FRAMES
    ]
    for name in expected[0]["figures"]:  # drawn from every process's frames
        assert (tmp_path / "two" / name).read_bytes() == (tmp_path / "one" / name).read_bytes()
    assert not (tmp_path / "two" / "partial.jsonl").exists()
    assert two.stdout.count("clips, 10 scored frames") == 1  # rank 0 alone prints the table
    for clip, frames in FRAMES.items():  # each process wrote the images of its own clips
        assert len(list((tmp_path / "two" / "images" / clip).glob("*.png"))) == frames - 2

    # An unreadable frame of "c" (scored in the second round: b, d | a, c) stops both processes.
    frame = clips / "c" / "0001.png"
    good = frame.read_bytes()
    frame.write_bytes(b"not a png")
    broken = run_test_py(*argv, "--out", tmp_path / "resumed", processes=2)
    assert broken.returncode != 0  # torchrun exits 1 when its processes fail (each exited 2)
    # One error line from each process, naming the frame, and no traceback through the project's code
    # (torchrun's agent adds its own report of the failed processes).
    assert broken.stderr.count("error:") == 2 and "0001.png" in broken.stderr
    assert str(REPO / "lgfn") not in broken.stderr
    log = (tmp_path / "resumed" / "partial.jsonl").read_text().splitlines()
    assert [json.loads(line)["clip"] for line in log[1:-1]] == ["b", "d"]
    assert json.loads(log[-1])["stopped"].startswith("error: ") and "0001.png" in log[-1]  # how it ended

    # Mended, it resumes with another number of processes (here one) and ends as the whole run did.
    frame.write_bytes(good)
    with torch_threads(1):  # as the subprocesses ran
        code = run_main(evaluate.main, [*map(str, argv), "--out", str(tmp_path / "resumed"), "--resume"])
    assert code == 0
    report, rows = outputs(tmp_path / "resumed")
    # b's and d's frames went with the stopped run: no comparison of them, the rest as the whole run.
    kept = [name for name in expected[0]["figures"] if name not in ("comparison_b.png", "comparison_d.png")]
    assert report.pop("figures") == kept
    assert (report, rows) == ({k: v for k, v in expected[0].items() if k != "figures"}, expected[1])


@pytest.mark.slow
def test_two_processes_resume_what_one_process_left(
    tmp_path: Path, clips_and_checkpoint: tuple[Path, Path]
) -> None:
    clips, _ = clips_and_checkpoint
    argv = ["--dataset", "folder", "--data-root", clips, "--method", "bicubic"]
    assert run_test_py(*argv, "--out", tmp_path / "one", processes=1).returncode == 0
    frame = clips / "c" / "0000.png"
    good = frame.read_bytes()
    frame.write_bytes(b"not a png")
    assert run_test_py(*argv, "--out", tmp_path / "resumed", processes=1).returncode == 2  # stops at "c"
    frame.write_bytes(good)

    refused = run_test_py(*argv, "--out", tmp_path / "resumed", processes=2)
    assert refused.returncode != 0 and refused.stderr.count("pass --resume") == 2
    resumed = run_test_py(*argv, "--out", tmp_path / "resumed", "--resume", processes=2)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "2 clip(s) already scored" in resumed.stderr
    (report, rows), (whole, whole_rows) = outputs(tmp_path / "resumed"), outputs(tmp_path / "one")
    # Comparisons of the two clips this run scored (gathered from both processes), curves of all four.
    assert len(report.pop("figures")) == 4 and len(whole.pop("figures")) == 6
    assert (report, rows) == (whole, whole_rows)


@pytest.mark.slow
def test_two_processes_continue_the_frames_one_process_kept(
    tmp_path: Path, clips_and_checkpoint: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    clips, _ = clips_and_checkpoint
    argv = ["--dataset", "folder", "--data-root", clips, "--method", "bicubic", "--metrics", "psnr,ssim,tof"]
    assert run_test_py(*argv, "--out", tmp_path / "one", processes=1).returncode == 0
    real = BicubicUpscaler.upscale_clip

    def stopped_in_b(self, frames, indices=None):
        for index, sr in real(self, frames, indices):
            if len(frames) == FRAMES["b"] and index == 3:
                raise KeyboardInterrupt  # Ctrl-C in b (scores 1 to 4) once 1 and 2 are finished
            yield index, sr

    monkeypatch.setattr(BicubicUpscaler, "upscale_clip", stopped_in_b)
    with torch_threads(1):  # as the subprocesses run
        code = run_main(evaluate.main, [*map(str, argv), "--out", str(tmp_path / "resumed"), "--no-progress"])
    assert code == 130
    log = [json.loads(line) for line in (tmp_path / "resumed" / "partial.jsonl").read_text().splitlines()]
    assert [row["frame"] for line in log if line.get("frames") == "b" for row in line["rows"]] == [1, 2]

    resumed = run_test_py(*argv, "--out", tmp_path / "resumed", "--resume", processes=2)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "1 clip(s) and 2 frame(s) of clip b already scored" in resumed.stderr
    (report, rows), (whole, whole_rows) = outputs(tmp_path / "resumed"), outputs(tmp_path / "one")
    assert "comparison_a.png" not in report.pop("figures") and whole.pop("figures")  # a was scored before
    assert (report, rows) == (whole, whole_rows)
