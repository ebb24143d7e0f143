"""test.py with the paper beside the measurement and with --metrics: the published Vid4 Bicubic row
reproduced on the real data, the notice for other settings, tOF and tLP in the outputs, bad options."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from lgfn.cli import evaluate
from lgfn.cli.console import run_main
from lgfn.data.io import read_image, write_image
from lgfn.evaluation.erqa import erqa
from tests.helpers import shared_data_path


def _run(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    code = run_main(evaluate.main, [*argv, "--no-progress"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.split("|")]


@pytest.fixture
def vid4_tree(tmp_path: Path) -> Path:
    """Two random 4-frame clips in the Vid4 layout (not the paper's clips)."""
    rng = np.random.default_rng(0)
    for clip in ["alpha", "beta"]:
        for i in range(4):
            image = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
            write_image(tmp_path / "Vid4" / "GT" / clip / f"{i:08d}.png", image)
    return tmp_path / "Vid4"


@pytest.mark.slow
def test_vid4_bicubic_reproduces_the_papers_row(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The issue's check: ``test.py --dataset vid4 --data-root ../shared/data/Vid4 --method bicubic``."""
    root = shared_data_path("Vid4")
    out = tmp_path / "out"
    argv = ["--dataset", "vid4", "--data-root", str(root), "--method", "bicubic", "--out", str(out)]
    code, stdout, _ = _run(argv, capsys)
    assert code == 0
    lines = stdout.splitlines()
    header = _cells(lines[0])
    assert header == ["clip", "bicubic", "paper Bicubic", "paper LGFN", "bicubic - paper"]
    rows = {cells[0]: cells for cells in map(_cells, lines[1:6])}
    assert list(rows) == ["calendar", "city", "foliage", "walk", "average"]
    assert rows["calendar"][2] == "20.39/0.5720" and rows["average"][3] == "27.31/0.8248"
    assert "did not report" not in stdout

    report = json.loads((out / "metrics.json").read_text())
    paper = report["paper"]
    assert paper["reported"] and paper["compared_with"] == "Bicubic"
    for row in [*paper["clips"].values(), paper["average"]]:
        assert abs(row["difference"]["psnr"]) <= 0.01 and abs(row["difference"]["ssim"]) <= 0.001
    assert paper["sources"] == ["Vid4 (per clip and average; FRVSR: average only)"]


def test_another_setting_prints_the_notice(vid4_tree: Path, tmp_path: Path, capsys) -> None:
    argv = ["--dataset", "vid4", "--data-root", str(vid4_tree), "--method", "bicubic"]
    code, stdout, _ = _run([*argv, "--crop-border", "2", "--out", str(tmp_path / "crop")], capsys)
    assert code == 0
    assert "paper: LGFN's paper did not report this setting (crop_border 2 (paper: 0))" in stdout
    assert "paper Bicubic" not in stdout
    saved = json.loads((tmp_path / "crop" / "metrics.json").read_text())
    assert saved["paper"] == {"reported": False, "reasons": ["crop_border 2 (paper: 0)"]}

    # The paper's protocol on clips the paper does not have: said so, no empty columns.
    code, stdout, _ = _run([*argv, "--out", str(tmp_path / "plain")], capsys)
    assert code == 0 and "the paper reports none of these clips" in stdout and "paper Bicubic" not in stdout


def test_metrics_option_adds_tof(vid4_tree: Path, tmp_path: Path, capsys) -> None:
    argv = ["--dataset", "vid4", "--data-root", str(vid4_tree), "--method", "bicubic"]
    code, stdout, _ = _run([*argv, "--metrics", "tof,psnr,ssim", "--out", str(tmp_path / "out")], capsys)
    assert code == 0 and _cells(stdout.splitlines()[0])[-1] == "bicubic tOF"
    report = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert report["protocol"]["metrics"] == ["psnr", "ssim", "tof"]
    assert set(report["clips"]["alpha"]) == {"psnr", "ssim", "tof", "frames"}
    with open(tmp_path / "out" / "per_frame.csv") as handle:
        frames = list(csv.DictReader(handle))
    # Frames 1 and 2 of each clip are scored: one pair each, ending at frame 2.
    assert [(row["frame"], row["tof"] == "") for row in frames] == [("1", True), ("2", False)] * 2
    assert float(frames[1]["tof"]) == pytest.approx(report["clips"]["alpha"]["tof"], abs=1e-6)


def test_metrics_option_adds_erqa_of_the_saved_frames(vid4_tree: Path, tmp_path: Path, capsys) -> None:
    argv = ["--dataset", "vid4", "--data-root", str(vid4_tree), "--method", "bicubic", "--save-images"]
    code, stdout, stderr = _run(
        [*argv, "--metrics", "psnr,ssim,erqa", "--out", str(tmp_path / "out")], capsys
    )
    assert code == 0, stderr
    assert _cells(stdout.splitlines()[0])[-1] == "bicubic ERQA"
    report = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert report["protocol"]["metrics"] == ["psnr", "ssim", "erqa"]
    with open(tmp_path / "out" / "per_frame.csv") as handle:
        frames = list(csv.DictReader(handle))
    assert [row["frame"] for row in frames] == ["1", "2"] * 2
    for row in frames:
        sr = read_image(tmp_path / "out" / "images" / row["clip"] / f"{int(row['frame']):08d}.png")
        gt = read_image(vid4_tree / "GT" / row["clip"] / row["file"])
        assert float(row["erqa"]) == pytest.approx(erqa(sr, gt), abs=1e-6)
    alpha = [
        erqa(
            read_image(tmp_path / "out" / "images" / "alpha" / f"{i:08d}.png"),
            read_image(vid4_tree / "GT" / "alpha" / f"{i:08d}.png"),
        )
        for i in (1, 2)
    ]
    assert report["clips"]["alpha"]["erqa"] == pytest.approx(np.mean(alpha), abs=1e-12)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--metrics", "tof"], "--metrics tof: the metrics must include psnr, ssim"),
        (["--metrics", "psnr,ssim,vmaf"], "--metrics psnr,ssim,vmaf: unknown metric(s) vmaf"),
        (["--metrics", "psnr,ssim,tlp"], "--metrics tlp needs --lpips-weights PATH"),
        (["--lpips-weights", "alex.pth"], "--lpips-weights is for the tlp metric"),
        (
            ["--metrics", "psnr,ssim,tlp", "--lpips-weights", "missing.pth"],
            "--lpips-weights missing.pth: no such",
        ),
    ],
)
def test_bad_metrics_give_one_error_line(extra, message, vid4_tree: Path, tmp_path: Path, capsys) -> None:
    argv = ["--dataset", "vid4", "--data-root", str(vid4_tree), "--method", "bicubic"]
    code, stdout, stderr = _run([*argv, *extra, "--out", str(tmp_path / "out")], capsys)
    lines = stderr.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], stderr
    assert not (tmp_path / "out").exists()


def test_tlp_from_weights_on_disk(vid4_tree: Path, tmp_path: Path, capsys) -> None:
    torchvision = pytest.importorskip("torchvision")
    pytest.importorskip("lpips")
    torch.manual_seed(0)
    features = {
        k: v for k, v in torchvision.models.alexnet().state_dict().items() if k.startswith("features.")
    }
    torch.save(features, tmp_path / "alexnet.pth")
    argv = [
        "--dataset",
        "vid4",
        "--data-root",
        str(vid4_tree),
        "--method",
        "bicubic",
        "--out",
        str(tmp_path / "o"),
    ]
    argv += ["--metrics", "psnr,ssim,tof,tlp", "--lpips-weights", str(tmp_path / "alexnet.pth")]
    code, stdout, stderr = _run(argv, capsys)
    assert code == 0, stderr
    assert _cells(stdout.splitlines()[0])[-2:] == ["bicubic tOF", "bicubic tLP"]
    report = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert report["protocol"]["metrics"] == ["psnr", "ssim", "tof", "tlp"]
    assert report["average"]["tlp"] >= 0 and report["clips"]["alpha"]["tlp"] is not None
