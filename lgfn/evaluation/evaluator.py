"""One evaluation: super-resolve every clip of a dataset, score it as the paper does, report it.

:func:`evaluate` runs an upscaler (:class:`lgfn.inference.VideoSuperResolver`, the bicubic baseline
:class:`lgfn.inference.BicubicUpscaler`, or any :class:`~lgfn.evaluation.scoring.Upscaler`) over an
:class:`~lgfn.data.eval_datasets.EvalDataset`. It composes the evaluation's parts:

- :mod:`lgfn.evaluation.scoring` scores each clip (the mean over its scored frames);
- :mod:`lgfn.evaluation.resume` keeps ``partial.jsonl`` so that an interrupted run continues;
- :mod:`lgfn.evaluation.sharding` splits the clips over the processes of a torchrun;
- :mod:`lgfn.evaluation.report` averages the clips' means and writes ``metrics.json`` and
  ``per_frame.csv``;
- :mod:`lgfn.evaluation.paper` puts the paper's published scores beside them (``"paper"``).

Files written when ``out_dir`` is given: ``metrics.json``, ``per_frame.csv``, with ``save_images``
the super-resolved frames as ``images/<clip>/<frame file stem>.png``, and while it runs
``partial.jsonl``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from lgfn.data.eval_datasets import EvalDataset
from lgfn.distributed import DistributedContext
from lgfn.errors import ConfigError
from lgfn.evaluation.paper import paper_comparison
from lgfn.evaluation.perceptual import TemporalLPIPS
from lgfn.evaluation.report import format_score, summarise, write_report
from lgfn.evaluation.resume import ResumeLog, resume_settings
from lgfn.evaluation.scoring import DEFAULT_METRICS, ClipScores, FrameCallback, check_metrics, score_clip
from lgfn.evaluation.sharding import ClipOutcome, gather_round, plan_rounds, score_share, start_shared_log
from lgfn.inference.upscaler import Upscaler

logger = logging.getLogger(__name__)

#: One process: the context of an evaluation that torchrun did not start.
SINGLE_PROCESS = DistributedContext()


def evaluate(
    dataset: EvalDataset,
    upscaler: Upscaler,
    crop_border: int = 0,
    luma: bool = True,
    out_dir: str | Path | None = None,
    save_images: bool = False,
    progress: bool = True,
    method: str | None = None,
    protocol: Mapping[str, Any] | None = None,
    frame_callback: FrameCallback | None = None,
    resume: bool = False,
    identity: Mapping[str, Any] | None = None,
    context: DistributedContext = SINGLE_PROCESS,
    metrics: Sequence[str] = DEFAULT_METRICS,
    lpips: TemporalLPIPS | None = None,
) -> dict[str, Any]:
    """Super-resolve and score every clip of ``dataset``.

    Args:
        dataset: the clips; ``dataset[i]`` gives ``{"lq", "gt", "key", "scored", "names"}``.
        upscaler: has ``scale`` (must equal ``dataset.scale``) and ``upscale_clip(lq, indices)``
            yielding ``(index, sr)`` with ``sr`` ``(s*h, s*w, 3)`` uint8 RGB.
        crop_border: pixels removed from each side before scoring (the paper: 0).
        luma: score BT.601 luma (the paper) instead of RGB.
        out_dir: where ``metrics.json``, ``per_frame.csv`` and images go; ``None`` writes nothing.
        save_images: also write the super-resolved frames (needs ``out_dir``).
        progress: show a progress bar over the scored frames.
        method: the method name for the report (default: ``upscaler.name`` or its class name).
        protocol: extra entries for the report's ``"protocol"`` (padding, checkpoint, ...).
        frame_callback: called with ``(key, index, sr, gt)`` for every scored frame (e.g. to keep
            a frame for a figure or to log it to TensorBoard).
        resume: take the scores of the clips that an interrupted run with the same settings left in
            ``out_dir/partial.jsonl`` and evaluate only the others.
        identity: more settings (JSON values) that must match for a resume but are not reported,
            e.g. the checkpoint file's size and modification time.
        context: the process group of a sharded evaluation (torchrun): the processes split the
            clips, rank 0 alone shows progress and writes ``metrics.json``, ``per_frame.csv`` and
            ``partial.jsonl``, each process writes the images of its clips
            (:mod:`lgfn.evaluation.sharding`). Every process must make the same call.
        metrics: what to measure, a subset of :data:`lgfn.evaluation.scoring.METRICS` holding psnr
            and ssim; recorded in the protocol, so a resumed run must ask for the same.
        lpips: the network that measures tLP (:class:`lgfn.evaluation.perceptual.TemporalLPIPS`),
            needed when ``metrics`` has ``tlp``.

    Returns:
        The report, the same dict as ``metrics.json`` (see :mod:`lgfn.evaluation.report`), with
        the paper's scores beside it under ``"paper"`` (:func:`lgfn.evaluation.paper.paper_comparison`),
        on every process.

    Raises:
        ConfigError: the upscaler's scale differs from the dataset's, or ``save_images`` without
            ``out_dir``; ``out_dir`` holds an interrupted run's scores and ``resume`` is not set,
            or they were made with other settings; an unknown metric, or tlp without ``lpips``.
        InputDataError: a clip cannot be read (see the dataset).
    """
    if upscaler.scale != dataset.scale:
        raise ConfigError(
            f"the model upscales x{upscaler.scale} but the {dataset.name} data is prepared for "
            f"x{dataset.scale}; pass a matching --scale or checkpoint"
        )
    if save_images and out_dir is None:
        raise ConfigError("save_images needs an output folder (out_dir)")
    method = method or getattr(upscaler, "name", None) or type(upscaler).__name__
    metrics = check_metrics(metrics)
    if "tlp" in metrics and lpips is None:
        raise ConfigError("the tlp metric needs LPIPS weights (test.py --lpips-weights PATH)")
    full_protocol = {
        **dataset.protocol(),
        "crop_border": crop_border,
        "metric": "luma" if luma else "rgb",
        "metrics": list(metrics),
        **(protocol or {}),
    }
    out = None if out_dir is None else _output_folder(Path(out_dir))
    # Rank 0 alone keeps the resume log and writes the report; every process writes its own images.
    log = None if out is None or not context.is_main else ResumeLog(out)
    settings = resume_settings(dataset.name, method, full_protocol, identity)
    finished = start_shared_log(log, settings, resume, context)

    clips = _score_clips(
        dataset,
        upscaler,
        method,
        finished,
        log,
        context,
        scoring={
            "crop_border": crop_border,
            "luma": luma,
            "image_dir": out / "images" if save_images else None,
            "metrics": metrics,
            "lpips": lpips,
        },
        progress=progress and context.is_main,
        frame_callback=frame_callback,
    )
    results = {key: scores.result for key, scores in clips.items()}
    report = summarise(dataset.name, method, full_protocol, results, dataset.splits)
    report["paper"] = paper_comparison(report)
    if log is not None:
        write_report(out, report, [row for scores in clips.values() for row in scores.rows])
        log.remove()
    return report


def _score_clips(
    dataset: EvalDataset,
    upscaler: Upscaler,
    method: str,
    finished: Mapping[str, ClipScores],
    log: ResumeLog | None,
    context: DistributedContext,
    scoring: Mapping[str, Any],
    progress: bool,
    frame_callback: FrameCallback | None,
) -> dict[str, ClipScores]:
    """Score the clips not in ``finished``, this process's share of them (:mod:`.sharding`), each
    with :func:`~lgfn.evaluation.scoring.score_clip` and the keyword arguments ``scoring``.

    Returns:
        ``{clip key: scores}`` of every clip, in the dataset's order, on every process.
    """
    clips: dict[str, ClipScores] = dict(finished)
    frame_counts = [len(clip.scored) for clip in dataset.clips]
    pending = [i for i, clip in enumerate(dataset.clips) if clip.key not in finished]
    with tqdm(
        total=sum(frame_counts), unit="frame", desc=f"{dataset.name} {method}", disable=not progress
    ) as bar:
        bar.update(sum(frame_counts) - sum(frame_counts[i] for i in pending))

        def each_frame(key: str, index: int, sr: np.ndarray, gt: np.ndarray) -> None:
            if frame_callback is not None:
                frame_callback(key, index, sr, gt)
            bar.update(1)

        for shares in plan_rounds(frame_counts, pending, context.world_size):
            mine = shares[context.rank] if context.rank < len(shares) else None
            outcome = ClipOutcome()
            if mine is not None:
                # The clip is read inside the share, so that an unreadable frame is a shared error too.
                def score(index: int = mine) -> ClipScores:
                    return score_clip(dataset[index], upscaler, method, frame_callback=each_frame, **scoring)

                outcome = score_share(dataset.clips[mine].key, score, context)
            for key, scores in gather_round(outcome, context):
                clips[key] = scores
                score_text = format_score(scores.result["psnr"], scores.result["ssim"])
                logger.debug("%s: %s over %d frames", key, score_text, scores.result["frames"])
                if log is not None:
                    log.record(key, scores)
                if key != outcome.key:
                    bar.update(scores.result["frames"])  # the other processes' frames
    return {clip.key: clips[clip.key] for clip in dataset.clips}


def _output_folder(out: Path) -> Path:
    """``out``, created when missing."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file in the way, or no permission
        raise ConfigError(f"cannot make the output folder {out}: {exc.strerror}") from None
    return out
