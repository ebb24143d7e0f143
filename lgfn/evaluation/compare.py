"""Several methods on the same clips: one evaluation each, then the figures that put them side by side
(:mod:`lgfn.evaluation.figures`; for the sample also :func:`lgfn.visualize.save_side_by_side`)."""

from __future__ import annotations

import logging
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lgfn.data.eval_datasets import EvalDataset
from lgfn.errors import ConfigError
from lgfn.evaluation.evaluator import SINGLE_PROCESS, plan_evaluation
from lgfn.evaluation.figures import FrameKeeper, draw_figures, frame_caption, region_caption, score_label
from lgfn.inference.upscaler import Upscaler
from lgfn.visualize import default_crop_size, save_side_by_side

logger = logging.getLogger(__name__)


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
    figures: bool = True,
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
        figures: draw the figures (:func:`lgfn.evaluation.figures.draw_figures`) into ``out_dir`` and
            list them in the reports (with ``figure_path``); false draws none. Only rank 0 draws.
        **evaluate_kwargs: passed on to :func:`lgfn.evaluation.evaluator.plan_evaluation`
            (``crop_border``, ``luma``, ``progress``, ``save_images``, ``resume``, ``overwrite``...).

    Returns:
        One report per method, in the order of ``upscalers`` (with ``"figures"`` when drawn).

    Raises:
        ConfigError: ``figure_frame`` is not a scored frame of the dataset (and the errors of
            :func:`~lgfn.evaluation.evaluator.plan_evaluation`).
    """
    if figure_frame is None and figure_path is not None:
        first = dataset.clips[0]
        figure_frame = (first.key, first.scored[len(first.scored) // 2])
    if figure_frame is not None:
        scored = {clip.key: clip.scored for clip in dataset.clips}
        if figure_frame[1] not in scored.get(figure_frame[0], ()):
            raise ConfigError(f"figure frame {figure_frame} is not a scored frame of the dataset")
    labels = dict(labels or {})
    keeper = FrameKeeper(
        dataset,
        evaluate_kwargs.get("crop_border", 0),
        evaluate_kwargs.get("luma", True),
        dict([figure_frame]) if figure_frame else None,
    )
    method_dirs: dict[str, Path] = {}
    plans = []
    for method, upscaler in upscalers.items():
        method_dir = None if out_dir is None else Path(out_dir) / method if subfolders else Path(out_dir)
        if method_dir is not None:
            method_dirs[method] = method_dir
        plans.append(
            plan_evaluation(
                dataset,
                upscaler,
                out_dir=method_dir,
                method=method,
                frame_callback=keeper.callback(method),
                protocol=(protocols or {}).get(method),
                identity=(identities or {}).get(method),
                **evaluate_kwargs,
            )
        )
    reports = [plan.run() for plan in plans]
    context = evaluate_kwargs.get("context", SINGLE_PROCESS)
    if all(plan.complete is not None for plan in plans):
        return reports  # every evaluation was found complete: its files, figures included, stay as they are
    if figures:
        keeper.gather(context)
    if not figures or not context.is_main:
        return reports
    extra = []
    if figure_path is not None and _side_by_side(Path(figure_path), figure_frame, keeper, upscalers, labels):
        extra.append(Path(figure_path))
    if out_dir is not None:
        draw_figures(Path(out_dir), method_dirs, reports, keeper, labels, extra)
    return reports


def _side_by_side(
    path: Path, frame: tuple[str, int], keeper: FrameKeeper, methods: Mapping[str, Any], labels: Mapping
) -> bool:
    """Draw the side-by-side of ``frame`` (``(clip key, index)``) when every method's frame was kept."""
    key, index = frame
    if not keeper.complete(key, list(methods)):
        logger.warning("no side-by-side picture: its clip was scored by an earlier run")
        return False
    names = [labels.get(method, method) for method in methods]
    panels = [
        (score_label(n, index, *keeper.scores[key][m]), keeper.sr[key][m])
        for n, m in zip(names, methods, strict=True)
    ]
    panels.append(("Ground truth", keeper.gt[key]))
    size = default_crop_size(*keeper.gt[key].shape[:2])
    # Short lines: the caption sits under the whole frame, a few hundred pixels wide.
    caption = [frame_caption(key, index, keeper.clips[key]), region_caption(names, size)]
    caption = "\n".join(line for part in caption for line in textwrap.wrap(part, 44))
    save_side_by_side(path, panels, crop_size=size, frame_label=caption)
    return True
