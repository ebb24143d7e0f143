"""Scoring clips: hand-worked and independently computed PSNR, saved frames, the frame callback, the
errors of a misbehaving upscaler, the LGFN resolver through the evaluator and the Vid4 Bicubic row."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from lgfn.data.degradations import bicubic_upscale
from lgfn.data.eval_datasets import FramesDataset, Vid4Dataset
from lgfn.data.io import read_image, write_image
from lgfn.errors import ConfigError
from lgfn.evaluation.evaluator import evaluate
from lgfn.evaluation.scoring import mean_or_none, score_clip
from lgfn.inference import BicubicUpscaler, VideoSuperResolver
from tests.helpers import shared_data_path


def _luma_psnr(a: np.ndarray, b: np.ndarray) -> float:
    """BT.601 luma PSNR written out independently of lgfn.metrics."""
    weights = np.array([65.481, 128.553, 24.966]) / 255.0
    diff = (a.astype(np.float64) - b.astype(np.float64)) @ weights
    return 10 * math.log10(255.0**2 / np.mean(diff**2))


def test_score_clip_rows_images_and_callback_order(tmp_path: Path, random_frames, offset_upscaler) -> None:
    frames = random_frames(5, 16, 24, seed=0, high=250)
    item = FramesDataset({"a": frames})[0]
    events = []

    def callback(key: str, index: int, sr: np.ndarray, gt: np.ndarray) -> None:
        # The image is already on disk when the callback sees the frame.
        events.append((key, index, (tmp_path / "a" / f"{index:08d}.png").exists()))
        np.testing.assert_array_equal(gt, frames[index])

    scores = score_clip(
        item, offset_upscaler([frames], offsets=[1]), "offset", image_dir=tmp_path, frame_callback=callback
    )
    expected = 20 * math.log10(255.0) - 20 * math.log10(219 / 255)  # a constant offset of 1 level
    assert events == [("a", 1, True), ("a", 2, True), ("a", 3, True)]
    assert [(r["clip"], r["frame"], r["file"]) for r in scores.rows] == [
        ("a", i, f"{i:08d}.png") for i in (1, 2, 3)
    ]
    assert scores.result["frames"] == 3
    assert scores.result["psnr"] == pytest.approx(expected, abs=1e-9)
    assert scores.result["ssim"] == pytest.approx(np.mean([r["ssim"] for r in scores.rows]))
    np.testing.assert_array_equal(read_image(tmp_path / "a" / "00000002.png"), frames[2] + np.uint8(1))
    assert mean_or_none([]) is None and mean_or_none([1.0, 2.0]) == 1.5


def test_score_clip_refuses_a_frame_of_the_wrong_size(random_frames) -> None:
    item = FramesDataset({"c": random_frames(3, 16, 16, seed=0)})[0]

    class Shrinking(BicubicUpscaler):
        def upscale_clip(self, frames, indices=None):
            for index, sr in super().upscale_clip(frames, indices):
                yield index, sr[:-1]

    with pytest.raises(RuntimeError, match=r"bicubic returned a \(15, 16, 3\) frame for clip c frame 1"):
        score_clip(item, Shrinking(4), "bicubic")


def test_bicubic_against_independent_psnr_and_saved_images(tmp_path: Path, random_frames) -> None:
    root = tmp_path / "Vid4"
    for seed, clip in enumerate(["x", "y"]):
        for i, frame in enumerate(random_frames(4, 32, 40, seed=seed)):
            write_image(root / "GT" / clip / f"{i:03d}.png", frame)
    dataset = Vid4Dataset(root, score="all")
    seen = []
    report = evaluate(
        dataset,
        BicubicUpscaler(4),
        out_dir=tmp_path / "out",
        save_images=True,
        progress=False,
        method="bicubic",
        protocol={"padding": "new_info"},
        frame_callback=lambda key, index, sr, gt: seen.append((key, index, sr.shape, gt.shape)),
    )
    assert report["protocol"]["padding"] == "new_info" and report["protocol"]["scored_frames"] == "all"
    assert seen == [(k, i, (32, 40, 3), (32, 40, 3)) for k in "xy" for i in range(4)]
    item = dataset[1]
    expected = np.mean(
        [_luma_psnr(bicubic_upscale(lq, 4), gt) for lq, gt in zip(item["lq"], item["gt"], strict=True)]
    )
    assert report["clips"]["y"]["psnr"] == pytest.approx(expected, abs=1e-9)
    saved = read_image(tmp_path / "out" / "images" / "y" / "002.png")
    np.testing.assert_array_equal(saved, bicubic_upscale(item["lq"][2], 4))

    rgb = evaluate(dataset, BicubicUpscaler(4), luma=False, crop_border=4, progress=False)
    assert rgb["protocol"]["metric"] == "rgb" and rgb["protocol"]["crop_border"] == 4
    assert rgb["clips"]["y"]["psnr"] != pytest.approx(report["clips"]["y"]["psnr"])
    assert not (tmp_path / "metrics.json").exists()  # nothing written without out_dir


@pytest.mark.slow  # the first LGFN forward of a process takes seconds on CPU
def test_lgfn_resolver_runs_through_the_evaluator(tiny_model, random_frames) -> None:
    clips = {"c": random_frames(6, 16, 16, seed=3)}
    dataset = FramesDataset(clips)
    resolver = VideoSuperResolver(tiny_model)
    kept = {}
    report = evaluate(
        dataset,
        resolver,
        progress=False,
        method="lgfn",
        frame_callback=lambda key, index, sr, gt: kept.__setitem__(index, sr),
    )
    assert sorted(kept) == [1, 2, 3, 4]
    item = dataset[0]
    direct = dict(resolver.upscale_clip(item["lq"], indices=[2]))
    np.testing.assert_array_equal(kept[2], direct[2])
    expected = np.mean([_luma_psnr(kept[i], item["gt"][i]) for i in kept])
    assert report["clips"]["c"]["psnr"] == pytest.approx(expected, abs=1e-9)


def test_errors(tmp_path: Path, random_frames) -> None:
    dataset = FramesDataset({"c": random_frames(3, 16, 16, seed=0)})
    with pytest.raises(ConfigError, match="upscales x2 but the frames data is prepared for x4"):
        evaluate(dataset, BicubicUpscaler(2), progress=False)
    with pytest.raises(ConfigError, match="out_dir"):
        evaluate(dataset, BicubicUpscaler(4), save_images=True, progress=False)

    class Skipping(BicubicUpscaler):
        def upscale_clip(self, frames, indices=None):
            yield from list(super().upscale_clip(frames, indices))[:-1]

    with pytest.raises(RuntimeError, match="produced frames"):
        evaluate(FramesDataset({"c": random_frames(4, 16, 16, seed=0)}), Skipping(4), progress=False)

    in_the_way = tmp_path / "file"
    in_the_way.write_text("")
    with pytest.raises(ConfigError, match=f"cannot make the output folder {in_the_way}"):
        evaluate(dataset, BicubicUpscaler(4), out_dir=in_the_way, progress=False)


@pytest.mark.slow
def test_real_vid4_clip_reproduces_the_papers_bicubic_score() -> None:
    root = shared_data_path("Vid4")
    report = evaluate(Vid4Dataset(root, clips=["city"]), BicubicUpscaler(4), progress=False)
    # Paper, Table (Vid4, Bicubic): city 25.17/0.6024.
    assert report["clips"]["city"]["frames"] == 32  # 34 frames, first and last not scored
    assert abs(report["clips"]["city"]["psnr"] - 25.17) <= 0.01
    assert abs(report["clips"]["city"]["ssim"] - 0.6024) <= 0.0003
