"""What an evaluation reports: the per-clip and average scores (and split averages), the files that
keep them, and the paper-style table that prints them.

``metrics.json``::

    {"dataset": "vid4", "method": "bicubic",
     "protocol": {"scale": 4, "lr": "BI degradation of GT", "scored_frames": "inner",
                  "crop_border": 0, "metric": "luma", ...},
     "clips": {"calendar": {"psnr": 20.39, "ssim": 0.572, "frames": 39}, ...},
     "average": {"psnr": 23.79, "ssim": 0.6347}}

plus, for datasets with named subsets (Vimeo-90K-T's slow / medium / fast lists), a top-level
``"splits": {"slow": {"psnr": ..., "ssim": ..., "clips": 1616}, ...}`` holding the mean over the
evaluated clips of each subset (``null`` scores when none of its clips was evaluated).

``per_frame.csv``: ``clip,frame,file,psnr,ssim``, one row per scored frame.

The average is the mean of the per-clip means, as in the paper's tables, not the mean over frames.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lgfn.evaluation.scoring import mean_or_none
from lgfn.files import atomic_write, atomic_write_text

#: The columns of ``per_frame.csv``.
PER_FRAME_FIELDS = ["clip", "frame", "file", "psnr", "ssim"]


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
    return {
        "psnr": mean_or_none([result["psnr"] for result in results]),
        "ssim": mean_or_none([result["ssim"] for result in results]),
    }


def write_report(out_dir: str | Path, report: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> None:
    """Write ``metrics.json`` and ``per_frame.csv`` into ``out_dir`` (created if needed), each atomically.

    Args:
        out_dir: the output folder.
        report: the dict :func:`lgfn.evaluation.evaluator.evaluate` returns.
        rows: per-frame records with keys ``clip, frame, file, psnr, ssim``.
    """
    out = Path(out_dir)
    atomic_write_text(out / "metrics.json", json.dumps(report, indent=2) + "\n")

    def write_rows(path: Path) -> None:
        with open(path, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=PER_FRAME_FIELDS)
            writer.writeheader()
            for row in rows:
                writer.writerow({**row, "psnr": f"{row['psnr']:.6f}", "ssim": f"{row['ssim']:.6f}"})

    atomic_write(out / "per_frame.csv", write_rows)


def format_score(psnr: float | None, ssim: float | None) -> str:
    """``PSNR/SSIM`` as the paper prints them: ``20.39/0.5720`` (``-`` when there is no score)."""
    if psnr is None or ssim is None:
        return "-"
    return f"{psnr:.2f}/{ssim:.4f}"


def format_table(reports: Sequence[Mapping[str, Any]], show_clips: bool = True) -> str:
    """A plain-text table of one or more reports on the same dataset, one column per method.

    Args:
        reports: dicts returned by :func:`lgfn.evaluation.evaluator.evaluate` (or read from
            ``metrics.json``).
        show_clips: include one row per clip (else only the average and any splits).

    Returns:
        Lines such as ``calendar | 20.39/0.5720 | 24.11/0.8131``, with a header row and an
        ``average`` row (and one row per split).
    """
    rows: list[list[str]] = [["clip", *(report["method"] for report in reports)]]
    if show_clips:
        for key in reports[0]["clips"]:
            cells = []
            for report in reports:
                clip = report["clips"].get(key)
                cells.append("-" if clip is None else format_score(clip["psnr"], clip["ssim"]))
            rows.append([key, *cells])
    for name in reports[0].get("splits", {}):
        cells = [format_score(r["splits"][name]["psnr"], r["splits"][name]["ssim"]) for r in reports]
        rows.append([name, *cells])
    rows.append(["average", *(format_score(r["average"]["psnr"], r["average"]["ssim"]) for r in reports)])
    widths = [max(len(row[col]) for row in rows) for col in range(len(rows[0]))]
    return "\n".join(
        " | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )
