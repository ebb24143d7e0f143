"""The evaluation engine: hand-worked scores, paper-style averaging, report files, the Vid4 Bicubic row."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from lgfn.data.degradations import bicubic_upscale
from lgfn.data.eval_datasets import FramesDataset, Vid4Dataset, Vimeo90KTestDataset
from lgfn.data.io import read_image, write_image
from lgfn.engine.evaluator import compare_methods, evaluate, format_score, format_table
from lgfn.errors import ConfigError
from lgfn.inference import BicubicUpscaler, VideoSuperResolver
from tests.helpers import shared_data_path


def _frames(num: int, h: int, w: int, seed: int, high: int = 256) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, high, (h, w, 3), dtype=np.uint8) for _ in range(num)]


def _luma_psnr(a: np.ndarray, b: np.ndarray) -> float:
    """BT.601 luma PSNR written out independently of lgfn.metrics."""
    weights = np.array([65.481, 128.553, 24.966]) / 255.0
    diff = (a.astype(np.float64) - b.astype(np.float64)) @ weights
    return 10 * math.log10(255.0**2 / np.mean(diff**2))


class OffsetUpscaler:
    """Returns each clip's ground truth plus a constant per clip: its luma PSNR is known in closed form."""

    scale = 4

    def __init__(self, clips: Sequence[Sequence[np.ndarray]], offsets: Sequence[int]) -> None:
        self.clips = list(clips)
        self.offsets = list(offsets)
        self.calls = 0

    def upscale_clip(self, frames: Sequence[np.ndarray], indices: Sequence[int] | None = None) -> Iterator:
        gt, offset = self.clips[self.calls], self.offsets[self.calls]
        self.calls += 1
        for index in indices:
            assert frames[index].shape[:2] == (gt[index].shape[0] // 4, gt[index].shape[1] // 4)
            yield index, gt[index] + np.uint8(offset)


def test_scores_and_paper_averaging(tmp_path: Path) -> None:
    # Values below 250 so that adding the offset never wraps.
    clips = {"a": _frames(5, 16, 24, seed=0, high=250), "b": _frames(3, 16, 24, seed=1, high=250)}
    dataset = FramesDataset(clips, name="toy")
    upscaler = OffsetUpscaler(list(clips.values()), offsets=[1, 4])
    report = evaluate(dataset, upscaler, out_dir=tmp_path, progress=False, method="offset")

    # A constant RGB offset d moves luma by d * (65.481 + 128.553 + 24.966) / 255 = d * 219 / 255.
    expected_a = 20 * math.log10(255.0) - 20 * math.log10(1 * 219 / 255)
    expected_b = 20 * math.log10(255.0) - 20 * math.log10(4 * 219 / 255)
    assert report["clips"]["a"]["psnr"] == pytest.approx(expected_a, abs=1e-9)
    assert report["clips"]["b"]["psnr"] == pytest.approx(expected_b, abs=1e-9)
    assert report["clips"]["a"]["frames"] == 3 and report["clips"]["b"]["frames"] == 1
    # The average is the mean of the per-clip means (not of the 4 frames).
    assert report["average"]["psnr"] == pytest.approx((expected_a + expected_b) / 2, abs=1e-9)
    assert 0 < report["clips"]["b"]["ssim"] < report["clips"]["a"]["ssim"] < 1
    assert report["average"]["ssim"] == pytest.approx(
        (report["clips"]["a"]["ssim"] + report["clips"]["b"]["ssim"]) / 2
    )

    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved == report
    assert list(saved) == ["dataset", "method", "protocol", "clips", "average"]
    assert saved["dataset"] == "toy" and saved["method"] == "offset"
    assert saved["protocol"] == {
        "scale": 4,
        "lr": "BI degradation of GT",
        "scored_frames": "inner",
        "crop_border": 0,
        "metric": "luma",
    }
    with open(tmp_path / "per_frame.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["clip"], r["frame"], r["file"]) for r in rows] == [
        ("a", "1", "00000001.png"),
        ("a", "2", "00000002.png"),
        ("a", "3", "00000003.png"),
        ("b", "1", "00000001.png"),
    ]
    assert float(rows[3]["psnr"]) == pytest.approx(expected_b, abs=1e-5)
    assert not (tmp_path / "images").exists()


def test_bicubic_against_independent_psnr_and_saved_images(tmp_path: Path) -> None:
    root = tmp_path / "Vid4"
    for seed, clip in enumerate(["x", "y"]):
        for i, frame in enumerate(_frames(4, 32, 40, seed=seed)):
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
def test_lgfn_resolver_runs_through_the_evaluator(tiny_model) -> None:
    clips = {"c": _frames(6, 16, 16, seed=3)}
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


def test_vimeo_splits(tmp_path: Path) -> None:
    root = tmp_path / "vimeo"
    entries = ["00001/0001", "00001/0002", "00002/0001"]
    for seed, entry in enumerate(entries):
        for i, frame in enumerate(_frames(7, 16, 16, seed=seed)):
            write_image(root / "sequences" / entry / f"im{i + 1}.png", frame)
    (root / "sep_testlist.txt").write_text("\n".join(entries))
    (root / "slow_testset.txt").write_text("00001/0001\n00002/0001\n")
    (root / "fast_testset.txt").write_text("00001/0002\n")
    report = evaluate(Vimeo90KTestDataset(root), BicubicUpscaler(4), progress=False, out_dir=tmp_path / "out")
    clips = report["clips"]
    assert all(clip["frames"] == 1 for clip in clips.values())
    slow = report["splits"]["slow"]
    assert slow["clips"] == 2
    assert slow["psnr"] == pytest.approx((clips["00001/0001"]["psnr"] + clips["00002/0001"]["psnr"]) / 2)
    assert report["splits"]["fast"]["ssim"] == pytest.approx(clips["00001/0002"]["ssim"])
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["splits"] == report["splits"]
    table = format_table([report])
    assert "slow" in table.splitlines()[-3] and table.splitlines()[-1].startswith("average")

    # Only one septuplet evaluated: the fast split has none of its clips, and says so with nulls.
    one = evaluate(Vimeo90KTestDataset(root, clips=["00001/0001"]), BicubicUpscaler(4), progress=False)
    assert one["splits"]["fast"] == {"psnr": None, "ssim": None, "clips": 0}
    assert one["splits"]["slow"]["psnr"] == pytest.approx(one["average"]["psnr"])
    assert format_table([one]).splitlines()[-2].split("|")[1].strip() == "-"


def test_errors(tmp_path: Path) -> None:
    dataset = FramesDataset({"c": _frames(3, 16, 16, seed=0)})
    with pytest.raises(ConfigError, match="upscales x2 but the frames data is prepared for x4"):
        evaluate(dataset, BicubicUpscaler(2), progress=False)
    with pytest.raises(ConfigError, match="out_dir"):
        evaluate(dataset, BicubicUpscaler(4), save_images=True, progress=False)

    class Skipping(BicubicUpscaler):
        def upscale_clip(self, frames, indices=None):
            yield from list(super().upscale_clip(frames, indices))[:-1]

    with pytest.raises(RuntimeError, match="produced frames"):
        evaluate(FramesDataset({"c": _frames(4, 16, 16, seed=0)}), Skipping(4), progress=False)


def test_format_table_uses_the_paper_format() -> None:
    assert format_score(20.3927, 0.571925) == "20.39/0.5719"
    bicubic = {
        "method": "bicubic",
        "clips": {"calendar": {"psnr": 20.3927, "ssim": 0.57199}, "walk": {"psnr": 26.1068, "ssim": 0.79754}},
        "average": {"psnr": 23.24975, "ssim": 0.684765},
    }
    lgfn = {
        "method": "lgfn",
        "clips": {"calendar": {"psnr": 24.11, "ssim": 0.8131}, "walk": {"psnr": 30.93, "ssim": 0.9137}},
        "average": {"psnr": 27.52, "ssim": 0.8634},
    }
    assert format_table([bicubic]).splitlines() == [
        "clip     | bicubic",
        "calendar | 20.39/0.5720",
        "walk     | 26.11/0.7975",
        "average  | 23.25/0.6848",
    ]
    assert format_table([bicubic, lgfn], show_clips=False).splitlines() == [
        "clip    | bicubic      | lgfn",
        "average | 23.25/0.6848 | 27.52/0.8634",
    ]


@pytest.mark.slow
def test_real_vid4_clip_reproduces_the_papers_bicubic_score() -> None:
    root = shared_data_path("Vid4")
    report = evaluate(Vid4Dataset(root, clips=["city"]), BicubicUpscaler(4), progress=False)
    # Paper, Table (Vid4, Bicubic): city 25.17/0.6024.
    assert report["clips"]["city"]["frames"] == 32  # 34 frames, first and last not scored
    assert abs(report["clips"]["city"]["psnr"] - 25.17) <= 0.01
    assert abs(report["clips"]["city"]["ssim"] - 0.6024) <= 0.0003


def test_compare_methods_writes_one_report_per_method_and_a_figure(tmp_path: Path) -> None:
    clips = {"a": _frames(4, 48, 48, seed=5, high=250)}
    dataset = FramesDataset(clips)
    upscalers = {"bicubic": BicubicUpscaler(4), "offset": OffsetUpscaler(list(clips.values()), offsets=[2])}
    reports = compare_methods(
        dataset,
        upscalers,
        out_dir=tmp_path,
        figure_path=tmp_path / "fig.png",
        protocols={"offset": {"note": "test"}},
        progress=False,
    )
    assert [r["method"] for r in reports] == ["bicubic", "offset"]
    assert "note" not in reports[0]["protocol"] and reports[1]["protocol"]["note"] == "test"
    assert json.loads((tmp_path / "offset" / "metrics.json").read_text()) == reports[1]
    figure = read_image(tmp_path / "fig.png")
    assert figure.shape[1] > 3 * 288  # overview + two methods + ground truth
    with pytest.raises(ConfigError, match="not a scored frame"):
        compare_methods(
            dataset, {"bicubic": BicubicUpscaler(4)}, figure_path=tmp_path / "f.png", figure_frame=("a", 0)
        )


def test_resume_after_a_crash_cut_the_last_line_short(tmp_path: Path) -> None:
    clips = {name: _frames(3, 16, 16, seed) for seed, name in enumerate(["a", "b", "c"])}
    dataset = FramesDataset(clips, name="toy")
    whole = evaluate(dataset, BicubicUpscaler(4), out_dir=tmp_path / "whole", progress=False)
    assert not (tmp_path / "whole" / "partial.jsonl").exists()  # removed once the evaluation is complete
    out = tmp_path / "out"

    class Crash(Exception):
        pass

    def crash_in_c(key: str, *_) -> None:
        if key == "c":
            raise Crash

    with pytest.raises(Crash):
        evaluate(dataset, BicubicUpscaler(4), out_dir=out, progress=False, frame_callback=crash_in_c)
    partial = out / "partial.jsonl"
    recorded = partial.read_text().splitlines()
    assert [json.loads(line).get("clip") for line in recorded] == [None, "a", "b"]
    partial.write_text("\n".join(recorded[:2]) + "\n" + recorded[2][:25])  # "b" cut short, no newline

    with pytest.raises(ConfigError, match="pass --resume"):
        evaluate(dataset, BicubicUpscaler(4), out_dir=out, progress=False)
    scored = []
    resumed = evaluate(
        dataset,
        BicubicUpscaler(4),
        out_dir=out,
        progress=False,
        resume=True,
        frame_callback=lambda k, *_: scored.append(k),
    )
    assert sorted(set(scored)) == ["b", "c"]  # "a" was kept, "b" is run again
    assert resumed == whole
    assert (out / "per_frame.csv").read_text() == (tmp_path / "whole" / "per_frame.csv").read_text()
    assert not partial.exists()
