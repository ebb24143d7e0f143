"""The report: paper-style averaging (the mean of the clip means), split averages, metrics.json and
per_frame.csv, and the paper's table format."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from lgfn.data.eval_datasets import FramesDataset, Vimeo90KTestDataset
from lgfn.data.io import write_image
from lgfn.evaluation.evaluator import evaluate
from lgfn.evaluation.report import format_score, format_table, summarise, write_report
from lgfn.inference import BicubicUpscaler


def test_scores_and_paper_averaging(tmp_path: Path, random_frames, offset_upscaler) -> None:
    # Values below 250 so that adding the offset never wraps.
    clips = {"a": random_frames(5, 16, 24, seed=0, high=250), "b": random_frames(3, 16, 24, seed=1, high=250)}
    dataset = FramesDataset(clips, name="toy")
    upscaler = offset_upscaler(list(clips.values()), offsets=[1, 4])
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
    assert list(saved) == ["dataset", "method", "protocol", "clips", "average", "paper"]
    assert saved["dataset"] == "toy" and saved["method"] == "offset"
    assert saved["protocol"] == {
        "scale": 4,
        "lr": "BI degradation of GT",
        "scored_frames": "inner",
        "crop_border": 0,
        "metric": "luma",
        "metrics": ["psnr", "ssim"],
    }
    # A toy dataset: the paper has no table for it, and the report says why.
    assert saved["paper"] == {"reported": False, "reasons": ["dataset toy (paper: vid4, spmcs, vimeo90k)"]}
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


def test_summarise_and_write_report(tmp_path: Path) -> None:
    clips = {"a": {"psnr": 30.0, "ssim": 0.9, "frames": 3}, "b": {"psnr": 20.0, "ssim": 0.5, "frames": 1}}
    report = summarise("toy", "m", {"scale": 4}, clips, {"slow": ["b"], "fast": []})
    assert report == {
        "dataset": "toy",
        "method": "m",
        "protocol": {"scale": 4},
        "clips": clips,
        "average": {"psnr": 25.0, "ssim": 0.7},
        "splits": {
            "slow": {"psnr": 20.0, "ssim": 0.5, "clips": 1},
            "fast": {"psnr": None, "ssim": None, "clips": 0},
        },
    }
    assert "splits" not in summarise("toy", "m", {}, clips, {})

    rows = [{"clip": "a", "frame": 1, "file": "1.png", "psnr": 30.0, "ssim": 0.9}]
    out = tmp_path / "new" / "folder"
    write_report(out, report, rows)
    assert sorted(path.name for path in out.iterdir()) == ["metrics.json", "per_frame.csv"]  # no temp file
    assert (out / "metrics.json").read_text() == json.dumps(report, indent=2) + "\n"
    assert (out / "per_frame.csv").read_text().splitlines() == [
        "clip,frame,file,psnr,ssim",
        "a,1,1.png,30.000000,0.900000",
    ]


def test_vimeo_splits(tmp_path: Path, random_frames) -> None:
    root = tmp_path / "vimeo"
    entries = ["00001/0001", "00001/0002", "00002/0001"]
    for seed, entry in enumerate(entries):
        for i, frame in enumerate(random_frames(7, 16, 16, seed=seed)):
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


def test_format_table_uses_the_paper_format() -> None:
    assert format_score(20.3927, 0.571925) == "20.39/0.5719"
    assert format_score(None, None) == "-"
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
