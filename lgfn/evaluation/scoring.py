"""How one clip is scored: run the upscaler over its scored frames and measure each against the ground
truth with :func:`lgfn.metrics.calculate_psnr_ssim`, as the paper's tables do, and, when asked, the
temporal consistency of consecutive frames (tOF, :mod:`lgfn.evaluation.temporal`; tLP,
:mod:`lgfn.evaluation.perceptual`) and the edges' restoration (ERQA, :mod:`lgfn.evaluation.erqa`).

A clip's score is the mean over its scored frames (:class:`ClipScores`); the evaluation's average is
then the mean of the clips' means (:mod:`lgfn.evaluation.report`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lgfn.data.io import write_image
from lgfn.errors import ConfigError
from lgfn.evaluation.erqa import METRIC_VERSIONS, erqa
from lgfn.evaluation.perceptual import TemporalLPIPS
from lgfn.evaluation.temporal import tof
from lgfn.inference.upscaler import Upscaler
from lgfn.metrics import SSIM_WINDOW, calculate_psnr_ssim

#: Called for every scored frame with ``(clip key, frame index, sr, gt)``, both ``(h, w, 3)`` uint8.
FrameCallback = Callable[[str, int, np.ndarray, np.ndarray], None]
#: Called with the row of every finished frame (scored, its image written, the frame callback done).
RowCallback = Callable[[dict[str, Any]], None]

#: What an evaluation can measure: the paper's PSNR and SSIM (always), tOF, tLP and ERQA (1.0,
#: MSU's; ``erqa1.1`` the later version).
METRICS = ("psnr", "ssim", "tof", "tlp", *METRIC_VERSIONS)
#: The paper's metrics, the default.
DEFAULT_METRICS = ("psnr", "ssim")
#: The metrics measured on pairs of consecutive frames: a frame's value is that of the pair it ends.
PAIR_METRICS = ("tof", "tlp")
#: The further metrics measured on each frame against its ground truth, like PSNR and SSIM.
FRAME_METRICS = tuple(METRIC_VERSIONS)


def check_metrics(metrics: Sequence[str]) -> tuple[str, ...]:
    """``metrics`` in :data:`METRICS` order, checked.

    Raises:
        ConfigError: an unknown name, or psnr or ssim missing (every report and table has them).
    """
    unknown = [name for name in metrics if name not in METRICS]
    if unknown:
        raise ConfigError(f"unknown metric(s) {', '.join(unknown)}; choose from {', '.join(METRICS)}")
    missing = [name for name in DEFAULT_METRICS if name not in metrics]
    if missing:
        raise ConfigError(
            f"the metrics must include {', '.join(DEFAULT_METRICS)} (the paper's); add others to them, "
            f"e.g. psnr,ssim,tof"
        )
    return tuple(name for name in METRICS if name in metrics)


def parse_metrics(text: str, lpips_weights: Path | None) -> tuple[str, ...]:
    """``test.py --metrics`` (comma-separated names) checked with :func:`check_metrics`, and the tLP
    network's weights (``--lpips-weights``) given exactly when tlp is asked.

    Raises:
        ConfigError: a bad list of metrics; tlp without weights, or weights without tlp.
    """
    names = [name.strip() for name in text.split(",") if name.strip()]
    try:
        metrics = check_metrics(names)
    except ConfigError as exc:
        raise ConfigError(f"--metrics {text}: {exc}") from None
    if "tlp" in metrics and lpips_weights is None:
        raise ConfigError(
            "--metrics tlp needs --lpips-weights PATH: torchvision's ImageNet AlexNet weights "
            "(alexnet-owt-7be5be79.pth), the LPIPS trunk (never downloaded)"
        )
    if "tlp" not in metrics and lpips_weights is not None:
        raise ConfigError("--lpips-weights is for the tlp metric: add tlp to --metrics")
    return metrics


@dataclass(frozen=True)
class ClipScores:
    """The scores of one clip.

    Attributes:
        result: ``{"psnr": mean, "ssim": mean, "frames": number of scored frames}`` (and ``"tof"``,
            ``"tlp"`` when measured: the mean over pairs of consecutive scored frames; ``"erqa"``,
            ``"erqa1.1"``: the mean over the frames), the clip's entry in the report's ``"clips"``.
        rows: one ``{"clip", "frame", "file", "psnr", "ssim"}`` per scored frame, in frame order
            (the rows of ``per_frame.csv``), and ``"tof"``, ``"tlp"`` when measured: the pair that
            ends at this frame, ``None`` when the previous frame was not scored; ``"erqa"``,
            ``"erqa1.1"``: the frame's.
    """

    result: dict[str, Any]
    rows: list[dict[str, Any]]


def mean_or_none(values: Sequence[float]) -> float | None:
    """The mean of ``values``, or ``None`` when there are none.

    ``None`` (JSON null) rather than NaN: a split none of whose clips was evaluated has no score.
    """
    return float(np.mean(values)) if len(values) else None


def score_clip(
    item: Mapping[str, Any],
    upscaler: Upscaler,
    method: str,
    *,
    crop_border: int = 0,
    luma: bool = True,
    image_dir: Path | None = None,
    frame_callback: FrameCallback | None = None,
    metrics: Sequence[str] = DEFAULT_METRICS,
    lpips: TemporalLPIPS | None = None,
    kept: Sequence[Mapping[str, Any]] = (),
    start: int | None = None,
    row_callback: RowCallback | None = None,
) -> ClipScores:
    """Super-resolve the scored frames of one clip and score each against its ground truth.

    Args:
        item: one dataset item, ``{"lq", "gt", "key", "scored", "names"}`` (see
            :mod:`lgfn.data.eval_datasets`); ``lq`` frames ``(h, w, 3)``, ``gt`` ``(s*h, s*w, 3)``.
        upscaler: yields ``(index, sr)`` for the scored indices, ``sr`` ``(s*h, s*w, 3)`` uint8 RGB.
        method: the method's name, for error messages.
        crop_border: pixels removed from each side before scoring.
        luma: score BT.601 luma instead of RGB (PSNR and SSIM; ERQA always compares the colour frames).
        image_dir: when given, each super-resolved frame is written as
            ``image_dir/<clip>/<frame file stem>.png``.
        frame_callback: called with ``(key, index, sr, gt)`` for every scored frame, after its
            image is written.
        metrics: what to measure (:data:`METRICS`; psnr and ssim are always measured).
        lpips: the network that measures tLP (needed when ``metrics`` has it).
        kept: the rows of the clip's first scored frames, kept from a stopped run: those frames are
            not scored again (:mod:`lgfn.evaluation.clip_progress`).
        start: the position in the scored frames where the upscaler starts (default ``len(kept)``);
            the outputs of the kept frames it runs are only the previous frames of the pair metrics.
        row_callback: called with the row of every frame scored here once it is finished.

    Returns:
        The clip's scores.

    Raises:
        RuntimeError: the upscaler returned a frame of the wrong size, or not exactly the scored
            frames in order.
    """
    key, gt, names = item["key"], item["gt"], item["names"]
    scored = list(item["scored"])
    check_crop_border(crop_border, key, gt[scored[0]].shape)
    rows: list[dict[str, Any]] = [dict(row) for row in kept]
    start = len(rows) if start is None else start
    produced = [row["frame"] for row in rows[:start]]
    previous: tuple[int, np.ndarray] | None = None  # the last scored frame and its SR, for tOF and tLP
    for index, sr in upscaler.upscale_clip(item["lq"], indices=scored[start:]):
        produced.append(index)
        if sr.shape != gt[index].shape:
            raise RuntimeError(
                f"{method} returned a {sr.shape} frame for clip {key} frame {index}, "
                f"expected the ground truth's {gt[index].shape}"
            )
        if len(produced) <= len(kept):  # a kept frame, run again for the pair of the next one
            previous = (index, sr.copy())
            continue
        rows.append(_frame_row(key, index, names[index], sr, gt, metrics, crop_border, luma))
        if any(name in metrics for name in PAIR_METRICS):
            pair = (
                (previous[1], sr, gt[index - 1], gt[index]) if previous and previous[0] == index - 1 else None
            )
            if "tof" in metrics:
                rows[-1]["tof"] = None if pair is None else tof(*pair, crop_border)
            if "tlp" in metrics:
                rows[-1]["tlp"] = None if pair is None else lpips.tlp(*pair, crop_border)
            previous = (index, sr.copy())  # the upscaler may reuse its output buffer
        if image_dir is not None:
            write_image(image_dir / key / (Path(names[index]).stem + ".png"), sr)
        if frame_callback is not None:
            frame_callback(key, index, sr, gt[index])
        if row_callback is not None:
            row_callback(rows[-1])
    if produced != scored:
        raise RuntimeError(f"{method} produced frames {produced} of clip {key}, expected {scored}")
    return ClipScores(clip_result(rows, metrics), rows)


def _frame_row(
    key: str,
    index: int,
    name: str,
    sr: np.ndarray,
    gt: np.ndarray,
    metrics: Sequence[str],
    crop_border: int,
    luma: bool,
) -> dict[str, Any]:
    """A frame's row without its pair metrics: PSNR, SSIM and the further frame metrics asked."""
    psnr, ssim = calculate_psnr_ssim(sr, gt[index], crop_border=crop_border, luma=luma)
    row = {"clip": key, "frame": index, "file": name, "psnr": psnr, "ssim": ssim}
    for metric in FRAME_METRICS:
        if metric in metrics:
            row[metric] = erqa(sr, gt[index], METRIC_VERSIONS[metric], crop_border)
    return row


def clip_result(rows: Sequence[Mapping[str, Any]], metrics: Sequence[str]) -> dict[str, Any]:
    """A clip's entry in the report from its per-frame rows (see :class:`ClipScores`): the means, and
    for the pair metrics in ``metrics`` the mean over the rows that have a value."""
    result = {
        "psnr": mean_or_none([row["psnr"] for row in rows]),
        "ssim": mean_or_none([row["ssim"] for row in rows]),
        "frames": len(rows),
    }
    for name in PAIR_METRICS + FRAME_METRICS:
        if name in metrics:
            result[name] = mean_or_none([row[name] for row in rows if row[name] is not None])
    return result


def check_crop_border(crop_border: int, key: str, shape: tuple[int, ...]) -> None:
    """Refuse a clip whose ``(h, w, 3)`` frames, less ``crop_border`` at each side, are too small to score
    (SSIM needs :data:`~lgfn.metrics.SSIM_WINDOW` pixels each way).

    Raises:
        ConfigError: the border crop leaves too little (or the frames are too small to start with).
    """
    h, w = shape[:2]
    if min(h, w) - 2 * crop_border >= SSIM_WINDOW:
        return
    if crop_border == 0 or min(h, w) < SSIM_WINDOW:
        raise ConfigError(
            f"clip {key}'s {w}x{h} frames are too small to score: SSIM needs at least "
            f"{SSIM_WINDOW}x{SSIM_WINDOW} pixels"
        )
    raise ConfigError(
        f"--crop-border {crop_border} leaves nothing of clip {key}'s {w}x{h} frames to score (SSIM needs "
        f"{SSIM_WINDOW}x{SSIM_WINDOW}): it can be at most {(min(h, w) - SSIM_WINDOW) // 2}"
    )
