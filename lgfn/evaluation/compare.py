"""Several methods on the same clips: one evaluation each, and one frame of each drawn side by side
with the ground truth (:func:`lgfn.visualize.save_side_by_side`)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from lgfn.data.eval_datasets import EvalDataset
from lgfn.errors import ConfigError
from lgfn.evaluation.evaluator import plan_evaluation
from lgfn.evaluation.report import format_score
from lgfn.inference.upscaler import Upscaler
from lgfn.metrics import calculate_psnr_ssim
from lgfn.visualize import save_side_by_side

logger = logging.getLogger(__name__)

#: The figure's key for the ground-truth frame, beside the methods' names.
GROUND_TRUTH = "ground truth"


def compare_methods(
    dataset: EvalDataset,
    upscalers: Mapping[str, Upscaler],
    out_dir: str | Path | None = None,
    labels: Mapping[str, str] | None = None,
    figure_path: str | Path | None = None,
    figure_frame: tuple[str, int] | None = None,
    protocols: Mapping[str, Mapping[str, Any]] | None = None,
    identities: Mapping[str, Mapping[str, Any]] | None = None,
    subfolders: bool = True,
    **evaluate_kwargs: Any,
) -> list[dict[str, Any]]:
    """Evaluate several methods on the same dataset and draw one frame of each side by side.

    Every evaluation is checked against its output folder (:func:`plan_evaluation`) before the
    first one runs, so that a refusal comes before any work.

    Args:
        dataset: the clips.
        upscalers: ``{method name: upscaler}`` in display order (e.g. ``bicubic`` then ``lgfn``).
        out_dir: each method's report goes to ``out_dir/<method name>/`` (with ``subfolders`` false,
            the one method's to ``out_dir``); ``None`` writes no report.
        labels: display names for the figure (default: the method names).
        figure_path: where to write the figure (:func:`lgfn.visualize.side_by_side`: the methods'
            zoomed crops, then the ground truth's); ``None`` draws none.
        figure_frame: ``(clip key, frame index)`` shown in the figure (default: the first clip's
            middle scored frame).
        protocols: ``{method name: extra protocol entries}`` for the methods' reports.
        identities: ``{method name: settings a resume must match}`` (see
            :func:`lgfn.evaluation.evaluator.plan_evaluation`).
        subfolders: one folder per method under ``out_dir`` (else there must be one method).
        **evaluate_kwargs: passed on to :func:`lgfn.evaluation.evaluator.plan_evaluation`
            (``crop_border``, ``luma``, ``progress``, ``save_images``, ``resume``, ``overwrite``...).

    Returns:
        One report per method, in the order of ``upscalers``.

    Raises:
        ConfigError: ``figure_frame`` is not a scored frame of the dataset (and the errors of
            :func:`~lgfn.evaluation.evaluator.plan_evaluation`).
    """
    if figure_frame is None and figure_path is not None:
        first = dataset.clips[0]
        figure_frame = (first.key, first.scored[len(first.scored) // 2])
    labels = dict(labels or {})
    crop_border = evaluate_kwargs.get("crop_border", 0)
    luma = evaluate_kwargs.get("luma", True)
    kept: dict[str, np.ndarray] = {}
    scores: dict[str, tuple[float, float]] = {}
    plans = []
    for method, upscaler in upscalers.items():

        def keep(key: str, index: int, sr: np.ndarray, gt: np.ndarray, method: str = method) -> None:
            if (key, index) == figure_frame:
                kept[method] = sr
                kept[GROUND_TRUTH] = gt
                scores[method] = calculate_psnr_ssim(sr, gt, crop_border=crop_border, luma=luma)

        method_dir = None if out_dir is None else Path(out_dir) / method if subfolders else Path(out_dir)
        plans.append(
            plan_evaluation(
                dataset,
                upscaler,
                out_dir=method_dir,
                method=method,
                frame_callback=keep,
                protocol=(protocols or {}).get(method),
                identity=(identities or {}).get(method),
                **evaluate_kwargs,
            )
        )
    reports = [plan.run() for plan in plans]
    if figure_path is not None and evaluate_kwargs.get("resume") and not all(m in kept for m in upscalers):
        logger.warning("no side-by-side picture: its clip was scored by an earlier run")
        figure_path = None
    if figure_path is not None:
        if GROUND_TRUTH not in kept:
            raise ConfigError(f"figure frame {figure_frame} is not a scored frame of the dataset")
        key, index = figure_frame
        panels = [
            (f"{labels.get(method, method)}\n{format_score(*scores[method])}", kept[method])
            for method in upscalers
        ]
        panels.append(("Ground truth", kept[GROUND_TRUTH]))
        save_side_by_side(figure_path, panels, frame_label=f"{key}, frame {index}")
    return reports
