"""A long clip stopped part-way: its scored frames stay in ``partial.jsonl`` (``frames`` lines), a
resumed run scores only the others, and the report equals an uninterrupted run's."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lgfn.cli.console import run_main
from lgfn.cli.evaluate import main as evaluate_main
from lgfn.data.eval_datasets import FramesDataset
from lgfn.data.io import write_image
from lgfn.errors import ConfigError
from lgfn.evaluation import unfinished
from lgfn.evaluation.evaluator import evaluate
from lgfn.evaluation.resume import PARTIAL_FILE, ResumeLog, ResumeRecord, read_resume_log
from lgfn.evaluation.unfinished import FramesKept
from lgfn.inference import BicubicUpscaler
from tests.helpers import REPO, wait_until


class CountingBicubic(BicubicUpscaler):
    """Bicubic that records which frames it upscaled."""

    def __init__(self) -> None:
        super().__init__(4)
        self.upscaled: list[tuple[int, ...]] = []

    def upscale_clip(self, frames, indices=None):
        self.upscaled.append(tuple(indices))
        yield from super().upscale_clip(frames, indices)


def lines(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / PARTIAL_FILE).read_text().splitlines()]


@pytest.fixture
def dataset(random_frames) -> FramesDataset:
    clips = {"a": random_frames(4, 16, 16, 0), "long": random_frames(9, 16, 16, 1)}
    return FramesDataset(clips, name="toy")


def stop_at(key: str, frame: int, error: type[BaseException] = KeyboardInterrupt):
    def callback(clip: str, index: int, *_) -> None:
        if (clip, index) == (key, frame):
            raise error

    return callback


@pytest.mark.parametrize("metrics", [("psnr", "ssim"), ("psnr", "ssim", "tof")])
def test_a_stopped_clip_keeps_its_scored_frames_and_resumes_after_them(
    tmp_path, dataset, monkeypatch, caplog, metrics
) -> None:
    whole = evaluate(dataset, BicubicUpscaler(4), out_dir=tmp_path / "whole", progress=False, metrics=metrics)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):  # while frame 6 of "long" is scored: frames 1-5 are done
        evaluate(
            dataset, BicubicUpscaler(4), out_dir=out, progress=False, metrics=metrics,
            frame_callback=stop_at("long", 6),
        )  # fmt: skip
    log = lines(out)
    assert [line.get("clip") or line.get("frames") for line in log[1:-1]] == ["a", "long"]
    assert [row["frame"] for row in log[2]["rows"]] == [1, 2, 3, 4, 5]  # the ends are not scored
    assert log[-1] == {"stopped": "interrupted"}
    assert "clip long stopped after 5 of its 7 scored frames" in caplog.text
    assert "--resume scores the other 2" in caplog.text

    upscaler = CountingBicubic()
    resumed = evaluate(
        dataset, upscaler, out_dir=out, progress=False, metrics=metrics, resume=True, method="BicubicUpscaler"
    )
    # Only the frames not kept are upscaled; the pair of frame 6 needs frame 5 once more (tOF).
    assert upscaler.upscaled == [(5, 6, 7) if "tof" in metrics else (6, 7)]
    assert resumed == whole
    for name in ("metrics.json", "per_frame.csv"):
        assert (out / name).read_text() == (tmp_path / "whole" / name).read_text(), name
    assert not (out / PARTIAL_FILE).exists()


def test_frames_are_kept_as_they_come_every_few_seconds(tmp_path, dataset, monkeypatch) -> None:
    """A crash that leaves no time to write loses at most KEEP_SECONDS of scores."""
    monkeypatch.setattr(unfinished, "KEEP_SECONDS", 0.0)  # every frame is due

    def crash(clip: str, index: int, *_) -> None:
        if (clip, index) == ("long", 4):
            raise SystemExit  # stands for a kill: the log is read as it was at that moment
        if clip == "long" and index >= 2:
            kept = [line for line in lines(tmp_path) if line.get("frames") == "long"]
            assert [row["frame"] for line in kept for row in line["rows"]] == list(range(1, index))

    with pytest.raises(SystemExit):
        evaluate(dataset, BicubicUpscaler(4), out_dir=tmp_path, progress=False, frame_callback=crash)
    record = read_resume_log(tmp_path / PARTIAL_FILE)
    assert list(record.clips) == ["a"] and [row["frame"] for row in record.frames["long"]] == [1, 2, 3]


def test_frames_kept_wait_for_their_time_and_stop_keeps_the_rest(tmp_path) -> None:
    now = [0.0]
    log = ResumeLog(tmp_path)
    log.start({"dataset": "toy"}, ResumeRecord())
    kept = FramesKept(log, {"c": "data"}, clock=lambda: now[0])
    kept.begin("c", [], total=5)
    rows = []
    for frame in range(3):
        rows.append({"clip": "c", "frame": frame, "file": f"{frame}.png", "psnr": 30.0, "ssim": 0.9})
        now[0] += 10.0
        kept.scored(rows)
    assert [line.get("frames") for line in lines(tmp_path)] == [None, "c"]  # once, at 30 s
    assert len(lines(tmp_path)[1]["rows"]) == 3
    rows.append({"clip": "c", "frame": 3, "file": "3.png", "psnr": 31.0, "ssim": 0.9})
    kept.scored(rows)  # not due yet
    assert len(lines(tmp_path)) == 2
    kept.stop()
    assert [row["frame"] for row in lines(tmp_path)[2]["rows"]] == [3]  # only the new one


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda line: line["rows"][0].update(psnr="high"), "must be a number"),
        (lambda line: line["rows"].reverse(), "do not follow those kept before"),
        (lambda line: line.update(extra=1), "unknown field"),
        (lambda line: line.update(frames="a"), "finished before this line"),
    ],
)
def test_a_line_of_kept_frames_must_be_whole_and_valid(tmp_path, dataset, edit, message) -> None:
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        evaluate(dataset, BicubicUpscaler(4), out_dir=out, progress=False, frame_callback=stop_at("long", 4))
    log = lines(out)
    edit(log[2])
    (out / PARTIAL_FILE).write_text("".join(json.dumps(line) + "\n" for line in log))
    with pytest.raises(ConfigError, match=message):
        evaluate(dataset, BicubicUpscaler(4), out_dir=out, progress=False, resume=True)


def test_kept_frames_count_as_scores_to_keep(tmp_path, dataset) -> None:
    """A log holding only a clip's kept frames is not dropped unasked."""
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        evaluate(dataset, BicubicUpscaler(4), out_dir=out, progress=False, frame_callback=stop_at("a", 2))
    assert [line.get("frames") for line in lines(out)[1:-1]] == ["a"]
    with pytest.raises(
        ConfigError, match=r"1 frame\(s\) of clip a of an interrupted evaluation .* pass --resume"
    ):
        evaluate(dataset, BicubicUpscaler(4), out_dir=out, progress=False)
    report = evaluate(dataset, BicubicUpscaler(4), out_dir=out, progress=False, resume=True)
    assert report["clips"]["a"]["frames"] == 2 and np.isfinite(report["average"]["psnr"])


@pytest.mark.slow
def test_sigterm_in_a_long_clip_keeps_its_frames_for_resume(tmp_path, random_frames) -> None:
    for index, frame in enumerate(random_frames(120, 128, 128, 3)):
        write_image(tmp_path / "clips" / "long" / f"{index:04d}.png", frame)
    argv = ["--dataset", "folder", "--data-root", str(tmp_path / "clips"), "--method", "bicubic"]
    argv += ["--no-progress", "--save-images"]
    out = tmp_path / "out"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    command = [sys.executable, str(REPO / "test.py"), *argv, "--out", str(out)]
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    try:
        images = out / "images" / "long"
        wait_until(
            lambda: images.is_dir() and len(list(images.glob("*.png"))) >= 3, process, "3 frames scored"
        )
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, stderr
    kept = read_resume_log(out / PARTIAL_FILE).frames["long"]
    assert 3 <= len(kept) < 118, stderr
    assert f"clip long stopped after {len(kept)} of its 118 scored frames" in stderr

    assert run_main(evaluate_main, [*argv, "--out", str(tmp_path / "whole")]) == 0
    assert run_main(evaluate_main, [*argv, "--out", str(out), "--resume"]) == 0
    for name in ("metrics.json", "per_frame.csv"):
        assert (out / name).read_text() == (tmp_path / "whole" / name).read_text(), name
