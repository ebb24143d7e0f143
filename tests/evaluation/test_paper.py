"""The paper beside the measurement (lgfn.evaluation.paper): the transcribed tables against the
reference, which rows are compared, the differences, the notice for other settings, and the table."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from lgfn.evaluation.paper import paper_comparison, paper_notice, paper_tables, parse_score
from lgfn.evaluation.report import format_table, summarise
from tests.helpers import reference_path

PAPER_PROTOCOL = {"scale": 4, "lr": "BI degradation of GT", "scored_frames": "inner", "crop_border": 0}
VID4 = {"calendar": 20.39, "city": 25.17, "foliage": 23.47, "walk": 26.11}  # the paper's Bicubic PSNR


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _reference_scores(reference: Path) -> set[tuple[str, str, str]]:
    """Every ``(row, method, "PSNR/SSIM")`` of the markdown tables, read independently of the JSON."""
    scores = set()
    for section in reference.read_text().split("\n## ")[1:]:
        rows = [_cells(line) for line in section.splitlines() if line.startswith("|")]
        header, body = rows[0], rows[2:]
        if header[0] == "Method":  # Vimeo-90K-T: methods are rows, splits are columns
            scores |= {
                (split.lower(), row[0], cell)
                for row in body
                for split, cell in zip(header[1:], row[1:], strict=True)
            }
        elif header[0] == "Clip":
            scores |= {
                (row[0], method, cell)
                for row in body
                for method, cell in zip(header[1:], row[1:], strict=True)
            }
        else:  # one row of averages
            scores |= {("average", method, cell) for method, cell in zip(header, body[0], strict=True)}
        for method, cell in re.findall(r"^(\w+) average: ([\d.]+/[\d.]+)\.$", section, re.MULTILINE):
            scores.add(("average", method, cell))
    return scores


def test_the_tables_are_the_published_ones() -> None:
    reference = reference_path("paper_tables.md")
    transcribed = {
        (row, method, cell)
        for table in paper_tables()["tables"]
        for row, cells in table["rows"].items()
        for method, cell in cells.items()
    }
    assert transcribed == _reference_scores(reference)
    assert all(table["source"] for table in paper_tables()["tables"])


def _report(method: str, clips: dict[str, float], **protocol: Any) -> dict[str, Any]:
    results = {key: {"psnr": psnr, "ssim": 0.5, "frames": 3} for key, psnr in clips.items()}
    report = summarise("vid4", method, {**PAPER_PROTOCOL, "metric": "luma", **protocol}, results, {})
    report["paper"] = paper_comparison(report)
    return report


def test_vid4_bicubic_beside_the_paper() -> None:
    measured = {key: psnr + 0.1 * i for i, (key, psnr) in enumerate(VID4.items())}
    paper = _report("bicubic", measured)["paper"]
    assert paper["reported"] and paper["compared_with"] == "Bicubic"
    assert paper["sources"] == [paper_tables()["tables"][0]["source"]]
    walk = paper["clips"]["walk"]
    assert walk["Bicubic"] == {"psnr": 26.11, "ssim": 0.7977} and walk["LGFN"] == parse_score("30.93/0.9137")
    assert walk["difference"]["psnr"] == pytest.approx(0.3)
    assert walk["difference"]["ssim"] == pytest.approx(0.5 - 0.7977)
    # The paper's average is the mean of its rounded clip scores (23.785 printed as 23.79).
    assert paper["average"]["difference"]["psnr"] == pytest.approx(sum(measured.values()) / 4 - 23.79)


def test_a_checkpoint_is_compared_with_lgfn_and_a_subset_has_no_average() -> None:
    protocol = {"num_frames": 7, "padding": "new_info", "self_ensemble": False, "precision": "fp32"}
    paper = _report("my_run", {"city": 27.0, "extra": 30.0}, **protocol)["paper"]
    assert paper["compared_with"] == "LGFN"
    assert list(paper["clips"]) == ["city"]  # the paper has no clip "extra"
    assert paper["clips"]["city"]["difference"]["psnr"] == pytest.approx(27.0 - 27.88)
    assert "average" not in paper  # two clips are not the paper's four


@pytest.mark.parametrize(
    ("protocol", "reason"),
    [
        ({"crop_border": 8}, "crop_border 8 (paper: 0)"),
        ({"metric": "rgb"}, "metric rgb (paper: luma)"),
        ({"scale": 2}, "scale 2 (paper: 4)"),
        ({"scored_frames": "all"}, "scored_frames all (paper: inner)"),
        ({"lr": "BD degradation of GT"}, "lr BD degradation of GT (paper: BI degradation of GT)"),
        ({"max_frames": 5}, "max_frames 5 (paper: every frame)"),
        (
            {"num_frames": 5, "padding": "new_info", "self_ensemble": False, "precision": "fp32"},
            "num_frames 5",
        ),
        ({"num_frames": 7, "padding": "reflection", "self_ensemble": False, "precision": "fp32"}, "padding"),
        (
            {"num_frames": 7, "padding": "new_info", "self_ensemble": True, "precision": "fp32"},
            "self_ensemble",
        ),
        ({"num_frames": 7, "padding": "new_info", "self_ensemble": False, "precision": "bf16"}, "precision"),
    ],
)
def test_another_setting_gets_the_notice(protocol: dict, reason: str) -> None:
    report = _report("bicubic", VID4, **protocol)
    assert report["paper"]["reported"] is False
    assert any(r.startswith(reason) for r in report["paper"]["reasons"]), report["paper"]["reasons"]
    notice = paper_notice([report])
    assert notice.startswith("paper: LGFN's paper did not report this setting") and reason in notice
    assert "paper" not in format_table([report]).splitlines()[0]


def test_vimeo_splits_need_the_papers_clip_counts() -> None:
    clips = {f"{i:05d}/0001": {"psnr": 30.0, "ssim": 0.9, "frames": 1} for i in range(4)}
    splits = {"slow": list(clips)[:2], "fast": list(clips)[2:]}
    protocol = {**PAPER_PROTOCOL, "scored_frames": "centre", "metric": "luma"}
    report = summarise("vimeo90k", "bicubic", protocol, clips, splits)
    paper = paper_comparison(report)
    assert paper["reported"] and "splits" not in paper and "average" not in paper  # 4 of 7,824 clips
    report["splits"]["slow"]["clips"] = 1616  # as a whole test set's split
    paper = paper_comparison(report)
    assert list(paper["splits"]) == ["slow"]
    assert paper["splits"]["slow"]["difference"]["psnr"] == pytest.approx(30.0 - 29.34)


def test_the_table_puts_the_paper_beside_each_method() -> None:
    bicubic = _report("bicubic", VID4)
    table = format_table([bicubic]).splitlines()
    assert _cells(table[0]) == ["clip", "bicubic", "paper Bicubic", "paper LGFN", "bicubic - paper"]
    assert _cells(table[1]) == ["calendar", "20.39/0.5000", "20.39/0.5720", "24.11/0.8131", "+0.00/-0.0720"]
    assert _cells(table[-1])[0] == "average" and _cells(table[-1])[2] == "23.79/0.6347"
    assert paper_notice([bicubic]) is None
