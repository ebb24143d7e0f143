"""ERQA (lgfn.evaluation.erqa) against the ``erqa`` package's own numbers, its steps on hand-built edge
maps, and where the scores go in an evaluation (per frame, clip, average, resume).

The expected values of :data:`PACKAGE_SCORES` were computed with the package (erqa 1.1.2, installed
with ``--no-deps`` into a scratch folder beside the headless OpenCV) on real Vid4 frames:

    pip install --no-deps --target /tmp/erqa-pkg erqa==1.1.2
    PYTHONPATH=/tmp/erqa-pkg:. python scripts/erqa_reference.py ../shared/data/Vid4/GT

which prints them; its ``case_frames`` makes the same frame pairs here. Those tests skip without the
real data.
"""

from __future__ import annotations

import csv
import json
import runpy
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from lgfn.data.eval_datasets import FramesDataset
from lgfn.data.io import read_image
from lgfn.errors import ConfigError
from lgfn.evaluation.erqa import best_shift, erqa, f1, match_once, neighbourhood, overlap
from lgfn.evaluation.evaluator import evaluate
from lgfn.evaluation.report import format_table
from lgfn.evaluation.resume import PARTIAL_FILE
from tests.helpers import REPO, shared_data_path

#: ``{(case of scripts/erqa_reference.py, version): the package's score}``.
PACKAGE_SCORES = {
    ("calendar/10/bicubic", "1.0"): 0.4404920569266358,
    ("calendar/10/bicubic", "1.1"): 0.45264847512038525,
    ("city/5/bicubic", "1.0"): 0.10572551040123655,
    ("city/5/bicubic", "1.1"): 0.09985424672055121,
    ("foliage/0/bicubic", "1.0"): 0.3098734749209218,
    ("foliage/0/bicubic", "1.1"): 0.3020272480527632,
    ("walk/46/bicubic", "1.0"): 0.46979131029763943,
    ("walk/46/bicubic", "1.1"): 0.47752133551451603,
    ("calendar/10/shifted", "1.0"): 1.0,
    ("calendar/10/shifted", "1.1"): 1.0,
    ("walk/20/shifted_bicubic", "1.0"): 0.459402890105658,
    ("walk/20/shifted_bicubic", "1.1"): 0.463729280710485,
    # The numbers (0.5950, 0.6315): OpenCV's bicubic, not the MATLAB one of the paper.
    ("calendar/10/opencv_bicubic", "1.0"): 0.5949737970462126,
    ("calendar/10/opencv_bicubic", "1.1"): 0.6314516364060269,
}


def textured(h: int = 64, w: int = 80, seed: int = 0) -> np.ndarray:
    """A smooth random texture with many edges, ``(h, w, 3)`` uint8."""
    rng = np.random.default_rng(seed)
    blurred = cv2.GaussianBlur(rng.uniform(0, 255, (h, w, 3)).astype(np.float32), (0, 0), 2)
    return np.clip((blurred - blurred.mean()) * 5 + 128, 0, 255).astype(np.uint8)


@pytest.mark.parametrize(("case", "version"), list(PACKAGE_SCORES))
def test_the_packages_numbers_on_vid4(case: str, version: str) -> None:
    root = shared_data_path("Vid4", "GT")
    case_frames = runpy.run_path(str(REPO / "scripts" / "erqa_reference.py"))["case_frames"]
    clip, index, kind = case.split("/")
    sr, gt = case_frames(root, clip, int(index), kind)
    assert erqa(sr, gt, version) == pytest.approx(PACKAGE_SCORES[case, version], abs=1e-9)


def test_a_real_frame_against_itself_is_one() -> None:
    gt = read_image(shared_data_path("Vid4", "GT", "city", "00000000.png"))
    assert erqa(gt, gt) == 1.0 and erqa(gt, gt, "1.1") == 1.0


@pytest.mark.parametrize("version", ["1.0", "1.1"])
def test_a_frame_against_itself_or_moved_is_one(version: str) -> None:
    gt = textured()
    assert erqa(gt, gt, version) == 1.0
    moved = np.roll(gt, (2, -3), axis=(0, 1))  # within the 3 pixels the global compensation tries
    assert best_shift(moved, gt) == (2, -3)  # moved[y + 2, x - 3] is gt[y, x]
    assert erqa(moved, gt, version) == 1.0
    assert erqa(np.roll(gt, 5, axis=1), gt, version) < 0.9  # beyond them


def test_overlap_faces_the_shifted_pixels() -> None:
    sr, gt = np.arange(30).reshape(5, 6), np.arange(30).reshape(5, 6) + 100
    a, b = overlap(sr, gt, 2, -1)
    assert a.shape == b.shape == (3, 5)
    assert a[0, 0] == sr[2, 0] and b[0, 0] == gt[0, 1]  # sr[y + 2, x - 1] faces gt[y, x]


def test_matching_wraps_around_the_borders() -> None:
    """As the package's np.roll does: an edge in a corner neighbours the three other corners."""
    mask = np.zeros((5, 7), bool)
    mask[0, 0] = True
    spread = neighbourhood(mask)
    assert spread.sum() == 9
    assert spread[4, 6] and spread[4, 0] and spread[0, 6] and spread[1, 1] and not spread[2, 2]
    gt = np.zeros((5, 7), bool)
    gt[4, 6] = True
    matched, unused = match_once(mask, gt)
    assert matched[0, 0] and not unused.any()


def test_version_1_1_matches_each_ground_truth_pixel_once() -> None:
    """A ground-truth edge one pixel wide against an SR edge two pixels wide."""
    gt, sr = np.zeros((8, 8), bool), np.zeros((8, 8), bool)
    gt[2:6, 3] = True
    sr[2:6, 3:5] = True
    # 1.0: every SR pixel has a ground-truth neighbour: P = R = 1.
    matched = sr & neighbourhood(gt)
    assert matched.sum() == 8 and f1(8, 8, int((gt & ~matched).sum())) == 1.0
    # 1.1: the ground truth's 4 pixels match 4 SR pixels (the unmoved ones first): P = 1/2, R = 1.
    matched, unused = match_once(sr, gt)
    assert (matched == gt).all() and not unused.any()
    assert f1(8, 4, 0) == pytest.approx(2 / 3, abs=1e-15)


def test_f1_without_matches_is_zero() -> None:
    assert f1(0, 0, 5) == 0.0  # no SR edges
    assert f1(4, 0, 0) == 0.0  # no ground-truth edges
    assert f1(4, 0, 3) == 0.0  # edges in both, none matched: the package's 0 / 0 (NaN)
    assert f1(4, 2, 2) == pytest.approx(0.5, abs=1e-15)


def test_flat_frames_have_no_edges_and_score_zero() -> None:
    """The package's rule: nothing to match scores 0, even a frame against itself."""
    flat = np.full((16, 16, 3), 90, np.uint8)
    assert erqa(flat, flat) == 0.0


def test_crop_border_and_bad_arguments() -> None:
    gt = textured()
    sr = cv2.GaussianBlur(gt, (0, 0), 1.5)
    assert erqa(sr, gt, crop_border=4) == erqa(sr[4:-4, 4:-4], gt[4:-4, 4:-4])
    with pytest.raises(ValueError, match="ERQA version '2.0': expected one of 1.0, 1.1"):
        erqa(sr, gt, "2.0")
    with pytest.raises(ValueError, match=r"two \(h, w, 3\) frames of one shape"):
        erqa(sr[:, :-1], gt)


class GivenFrames:
    """An upscaler that returns given frames per clip (the LR input is ignored)."""

    scale = 4

    def __init__(self, clips: list[list[np.ndarray]], stop_at: int | None = None) -> None:
        self.clips, self.calls, self.stop_at = clips, 0, stop_at

    def upscale_clip(self, frames, indices=None):
        if self.calls == self.stop_at:
            raise KeyboardInterrupt
        clip = self.clips[self.calls]
        self.calls += 1
        for index in indices:
            yield index, clip[index]


def test_evaluation_reports_erqa_per_frame_clip_and_average(tmp_path: Path) -> None:
    gt = [textured(seed=seed) for seed in range(4)]
    sr = [cv2.GaussianBlur(frame, (0, 0), 1 + i / 2) for i, frame in enumerate(gt)]
    dataset = FramesDataset({"blurred": gt, "same": gt}, name="toy")  # scores frames 1, 2
    metrics = ("psnr", "ssim", "erqa", "erqa1.1")
    report = evaluate(dataset, GivenFrames([sr, gt]), out_dir=tmp_path, progress=False, metrics=metrics)

    assert report["protocol"]["metrics"] == list(metrics)
    expected = {
        name: [erqa(sr[i], gt[i], version) for i in (1, 2)]
        for name, version in (("erqa", "1.0"), ("erqa1.1", "1.1"))
    }
    for name, values in expected.items():
        assert report["clips"]["blurred"][name] == pytest.approx(np.mean(values), abs=1e-12)
        assert report["clips"]["same"][name] == 1.0
        assert report["average"][name] == pytest.approx((np.mean(values) + 1) / 2, abs=1e-12)
    assert json.loads((tmp_path / "metrics.json").read_text()) == report
    with open(tmp_path / "per_frame.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["clip", "frame", "file", "psnr", "ssim", "erqa", "erqa1.1"]
    assert [float(row["erqa"]) for row in rows[:2]] == pytest.approx(expected["erqa"], abs=1e-6)
    assert [float(row["erqa1.1"]) for row in rows[:2]] == pytest.approx(expected["erqa1.1"], abs=1e-6)
    table = format_table([report]).splitlines()
    assert table[0].split(" | ")[-2:] == ["GivenFrames ERQA", "GivenFrames ERQA 1.1"]


def test_resumed_evaluation_keeps_the_erqa_of_finished_clips(tmp_path: Path) -> None:
    gt = [textured(seed=seed) for seed in range(3)]
    sr = [cv2.GaussianBlur(frame, (0, 0), 1.5) for frame in gt]
    dataset = FramesDataset({"a": gt, "b": gt}, name="toy")
    options = dict(progress=False, metrics=("psnr", "ssim", "erqa"), method="given")
    with pytest.raises(KeyboardInterrupt):
        evaluate(dataset, GivenFrames([sr, gt], stop_at=1), out_dir=tmp_path / "run", **options)
    logged = [json.loads(line) for line in (tmp_path / "run" / PARTIAL_FILE).read_text().splitlines()]
    assert logged[1]["rows"][0]["erqa"] == erqa(sr[1], gt[1])
    shutil.copytree(tmp_path / "run", tmp_path / "cut")
    del logged[1]["rows"][0]["erqa"]
    (tmp_path / "cut" / PARTIAL_FILE).write_text("".join(json.dumps(entry) + "\n" for entry in logged))
    with pytest.raises(ConfigError, match="line 2: clip a: a row without erqa"):
        evaluate(dataset, GivenFrames([gt]), out_dir=tmp_path / "cut", resume=True, **options)
    # Clip a comes from the log: an upscaler that would give other frames is not asked for it.
    resumed = evaluate(dataset, GivenFrames([gt]), out_dir=tmp_path / "run", resume=True, **options)
    fresh = evaluate(dataset, GivenFrames([sr, gt]), out_dir=tmp_path / "fresh", **options)
    assert resumed["clips"] == fresh["clips"] and resumed["clips"]["a"]["erqa"] < 1
