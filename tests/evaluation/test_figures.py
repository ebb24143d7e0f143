"""The figures of an evaluation: listed in metrics.json, valid PNGs, the curves' data those of
per_frame.csv, every label the frame's own row, the paper's clip score as the reference line."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lgfn.data.eval_datasets import FramesDataset
from lgfn.evaluation import compare, figures
from lgfn.evaluation.compare import compare_methods
from lgfn.evaluation.figures import paper_lines, plot_curves, read_rows
from lgfn.evaluation.paper import PAPER_PROTOCOL, paper_comparison, paper_tables, parse_score
from lgfn.inference import BicubicUpscaler


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture
def two_methods(tmp_path: Path, random_frames, offset_upscaler, monkeypatch: pytest.MonkeyPatch):
    """Bicubic and an offset upscaler on two clips (5 and 4 frames), with figures; the labels that
    the comparisons and the side-by-side were drawn with are recorded as they are drawn."""
    clips = {
        "a": random_frames(5, 48, 64, seed=3, high=250),
        "b/c": random_frames(4, 48, 64, seed=4, high=250),
    }
    upscalers = {
        "bicubic": BicubicUpscaler(4),
        "offset": offset_upscaler(list(clips.values()), offsets=[2, 3]),
    }
    drawn: dict[str, list] = {"comparisons": [], "side_by_side": []}
    plot, save = figures.plot_comparison, compare.save_side_by_side

    def plot_comparison(path, panels, caption, crop_size=None):
        drawn["comparisons"].append((path.name, [label for label, _ in panels], caption))
        return plot(path, panels, caption, crop_size)

    def save_side_by_side(path, panels, **kwargs):
        drawn["side_by_side"].append(([label for label, _ in panels], kwargs["frame_label"]))
        return save(path, panels, **kwargs)

    monkeypatch.setattr(figures, "plot_comparison", plot_comparison)
    monkeypatch.setattr(compare, "save_side_by_side", save_side_by_side)
    reports = compare_methods(
        FramesDataset(clips),
        upscalers,
        out_dir=tmp_path,
        labels={"bicubic": "Bicubic"},
        figure_path=tmp_path / "side_by_side.png",
        progress=False,
    )
    return tmp_path, reports, drawn


def test_figures_are_listed_in_metrics_json_and_are_pngs(two_methods) -> None:
    out, reports, _ = two_methods
    names = ["per_frame_psnr.png", "per_frame_ssim.png", "comparison_a.png", "comparison_b_c.png"]
    for method, report in zip(["bicubic", "offset"], reports, strict=True):
        # Relative to the folder of the method's metrics.json, which is written again with them.
        assert report["figures"] == [f"../{name}" for name in [*names, "side_by_side.png"]]
        assert json.loads((out / method / "metrics.json").read_text()) == report
    for name in [*names, "side_by_side.png"]:
        with Image.open(out / name) as image:
            assert image.format == "PNG"
            width, height = image.size
            image.load()  # the whole file decodes
        assert 400 <= width <= 2000 and 250 <= height <= 2000, (name, image.size)


def test_the_curves_plot_the_rows_of_per_frame_csv(two_methods, tmp_path: Path) -> None:
    out, _, _ = two_methods
    rows = {"Bicubic": read_rows(out / "bicubic"), "offset": read_rows(out / "offset")}
    for metric in ("psnr", "ssim"):
        series = plot_curves(tmp_path / f"{metric}.png", metric, rows)
        for label, method in (("Bicubic", "bicubic"), ("offset", "offset")):
            written = _csv(out / method / "per_frame.csv")
            for clip in ("a", "b/c"):
                frames, values = series[clip][label]
                assert frames == [int(r["frame"]) for r in written if r["clip"] == clip]
                assert values == [float(r[metric]) for r in written if r["clip"] == clip]
        assert list(series) == ["a", "b/c"] and series["a"]["Bicubic"][0] == [1, 2, 3]  # scored frames only


def test_every_label_gives_the_frame_and_its_row_of_per_frame_csv(two_methods) -> None:
    out, _, drawn = two_methods
    rows = {
        m: {(r["clip"], int(r["frame"])): r for r in _csv(out / m / "per_frame.csv")}
        for m in ("bicubic", "offset")
    }

    def expected(clip: str, index: int) -> list[str]:
        labels = []
        for name, method in (("Bicubic", "bicubic"), ("offset", "offset")):
            row = rows[method][(clip, index)]
            labels.append(f"{name}\nframe {index}: {float(row['psnr']):.2f} dB / {float(row['ssim']):.4f}")
        return [*labels, "Ground truth"]

    # The middle scored frame: a's frames 1-3 -> 2, b/c's 1-2 -> 2.
    assert [(name, labels) for name, labels, _ in drawn["comparisons"]] == [
        ("comparison_a.png", expected("a", 2)),
        ("comparison_b_c.png", expected("b/c", 2)),
    ]
    caption = drawn["comparisons"][0][2]
    assert caption[0] == "a, frame 2 (the middle of its 3 scored frames)"
    assert caption[1].startswith("box: the 16x16 square where offset gains most on Bicubic")
    [(labels, frame_label)] = drawn["side_by_side"]
    assert labels == expected("a", 2)
    # The caption under the whole frame, in short lines.
    assert frame_label.replace("\n", " ").startswith(
        "a, frame 2 (the middle of its 3 scored frames) box: the 16x16"
    )


def test_no_figures_draws_none(tmp_path: Path, random_frames) -> None:
    dataset = FramesDataset({"a": random_frames(4, 48, 48, seed=5)})
    [report] = compare_methods(
        dataset,
        {"bicubic": BicubicUpscaler(4)},
        out_dir=tmp_path,
        subfolders=False,
        progress=False,
        figures=False,
    )
    assert "figures" not in report and not list(tmp_path.glob("*.png"))


def test_a_single_scored_frame_per_clip_has_no_curves(tmp_path: Path, random_frames) -> None:
    """Vimeo-90K-T scores one frame a septuplet: a curve of one point says nothing."""
    dataset = FramesDataset({"a": random_frames(3, 48, 48, seed=5)})
    [report] = compare_methods(
        dataset, {"bicubic": BicubicUpscaler(4)}, out_dir=tmp_path, subfolders=False, progress=False
    )
    assert report["figures"] == ["comparison_a.png"]


def test_the_reference_line_is_the_papers_clip_score() -> None:
    protocol = {**PAPER_PROTOCOL, "scored_frames": "inner"}
    clip = {"psnr": 20.0, "ssim": 0.5, "frames": 39}
    report = {"dataset": "vid4", "method": "bicubic", "protocol": protocol, "clips": {"calendar": clip}}
    report["average"] = {"psnr": 20.0, "ssim": 0.5}
    report["paper"] = paper_comparison(report)
    table = next(t for t in paper_tables()["tables"] if t["dataset"] == "vid4" and "calendar" in t["rows"])
    published = parse_score(table["rows"]["calendar"]["Bicubic"])
    assert paper_lines([report], "psnr") == {"calendar": {"paper Bicubic": published["psnr"]}}
    assert paper_lines([report], "ssim") == {"calendar": {"paper Bicubic": published["ssim"]}}
    # Another setting than the paper's (a border crop): no reference line.
    cropped = {**report, "protocol": {**protocol, "crop_border": 8}}
    cropped["paper"] = paper_comparison(cropped)
    assert paper_lines([cropped], "psnr") == {}


def test_curves_of_many_clips_keep_the_first(tmp_path: Path) -> None:
    rows = [
        {"clip": f"c{i:02d}", "frame": f, "psnr": 30.0 + f, "ssim": 0.9} for i in range(40) for f in (1, 2)
    ]
    series = plot_curves(tmp_path / "many.png", "psnr", {"m": rows}, title="t")
    assert list(series) == [f"c{i:02d}" for i in range(figures.MAX_CURVE_CLIPS)]
    assert np.isclose(series["c00"]["m"][1], [31.0, 32.0]).all()
