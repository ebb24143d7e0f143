"""tOF (lgfn.evaluation.temporal) and the ``tof`` metric of an evaluation: hand-built flows, identical
clips, shifted clips, and where the numbers go (metrics.json, per_frame.csv, the resume settings)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from lgfn.data.eval_datasets import FramesDataset
from lgfn.errors import ConfigError
from lgfn.evaluation.evaluator import evaluate
from lgfn.evaluation.report import format_table
from lgfn.evaluation.scoring import check_metrics
from lgfn.evaluation.temporal import endpoint_difference, farneback_flow, grey, tof


def textured(h: int = 96, w: int = 128, seed: int = 0) -> np.ndarray:
    """A smooth random texture with strong gradients everywhere: Farneback flow finds its motion."""
    rng = np.random.default_rng(seed)
    blurred = cv2.GaussianBlur(rng.uniform(0, 255, (h, w, 3)).astype(np.float32), (0, 0), 3)
    return np.clip((blurred - blurred.mean()) * 4 + 128, 0, 255).astype(np.uint8)


class GivenFrames:
    """An upscaler that returns given frames per clip (the LR input is ignored)."""

    scale = 4

    def __init__(self, clips: list[list[np.ndarray]]) -> None:
        self.clips, self.calls = clips, 0

    def upscale_clip(self, frames, indices=None):
        clip = self.clips[self.calls]
        self.calls += 1
        for index in indices:
            yield index, clip[index]


def test_endpoint_difference_by_hand() -> None:
    flow = np.zeros((2, 2, 2), np.float32)
    flow[0, 0] = (3, 4)  # 5 pixels off
    flow[1, 1] = (0, -1)  # 1 pixel off
    assert endpoint_difference(flow, np.zeros_like(flow)) == pytest.approx(6 / 4)
    assert endpoint_difference(flow, flow) == 0


def test_grey_is_opencv_grey_cropped() -> None:
    frame = textured(32, 40)
    assert grey(frame).shape == (32, 40) and grey(frame).dtype == np.uint8
    assert np.array_equal(grey(frame, crop_border=4), cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)[4:-4, 4:-4])


def test_identical_clips_give_zero() -> None:
    a, b = textured(seed=1), textured(seed=2)
    assert tof(a, b, a, b) == 0.0
    # The same motion with every frame displaced alike (a blurry or misplaced SR that does not
    # flicker): PSNR suffers, tOF does not.
    shifted = [np.roll(frame, 5, axis=1) for frame in (a, a)]
    # (Farneback finds a few thousandths of a pixel of motion between two identical frames.)
    assert tof(*shifted, a, a) == pytest.approx(0, abs=0.01)


@pytest.mark.parametrize("shift", [1, 2, 3])
def test_a_shifted_frame_gives_the_shift(shift: int) -> None:
    still = textured()
    moved = np.roll(still, shift, axis=1)  # shift pixels to the right
    flow = farneback_flow(grey(still), grey(moved))
    assert np.median(flow[..., 0]) == pytest.approx(shift, abs=0.05)
    assert np.median(flow[..., 1]) == pytest.approx(0, abs=0.05)
    # SR moves where the ground truth stands still, and the other way round: tOF is the shift.
    assert tof(still, moved, still, still) == pytest.approx(shift, abs=0.1)
    assert tof(still, still, still, moved) == pytest.approx(shift, abs=0.1)
    assert tof(still, moved, still, moved) == 0.0


def test_check_metrics() -> None:
    assert check_metrics(["tof", "ssim", "psnr"]) == ("psnr", "ssim", "tof")
    with pytest.raises(ConfigError, match="unknown metric.*lpips"):
        check_metrics(["psnr", "ssim", "lpips"])
    with pytest.raises(ConfigError, match="must include psnr, ssim"):
        check_metrics(["tof"])


def _jittering_clip(num: int = 5, jitter: int = 2) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A still ground truth and an SR whose odd frames move ``jitter`` pixels: flicker that tOF sees."""
    gt = [textured()] * num
    sr = [np.roll(frame, jitter if i % 2 else 0, axis=1) for i, frame in enumerate(gt)]
    return gt, sr


def test_evaluation_reports_tof_per_frame_clip_and_average(tmp_path: Path) -> None:
    gt, sr = _jittering_clip()
    dataset = FramesDataset({"jitter": gt, "still": gt}, name="toy")  # scores frames 1, 2, 3
    upscaler = GivenFrames([sr, gt])
    report = evaluate(dataset, upscaler, out_dir=tmp_path, progress=False, metrics=("psnr", "ssim", "tof"))

    assert report["protocol"]["metrics"] == ["psnr", "ssim", "tof"]
    # Pairs (1, 2) and (2, 3): the jittering SR moves 2 pixels in each, the ground truth not at all.
    assert report["clips"]["jitter"]["tof"] == pytest.approx(2, abs=0.2)
    assert report["clips"]["still"]["tof"] == 0
    average = (report["clips"]["jitter"]["tof"] + report["clips"]["still"]["tof"]) / 2
    assert report["average"]["tof"] == pytest.approx(average)
    assert json.loads((tmp_path / "metrics.json").read_text()) == report

    with open(tmp_path / "per_frame.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["clip", "frame", "file", "psnr", "ssim", "tof"]
    jitter = [row for row in rows if row["clip"] == "jitter"]
    assert [row["frame"] for row in jitter] == ["1", "2", "3"]
    assert jitter[0]["tof"] == ""  # frame 0 is not scored: no pair ends at frame 1
    pairs = [float(row["tof"]) for row in jitter[1:]]
    assert np.mean(pairs) == pytest.approx(report["clips"]["jitter"]["tof"], abs=1e-6)
    assert pairs[0] == pytest.approx(tof(sr[1], sr[2], gt[1], gt[2]), abs=1e-6)

    table = format_table([report]).splitlines()
    assert table[0].split(" | ")[-1] == "GivenFrames tOF"
    assert table[-1].split(" | ")[-1].strip() == f"{report['average']['tof']:.3f}"


def test_default_metrics_write_no_tof(tmp_path: Path) -> None:
    gt, _ = _jittering_clip()
    report = evaluate(
        FramesDataset({"a": gt}, name="toy"), GivenFrames([gt]), out_dir=tmp_path, progress=False
    )
    assert "tof" not in report["clips"]["a"] and "tof" not in report["average"]
    assert (tmp_path / "per_frame.csv").read_text().splitlines()[0] == "clip,frame,file,psnr,ssim"


def test_resume_refuses_another_metric_set(tmp_path: Path) -> None:
    gt, sr = _jittering_clip()
    dataset = FramesDataset({"a": gt, "b": gt}, name="toy")

    class Interrupted(GivenFrames):
        def upscale_clip(self, frames, indices=None):
            if self.calls == 1:
                raise KeyboardInterrupt
            yield from super().upscale_clip(frames, indices)

    with pytest.raises(KeyboardInterrupt):
        evaluate(dataset, Interrupted([sr, gt]), out_dir=tmp_path, progress=False, method="given")
    with pytest.raises(ConfigError, match="protocol.metrics"):
        evaluate(
            dataset,
            GivenFrames([gt]),
            out_dir=tmp_path,
            progress=False,
            resume=True,
            metrics=["psnr", "ssim", "tof"],
        )
    resumed = evaluate(
        dataset, GivenFrames([gt]), out_dir=tmp_path, progress=False, resume=True, method="given"
    )
    assert list(resumed["clips"]) == ["a", "b"]
