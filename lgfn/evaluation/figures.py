"""The figures of an evaluation, drawn beside its ``metrics.json`` and listed in it under ``"figures"``.

- ``per_frame_psnr.png``, ``per_frame_ssim.png``: a panel per clip, a line per method over the
  scored frames (the rows of ``per_frame.csv``), and a dashed line at the paper's score of the clip
  where the paper reports the setting (:mod:`lgfn.evaluation.paper`). Drawn when some clip has two
  scored frames or more (not for Vimeo-90K-T, one frame a septuplet); at most
  :data:`MAX_CURVE_CLIPS` clips, the first ones.
- ``comparison_<clip>.png``, the paper's kind of visual comparison: the ground-truth frame with the
  zoomed region boxed, then that region of every method and of the ground truth, each labelled
  with the method and its PSNR/SSIM on that frame. The frame is the clip's middle scored frame
  (:func:`figure_frame`); the region is :func:`lgfn.visualize.choose_crop`'s: where the best method
  gains most on the first (bicubic), or for one method the most detailed square of the ground truth.
  At most :data:`MAX_COMPARISON_CLIPS` clips, the first ones.

The comparisons need the super-resolved frames: :class:`FrameKeeper` keeps the chosen frame of
those clips in memory while they are scored, and nothing else; under torchrun the processes pass
theirs to each other at the end (:meth:`FrameKeeper.gather`) and rank 0 alone draws. A clip scored
by the stopped run that ``--resume`` continues has no frames here, so it gets no comparison (a
warning says so); the curves are drawn from every clip's rows.

Only matplotlib's Agg canvas is used (no pyplot, no window), imported when a figure is drawn, so
that importing the evaluation (its output files' names) does not load it.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import re
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lgfn.data.eval_datasets import EvalClip, EvalDataset
from lgfn.distributed import DistributedContext, all_gather_objects
from lgfn.evaluation.report import PER_FRAME_FILE, REPORT_FILE
from lgfn.evaluation.scoring import FrameCallback
from lgfn.files import atomic_write, atomic_write_text
from lgfn.metrics import calculate_psnr_ssim
from lgfn.visualize import choose_crop, default_crop_size

if TYPE_CHECKING:
    from matplotlib.figure import Figure

logger = logging.getLogger(__name__)

#: The per-frame curves, one file per metric.
CURVE_FILES = {"psnr": "per_frame_psnr.png", "ssim": "per_frame_ssim.png"}
#: A clip's visual comparison (the clip key with anything but letters, digits, ``.-_`` as ``_``).
COMPARISON_PREFIX = "comparison_"
#: Curves are drawn for at most this many clips, comparisons kept for at most this many (the first).
MAX_CURVE_CLIPS, MAX_COMPARISON_CLIPS = 30, 10
#: Pixels per inch of the PNGs; the font sizes are in points, so text stays readable at this size.
DPI = 100
_FONT = 11
_METRIC_NAMES = {"psnr": "PSNR (dB)", "ssim": "SSIM"}


def figure_frame(clip: EvalClip) -> int:
    """The frame a clip's comparison shows: its middle scored frame."""
    return clip.scored[len(clip.scored) // 2]


def frame_caption(key: str, index: int, clip: EvalClip | None) -> str:
    """Which frame a figure shows and why, the index of ``per_frame.csv``'s ``frame`` column:
    ``calendar, frame 20 (file 020.png, the middle of its 39 scored frames)``."""
    notes = [f"file {clip.gt_paths[index].name}"] if clip is not None and clip.gt_paths else []
    if clip is not None and index == figure_frame(clip):
        notes.append(f"the middle of its {len(clip.scored)} scored frames")
    return f"{key}, frame {index}" + (f" ({', '.join(notes)})" if notes else "")


def region_caption(labels: Sequence[str], size: int) -> str:
    """How the zoomed region was chosen (:func:`lgfn.visualize.choose_crop`), for a figure's caption."""
    if len(labels) >= 2:
        others = " or ".join(labels[1:])
        return (
            f"box: the {size}x{size} square where {others} gains most on {labels[0]} "
            f"(the largest drop in mean luma error against the ground truth)"
        )
    return f"box: the {size}x{size} square of the ground truth with the most detail (luma Laplacian)"


def score_label(label: str, index: int, psnr: float, ssim: float) -> str:
    """A panel's label: the method, then the frame's own scores, ``frame 20: 24.21 dB / 0.7100``."""
    return f"{label}\nframe {index}: {psnr:.2f} dB / {ssim:.4f}"


class FrameKeeper:
    """Keeps, while the methods score, the chosen frame of each of the first clips and its scores.

    Args:
        dataset: the clips; the first :data:`MAX_COMPARISON_CLIPS` are kept (their :func:`figure_frame`).
        crop_border, luma: as the evaluation scores, so that a label equals the ``per_frame.csv`` row.
        frames: ``{clip key: frame index}`` to keep instead of the rule (e.g. the side-by-side's).
    """

    def __init__(
        self, dataset: EvalDataset, crop_border: int, luma: bool, frames: Mapping[str, int] | None = None
    ) -> None:
        self.clips = {clip.key: clip for clip in dataset.clips}
        self.frames = {clip.key: figure_frame(clip) for clip in dataset.clips[:MAX_COMPARISON_CLIPS]}
        self.frames.update(frames or {})
        self.crop_border, self.luma = crop_border, luma
        #: ``{clip key: {method: sr}}``, ``{clip key: gt}``, ``{clip key: {method: (psnr, ssim)}}``.
        self.sr: dict[str, dict[str, np.ndarray]] = {}
        self.gt: dict[str, np.ndarray] = {}
        self.scores: dict[str, dict[str, tuple[float, float]]] = {}

    def callback(self, method: str) -> FrameCallback:
        """The evaluation's ``frame_callback`` for ``method``."""

        def keep(key: str, index: int, sr: np.ndarray, gt: np.ndarray) -> None:
            if self.frames.get(key) == index:
                self.sr.setdefault(key, {})[method] = sr.copy()  # the upscaler may reuse its buffer
                self.gt[key] = gt.copy()
                score = calculate_psnr_ssim(sr, gt, crop_border=self.crop_border, luma=self.luma)
                self.scores.setdefault(key, {})[method] = score

        return keep

    def gather(self, context: DistributedContext) -> None:
        """Join every process's kept frames (torchrun: each kept those of the clips it scored).

        Every process must call it; all of them then hold every kept frame (a few per clip, for the
        first :data:`MAX_COMPARISON_CLIPS` clips only), and rank 0 draws.
        """
        for sr, gt, scores in all_gather_objects((self.sr, self.gt, self.scores), context):
            for key, methods in sr.items():
                self.sr.setdefault(key, {}).update(methods)
                self.scores.setdefault(key, {}).update(scores[key])
            self.gt.update(gt)

    def complete(self, key: str, methods: Sequence[str]) -> bool:
        """Whether every method's frame of clip ``key`` was kept."""
        return all(method in self.sr.get(key, {}) for method in methods)


def read_rows(folder: Path) -> list[dict[str, Any]]:
    """The rows of ``folder/per_frame.csv``: ``frame`` an integer, the metrics floats (``None`` if empty)."""
    with open(folder / PER_FRAME_FILE, newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        row["frame"] = int(row["frame"])
        for name in set(row) - {"clip", "frame", "file"}:
            row[name] = float(row[name]) if row[name] != "" else None
    return rows


def paper_lines(reports: Sequence[Mapping[str, Any]], metric: str) -> dict[str, dict[str, float]]:
    """``{clip: {"paper Bicubic": score, ...}}``: the paper's clip scores of the methods run, for the
    reports whose setting the paper reports (``"paper"``, :func:`lgfn.evaluation.paper.paper_comparison`)."""
    lines: dict[str, dict[str, float]] = {}
    for report in reports:
        paper = report.get("paper", {})
        if not paper.get("reported"):
            continue
        method = paper["compared_with"]
        for key, row in paper.get("clips", {}).items():
            lines.setdefault(key, {})[f"paper {method}"] = row[method][metric]
    return lines


def plot_curves(
    path: Path,
    metric: str,
    rows: Mapping[str, Sequence[Mapping[str, Any]]],
    paper: Mapping[str, Mapping[str, float]] | None = None,
    title: str = "",
) -> dict[str, dict[str, tuple[list[int], list[float]]]]:
    """Draw a panel per clip (the first :data:`MAX_CURVE_CLIPS`), a line per method, into ``path``.

    Args:
        path: the PNG to write.
        metric: ``"psnr"`` or ``"ssim"``.
        rows: ``{method label: per_frame.csv rows}``, in legend order.
        paper: ``{clip: {line label: score}}`` drawn as dashed horizontal lines (:func:`paper_lines`).
        title: the figure's title.

    Returns:
        What was plotted: ``{clip: {method label: (frame indices, values)}}``.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    series: dict[str, dict[str, tuple[list[int], list[float]]]] = {}
    for label, method_rows in rows.items():
        for row in method_rows:
            frames, values = series.setdefault(row["clip"], {}).setdefault(label, ([], []))
            frames.append(row["frame"])
            values.append(row[metric])
    shown = dict(list(series.items())[:MAX_CURVE_CLIPS])
    if len(series) > len(shown):
        title += f" (the first {len(shown)} of {len(series)} clips)"
    columns = 1 if len(shown) == 1 else 2 if len(shown) <= 4 else 3
    lines = math.ceil(len(shown) / columns)
    figure = Figure(figsize=(5.5 * columns, 3.2 * lines + 1.2), dpi=DPI, layout="constrained")
    axes = figure.subplots(lines, columns, squeeze=False).ravel()
    for ax, (key, methods) in zip(axes, shown.items(), strict=False):
        for label, (frames, values) in methods.items():
            finite = [v if v is not None and math.isfinite(v) else np.nan for v in values]
            ax.plot(frames, finite, marker="o" if len(frames) < 12 else None, ms=4, label=label)
        for i, (label, score) in enumerate((paper or {}).get(key, {}).items()):
            ax.axhline(score, ls="--", lw=1.2, color=f"C{len(methods) + i}", label=f"{label} (clip mean)")
        ax.set_title(key, fontsize=_FONT + 1)
        ax.set_xlabel("frame", fontsize=_FONT)
        ax.set_ylabel(_METRIC_NAMES[metric], fontsize=_FONT)
        ax.tick_params(labelsize=_FONT - 1)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=_FONT - 2)
    for ax in axes[len(shown) :]:
        ax.set_visible(False)
    figure.suptitle(title, fontsize=_FONT + 2)
    _save(figure, path)
    return {key: shown[key] for key in shown}


def plot_comparison(
    path: Path,
    panels: Sequence[tuple[str, np.ndarray]],
    caption: Sequence[str],
    crop_size: int | None = None,
) -> tuple[int, int, int]:
    """Draw the paper's kind of visual comparison of one frame into ``path``.

    Args:
        path: the PNG to write.
        panels: ``(label, image)`` in display order, the methods then the ground truth, all
            ``(h, w, 3)`` uint8 RGB; the last is shown whole with the region boxed.
        caption: lines under the figure (which frame, how the region was chosen).
        crop_size: the region's side (default :func:`lgfn.visualize.default_crop_size`).

    Returns:
        The region, ``(y, x, size)``.
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    truth = panels[-1][1]
    h, w = truth.shape[:2]
    size = crop_size or default_crop_size(h, w)
    y, x = choose_crop(truth, size, [image for _, image in panels[:-1]])
    ratios = [w / h] + [1.0] * len(panels)
    width = min(18.0, 3.2 * sum(ratios))
    wrap = int(width * 72 / (_FONT * 0.55))
    text = "\n".join(line for part in caption for line in textwrap.wrap(part, wrap))
    height = width / sum(ratios) + 0.8 + 0.2 * text.count("\n")
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    axes = figure.subplots(1, len(ratios), gridspec_kw={"width_ratios": ratios})
    axes[0].imshow(truth)
    axes[0].add_patch(Rectangle((x - 0.5, y - 0.5), size, size, fill=False, ec=(0.9, 0.1, 0.1), lw=2))
    axes[0].set_title("Ground truth, whole frame", fontsize=_FONT)
    for ax, (label, image) in zip(axes[1:], panels, strict=True):
        ax.imshow(image[y : y + size, x : x + size], interpolation="nearest")
        ax.set_title(label, fontsize=_FONT)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    figure.supxlabel(text, fontsize=_FONT)
    _save(figure, path)
    return y, x, size


def _save(figure: Figure, path: Path) -> None:
    """Write ``figure`` as an 8-bit RGB PNG (what every image reader of the project takes), atomically."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    rgb = Image.fromarray(np.asarray(canvas.buffer_rgba())[..., :3])
    atomic_write(path, lambda temporary: rgb.save(temporary, format="PNG", optimize=True))


def comparison_name(key: str, taken: set[str]) -> str:
    """``comparison_<clip>.png``, the key made a file name (``00001/0266`` -> ``00001_0266``), unique."""
    stem = COMPARISON_PREFIX + re.sub(r"[^A-Za-z0-9._-]+", "_", key)
    name, number = f"{stem}.png", 2
    while name in taken:
        name, number = f"{stem}_{number}.png", number + 1
    taken.add(name)
    return name


def draw_figures(
    out: Path,
    method_dirs: Mapping[str, Path],
    reports: Sequence[dict[str, Any]],
    keeper: FrameKeeper,
    labels: Mapping[str, str],
    extra: Sequence[Path] = (),
) -> list[Path]:
    """Draw the curves and comparisons into ``out`` and list them (and ``extra``) in every report.

    Args:
        out: the folder the figures go to (the top output folder).
        method_dirs: ``{method: the folder of its metrics.json and per_frame.csv}``, in display order.
        reports: the methods' reports, in the same order; each gets ``"figures"`` (paths relative to
            its own folder) and its ``metrics.json`` is written again with it.
        keeper: the frames kept while scoring.
        labels: display names of the methods.
        extra: figures drawn elsewhere to list too (the sample's side-by-side).

    Returns:
        The figures written.
    """
    names = {method: labels.get(method, method) for method in method_dirs}
    rows = {names[method]: read_rows(folder) for method, folder in method_dirs.items()}
    protocol = reports[0]["protocol"]
    kind = "luma" if protocol.get("metric") == "luma" else "RGB"
    figures: list[Path] = []
    if any(scores["frames"] >= 2 for scores in reports[0]["clips"].values()):
        for metric, file in CURVE_FILES.items():
            title = f"Per-frame {kind} {_METRIC_NAMES[metric]} of the scored frames, {reports[0]['dataset']}"
            plot_curves(out / file, metric, rows, paper_lines(reports, metric), title)
            figures.append(out / file)
    figures += _draw_comparisons(out, keeper, names)
    figures += list(extra)
    for report, folder in zip(reports, method_dirs.values(), strict=True):
        report["figures"] = [Path(os.path.relpath(path, folder)).as_posix() for path in figures]
        atomic_write_text(folder / REPORT_FILE, json.dumps(report, indent=2) + "\n")
    return figures


def _draw_comparisons(out: Path, keeper: FrameKeeper, names: Mapping[str, str]) -> list[Path]:
    """A comparison per kept clip that every method scored in this process and run."""
    drawn, missing, taken = [], [], set()
    for key, index in keeper.frames.items():
        if not keeper.complete(key, list(names)):
            missing.append(key)
            continue
        panels = [
            (score_label(label, index, *keeper.scores[key][method]), keeper.sr[key][method])
            for method, label in names.items()
        ]
        panels.append(("Ground truth", keeper.gt[key]))
        size = default_crop_size(*keeper.gt[key].shape[:2])
        caption = [
            frame_caption(key, index, keeper.clips.get(key)),
            region_caption(list(names.values()), size),
        ]
        path = out / comparison_name(key, taken)
        plot_comparison(path, panels, caption, size)
        drawn.append(path)
    if missing:
        logger.warning(
            "no visual comparison of clip(s) %s: scored by an earlier run (--resume) or another process",
            ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else ""),
        )
    return drawn
