"""The paper beside the measurement: LGFN's published PSNR/SSIM for the protocol an evaluation ran.

The numbers live in ``paper_tables.json`` beside this module, transcribed from the tables published
with the authors' release, each table with its source (``"source"``) and each score as printed
(``"PSNR/SSIM"``). They hold for one protocol only (:data:`PAPER_PROTOCOL`): x4, LR frames made from
the ground truth by BI degradation, luma PSNR/SSIM without a border crop, the authors' scored frames
(Vid4 and SPMCS: all but the first and last of each clip; Vimeo-90K-T: ``im4``) and, for LGFN, their
7-frame windows with "new_info" padding, no self-ensemble, fp32.

:func:`paper_comparison` reads an evaluation's report (the dict of ``metrics.json``) and returns its
``"paper"`` entry: the paper's Bicubic and LGFN scores for every clip, split and average the paper
reports, with the difference ``measured - paper`` for the method that was run (bicubic against
Bicubic, any checkpoint against LGFN); or, for any other protocol, the reasons why the paper has no
numbers for it.

A row is compared only where it means the same thing: a clip by its name; a Vimeo-90K-T split or the
average only when the evaluation covered as many clips as the paper (``"clips"`` in the table); a
Vid4 or SPMCS average only when the evaluated clips are exactly the table's clips. The SPMCS
all-clip table averages over frames rather than clips and is kept for reference, not compared.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

#: The transcribed tables (package data, see setup.py).
PAPER_TABLES = Path(__file__).with_name("paper_tables.json")
#: The methods whose published scores go beside a measurement.
PAPER_METHODS = ("Bicubic", "LGFN")
#: ``{protocol key: the paper's value}`` for every report (see :mod:`lgfn.evaluation.report`).
PAPER_PROTOCOL = {"scale": 4, "lr": "BI degradation of GT", "crop_border": 0, "metric": "luma"}
#: The same for the entries that only LGFN's reports carry (see ``lgfn.cli.evaluate.lgfn_protocol``).
PAPER_LGFN_PROTOCOL = {"num_frames": 7, "padding": "new_info", "self_ensemble": False, "precision": "fp32"}
#: The frames the authors scored, per dataset.
PAPER_SCORED_FRAMES = {"vid4": "inner", "spmcs": "inner", "vimeo90k": "centre"}


@cache
def paper_tables() -> dict[str, Any]:
    """The transcribed tables: ``{"paper", "transcribed_from", "protocol", "tables": [...]}``.

    Each table: ``{"dataset", "source", "rows": {row: {method: "PSNR/SSIM"}}}``, and optionally
    ``"clips": {row: number of clips}`` and ``"average_over": "frames"``.
    """
    return json.loads(PAPER_TABLES.read_text())


def parse_score(cell: str) -> dict[str, float]:
    """``"20.39/0.5720"`` -> ``{"psnr": 20.39, "ssim": 0.572}``."""
    psnr, ssim = cell.split("/")
    return {"psnr": float(psnr), "ssim": float(ssim)}


def unreported_reasons(report: Mapping[str, Any]) -> list[str]:
    """Why the paper has no numbers for this evaluation's protocol (empty when it has).

    Args:
        report: an evaluation's report (``dataset``, ``protocol``; see :mod:`lgfn.evaluation.report`).

    Returns:
        One short phrase per difference from :data:`PAPER_PROTOCOL`, e.g. ``"crop_border 8 (paper: 0)"``.
    """
    dataset, protocol = report["dataset"], report["protocol"]
    if dataset not in PAPER_SCORED_FRAMES:
        return [f"dataset {dataset} (paper: vid4, spmcs, vimeo90k)"]
    expected = {**PAPER_PROTOCOL, "scored_frames": PAPER_SCORED_FRAMES[dataset]}
    if "num_frames" in protocol:  # an LGFN run
        expected.update(PAPER_LGFN_PROTOCOL)
    differ = [(key, value) for key, value in expected.items() if protocol.get(key) != value]
    reasons = [f"{key} {protocol.get(key)} (paper: {value})" for key, value in differ]
    if protocol.get("max_frames") is not None:
        reasons.append(f"max_frames {protocol['max_frames']} (paper: every frame)")
    return reasons


def paper_comparison(report: Mapping[str, Any]) -> dict[str, Any]:
    """The report's ``"paper"`` entry.

    Args:
        report: an evaluation's report with ``dataset``, ``method``, ``protocol``, ``clips``
            (``{key: {"psnr", "ssim", "frames"}}``), ``average`` and optionally ``splits``.

    Returns:
        For the paper's protocol ``{"reported": True, "compared_with": "Bicubic" or "LGFN",
        "sources": [table sources], "clips": {key: row}, "splits": {name: row}, "average": row}``,
        each ``row`` ``{"Bicubic": {"psnr", "ssim"}, "LGFN": {...}, "difference": {"psnr", "ssim"}}``
        (``difference`` = measured - paper for ``compared_with``; ``None`` values when the
        measurement has none) and only the rows the paper reports for what was evaluated. Otherwise
        ``{"reported": False, "reasons": [...]}`` (:func:`unreported_reasons`).
    """
    reasons = unreported_reasons(report)
    if reasons:
        return {"reported": False, "reasons": reasons}
    reference = "Bicubic" if report["method"] == "bicubic" else "LGFN"
    comparison: dict[str, Any] = {"reported": True, "compared_with": reference, "sources": []}
    clips, splits = report["clips"], report.get("splits", {})
    for table in paper_tables()["tables"]:
        if table["dataset"] != report["dataset"] or table.get("average_over") == "frames":
            continue
        rows, counts = table["rows"], table.get("clips", {})
        found = {
            "clips": {key: _row(rows[key], clips[key], reference) for key in clips if key in rows},
            "splits": {
                name: _row(rows[name], split, reference)
                for name, split in splits.items()
                if name in rows and counts.get(name) == split["clips"]
            },
        }
        table_clips = set(rows) - {"average"}
        if "average" in rows and (set(clips) == table_clips or counts.get("average") == len(clips)):
            found["average"] = _row(rows["average"], report["average"], reference)
        for part, entries in found.items():
            if entries:
                comparison.setdefault(part, {}).update(entries)
        if any(found.values()):
            comparison["sources"].append(table["source"])
    return comparison


def _row(cells: Mapping[str, str], measured: Mapping[str, Any], reference: str) -> dict[str, Any]:
    row: dict[str, Any] = {method: parse_score(cells[method]) for method in PAPER_METHODS}
    row["difference"] = {
        metric: None if measured[metric] is None else measured[metric] - row[reference][metric]
        for metric in ("psnr", "ssim")
    }
    return row


def paper_notice(reports: list[Mapping[str, Any]]) -> str | None:
    """The line printed under the table when the paper did not report the evaluated setting.

    Args:
        reports: the evaluations' reports, each with its ``"paper"`` entry.

    Returns:
        ``"paper: ... did not report this setting (reasons)"``, a line saying that the paper has
        none of the evaluated rows, or ``None`` when the table shows the paper's numbers (or no
        report carries a ``"paper"`` entry).
    """
    reasons: list[str] = []
    for report in reports:
        for reason in report.get("paper", {}).get("reasons", []):
            if reason not in reasons:
                reasons.append(reason)
    if reasons:
        return f"paper: LGFN's paper did not report this setting ({'; '.join(reasons)}), so no paper column"
    papers = [report["paper"] for report in reports if "paper" in report]
    if papers and not any(part in paper for paper in papers for part in ("clips", "splits", "average")):
        return "paper: the paper's protocol, but the paper reports none of these clips, splits or averages"
    return None
