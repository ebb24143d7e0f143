"""What an evaluation reports: the per-clip and average scores (and split averages), the files that
keep them, and the paper-style table that prints them (with the paper's scores beside them, see
:mod:`lgfn.evaluation.paper`).

``metrics.json``::

    {"dataset": "vid4", "method": "bicubic",
     "protocol": {"scale": 4, "lr": "BI degradation of GT", "scored_frames": "inner",
                  "crop_border": 0, "metric": "luma", ...},
     "clips": {"calendar": {"psnr": 20.39, "ssim": 0.572, "frames": 39}, ...},
     "average": {"psnr": 23.79, "ssim": 0.6347},
     "paper": {"reported": true, "compared_with": "Bicubic", "clips": {...}, "average": {...}, ...}}

With ``tof`` (``tlp``) among the metrics, each clip, split and the average also carry ``"tof"``
(``"tlp"``): the mean over the clip's pairs of consecutive scored frames; ``null`` for a clip
without such a pair. With ``erqa`` (``erqa1.1``), ``"erqa"`` (``"erqa1.1"``): the mean over the
clip's scored frames.

plus, for datasets with named subsets (Vimeo-90K-T's slow / medium / fast lists), a top-level
``"splits": {"slow": {"psnr": ..., "ssim": ..., "clips": 1616}, ...}`` holding the mean over the
evaluated clips of each subset (``null`` scores when none of its clips was evaluated).

``per_frame.csv``: ``clip,frame,file,psnr,ssim`` (then ``tof``, ``tlp`` when measured: the pair
ending at this row's frame, empty for the first scored frame of a clip; then ``erqa``, ``erqa1.1``:
the frame's), one row per scored frame.

The average is the mean of the per-clip means, as in the paper's tables, not the mean over frames.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lgfn.evaluation.paper import PAPER_METHODS, paper_notice
from lgfn.evaluation.scoring import METRICS, mean_or_none
from lgfn.files import atomic_write, atomic_write_text

#: The report of an evaluation, and its per-frame scores (the last written, when it is finished).
REPORT_FILE, PER_FRAME_FILE = "metrics.json", "per_frame.csv"
#: The columns of ``per_frame.csv`` (then those of any further metric measured, see :data:`METRICS`).
PER_FRAME_FIELDS = ["clip", "frame", "file", "psnr", "ssim"]
#: The further metrics' column names in the printed table.
METRIC_LABELS = {"tof": "tOF", "tlp": "tLP", "erqa": "ERQA", "erqa1.1": "ERQA 1.1"}


def summarise(
    dataset: str,
    method: str,
    protocol: Mapping[str, Any],
    clips: Mapping[str, Mapping[str, Any]],
    splits: Mapping[str, Sequence[str]],
) -> dict[str, Any]:
    """The report of one evaluation.

    Args:
        dataset: the dataset's name.
        method: the method's name.
        protocol: how the frames were made and scored.
        clips: ``{clip key: {"psnr", "ssim", "frames"}}`` in evaluation order.
        splits: ``{split name: clip keys}`` reported separately (empty for none); every key must be
            in ``clips``.

    Returns:
        The dict written as ``metrics.json`` (see the module docstring); ``"splits"`` only when
        ``splits`` is not empty.
    """
    report: dict[str, Any] = {
        "dataset": dataset,
        "method": method,
        "protocol": dict(protocol),
        "clips": dict(clips),
        "average": _means(list(clips.values())),
    }
    if splits:
        report["splits"] = {
            name: {**_means([clips[key] for key in keys]), "clips": len(keys)}
            for name, keys in splits.items()
        }
    return report


def _means(results: Sequence[Mapping[str, Any]]) -> dict[str, float | None]:
    """The mean over clips of each metric they carry (a clip without a value, no tOF pair, is left out)."""
    # psnr and ssim always (null for no clip); tOF and tLP where measured.
    measured = [name for name in METRICS if name in PER_FRAME_FIELDS or any(name in r for r in results)]
    return {
        name: mean_or_none([result[name] for result in results if result.get(name) is not None])
        for name in measured
    }


def write_report(out_dir: str | Path, report: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> None:
    """Write ``per_frame.csv`` and then ``metrics.json`` into ``out_dir`` (created if needed), each
    atomically: ``metrics.json`` says the evaluation is finished.

    Args:
        out_dir: the output folder.
        report: the dict :func:`lgfn.evaluation.evaluator.evaluate` returns.
        rows: per-frame records with keys ``clip, frame, file, psnr, ssim``.
    """
    out = Path(out_dir)
    further = [name for name in METRICS if name not in PER_FRAME_FIELDS and any(name in row for row in rows)]

    def write_rows(path: Path) -> None:
        with open(path, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=PER_FRAME_FIELDS + further)
            writer.writeheader()
            for row in rows:
                values = {name: row.get(name) for name in ("psnr", "ssim", *further)}
                writer.writerow({**row, **{k: "" if v is None else f"{v:.6f}" for k, v in values.items()}})

    atomic_write(out / PER_FRAME_FILE, write_rows)
    atomic_write_text(out / REPORT_FILE, json.dumps(report, indent=2) + "\n")


def format_score(psnr: float | None, ssim: float | None) -> str:
    """``PSNR/SSIM`` as the paper prints them: ``20.39/0.5720`` (``-`` when there is no score)."""
    if psnr is None or ssim is None:
        return "-"
    return f"{psnr:.2f}/{ssim:.4f}"


def format_difference(difference: Mapping[str, float | None] | None) -> str:
    """A measured - paper difference as ``+0.00/-0.0001`` (``-`` when there is none)."""
    if difference is None or difference["psnr"] is None or difference["ssim"] is None:
        return "-"
    return f"{difference['psnr']:+.2f}/{difference['ssim']:+.4f}"


def format_table(reports: Sequence[Mapping[str, Any]], show_clips: bool = True) -> str:
    """A plain-text table of one or more reports on the same dataset, one column per method.

    Args:
        reports: dicts returned by :func:`lgfn.evaluation.evaluator.evaluate` (or read from
            ``metrics.json``).
        show_clips: include one row per clip (else only the average and any splits).

    Returns:
        Lines such as ``calendar | 20.39/0.5720 | 24.11/0.8131``, with a header row and an
        ``average`` row (and one row per split). Further metrics (tOF) get a column per method; when
        a report has the paper's scores, the paper's Bicubic and LGFN columns follow, then one
        ``measured - paper`` column per method.
    """
    further = [name for name in METRIC_LABELS if any(name in report["average"] for report in reports)]
    papers = [report.get("paper", {}) for report in reports]
    with_paper = any(part in paper for paper in papers for part in ("clips", "splits", "average"))
    header = ["clip", *(report["method"] for report in reports)]
    header += [f"{report['method']} {METRIC_LABELS[name]}" for name in further for report in reports]
    if with_paper:
        header += [f"paper {method}" for method in PAPER_METHODS]
        header += [f"{report['method']} - paper" for report in reports]

    def line(name: str, measured: list[Mapping[str, Any] | None], paper_rows: list[Mapping | None]) -> list:
        cells = [name, *("-" if m is None else format_score(m["psnr"], m["ssim"]) for m in measured)]
        for metric in further:
            cells += ["-" if m is None or m.get(metric) is None else f"{m[metric]:.3f}" for m in measured]
        if with_paper:
            known = next((row for row in paper_rows if row is not None), None)
            cells += ["-" if known is None else format_score(**known[method]) for method in PAPER_METHODS]
            cells += [format_difference(None if row is None else row["difference"]) for row in paper_rows]
        return cells

    rows: list[list[str]] = [header]
    if show_clips:
        for key in reports[0]["clips"]:
            measured = [report["clips"].get(key) for report in reports]
            rows.append(line(key, measured, [paper.get("clips", {}).get(key) for paper in papers]))
    for name in reports[0].get("splits", {}):
        measured = [report["splits"][name] for report in reports]
        rows.append(line(name, measured, [paper.get("splits", {}).get(name) for paper in papers]))
    rows.append(line("average", [r["average"] for r in reports], [paper.get("average") for paper in papers]))
    widths = [max(len(row[col]) for row in rows) for col in range(len(rows[0]))]
    return "\n".join(
        " | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def print_report(reports: Sequence[Mapping[str, Any]], out: Path, show_clips: bool = True) -> None:
    """Print the table, the notice when the paper did not report the setting, and the figures drawn
    into ``out`` (the reports' ``"figures"``, :mod:`lgfn.evaluation.figures`)."""
    print(format_table(reports, show_clips=show_clips))
    notice = paper_notice(list(reports))
    if notice:
        print(notice)
    figures = reports[0].get("figures")
    if figures:
        print(f"figures in {out}: {', '.join(Path(name).name for name in figures)}")
