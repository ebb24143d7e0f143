"""One evaluation: super-resolve every clip of a dataset, score it as the paper does, report it.

:func:`evaluate` runs an upscaler (:class:`lgfn.inference.VideoSuperResolver`, the bicubic baseline
:class:`lgfn.inference.BicubicUpscaler`, or any :class:`~lgfn.evaluation.scoring.Upscaler`) over an
:class:`~lgfn.data.eval_datasets.EvalDataset`, in two steps: :func:`plan_evaluation` checks the
output folder (what a stopped or finished evaluation left there) and writes nothing, so that
several evaluations are all checked before the first runs; :meth:`Evaluation.run` does the work.
It composes the evaluation's parts:

- :mod:`lgfn.evaluation.scoring` scores each clip (the mean over its scored frames);
- :mod:`lgfn.evaluation.resume` keeps ``partial.jsonl`` so that a stopped run continues, and
  ``settings.json``, what a finished one was made with; :mod:`lgfn.evaluation.clip_progress` keeps
  the frames of the clip in progress there;
- :mod:`lgfn.evaluation.sharding` splits the clips over the processes of a torchrun;
- :mod:`lgfn.evaluation.report` averages the clips' means and writes ``metrics.json`` and
  ``per_frame.csv``;
- :mod:`lgfn.evaluation.paper` puts the paper's published scores beside them (``"paper"``).

Files written when ``out_dir`` is given: ``metrics.json``, ``per_frame.csv``, ``settings.json``, with
``save_images`` the super-resolved frames as ``images/<clip>/<frame file stem>.png``, and while it
runs ``partial.jsonl``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from lgfn.data.eval_datasets import EvalDataset
from lgfn.distributed import DistributedContext
from lgfn.errors import ConfigError
from lgfn.evaluation.clip_progress import ClipProgress, kept_frames, resume_start
from lgfn.evaluation.paper import paper_comparison
from lgfn.evaluation.perceptual import TemporalLPIPS
from lgfn.evaluation.report import format_score, summarise, write_report
from lgfn.evaluation.resume import (
    ResumeLog,
    ResumeRecord,
    check_finished,
    clip_identity,
    data_identity,
    resume_settings,
    write_finished,
)
from lgfn.evaluation.scoring import DEFAULT_METRICS, ClipScores, FrameCallback, check_metrics, score_clip
from lgfn.evaluation.sharding import ClipOutcome, decided_on_main, gather_round, plan_rounds, score_share
from lgfn.inference.upscaler import Upscaler

logger = logging.getLogger(__name__)

#: One process: the context of an evaluation that torchrun did not start.
SINGLE_PROCESS = DistributedContext()
#: The folder of the super-resolved frames in an output folder (``--save-images``).
IMAGE_FOLDER = "images"


def evaluate(dataset: EvalDataset, upscaler: Upscaler, **options: Any) -> dict[str, Any]:
    """Super-resolve and score every clip of ``dataset``: :func:`plan_evaluation` with the same
    arguments, then :meth:`Evaluation.run`.

    Returns:
        The report, the same dict as ``metrics.json`` (see :mod:`lgfn.evaluation.report`), with
        the paper's scores beside it under ``"paper"`` (:func:`lgfn.evaluation.paper.paper_comparison`),
        on every process.
    """
    return plan_evaluation(dataset, upscaler, **options).run()


@dataclass
class Evaluation:
    """One evaluation, checked against its output folder and ready to run (:func:`plan_evaluation`).

    Attributes:
        dataset, upscaler, method: what is evaluated.
        protocol: the report's ``"protocol"``.
        out: the output folder (``None``: nothing is written).
        log: rank 0's resume log (``None`` elsewhere and without ``out``).
        settings: the resume settings (:func:`~lgfn.evaluation.resume.resume_settings`).
        data: ``{clip key: clip_identity}`` (rank 0 with ``out`` only).
        start: the finished clips of a stopped run that this one continues.
        complete: the report of a finished evaluation that ``resume`` found complete, else ``None``.
        context: the process group.
        scoring: keyword arguments of :func:`~lgfn.evaluation.scoring.score_clip`.
        progress: show a progress bar.
        frame_callback: called for every scored frame.
    """

    dataset: EvalDataset
    upscaler: Upscaler
    method: str
    protocol: dict[str, Any]
    out: Path | None
    log: ResumeLog | None
    settings: dict[str, Any]
    data: dict[str, str]
    start: ResumeRecord
    complete: dict[str, Any] | None
    context: DistributedContext
    scoring: dict[str, Any]
    progress: bool
    frame_callback: FrameCallback | None

    def run(self) -> dict[str, Any]:
        """Score the clips not yet scored and write the report (see :func:`plan_evaluation`).

        Returns:
            The report (see :func:`evaluate`).
        """
        if self.complete is not None:
            return self.complete
        if self.out is not None:
            _output_folder(self.out)
        if self.log is not None:
            self.log.start(self.settings, self.start)
        # One process keeps the frames of its clip in progress; under torchrun it only says they are lost.
        keep = None if self.context.enabled else self.log
        metrics = self.scoring["metrics"]
        progress = None if self.out is None else ClipProgress(keep, self.data, _batch(self.upscaler), metrics)
        try:
            clips = _score_clips(self, None if self.log is None else self._record, progress)
        except BaseException as exc:
            # The error that stopped the run is the one to show, not one met while keeping its scores.
            if progress is not None:
                with contextlib.suppress(OSError):
                    progress.stopped()
            if self.log is not None:
                with contextlib.suppress(OSError):
                    self.log.stop("interrupted" if isinstance(exc, KeyboardInterrupt) else f"error: {exc}")
            raise
        results = {key: scores.result for key, scores in clips.items()}
        report = summarise(self.dataset.name, self.method, self.protocol, results, self.dataset.splits)
        report["paper"] = paper_comparison(report)
        if self.log is not None:
            # The log goes only once the record of the settings and the report are safely written.
            write_finished(self.out, {**self.settings, "data": data_identity(self.data)})
            write_report(self.out, report, [row for scores in clips.values() for row in scores.rows])
            self.log.remove()
        return report

    def _record(self, key: str, scores: ClipScores) -> None:
        self.log.record(key, scores, self.data[key])


def plan_evaluation(
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
    overwrite: bool = False,
    identity: Mapping[str, Any] | None = None,
    context: DistributedContext = SINGLE_PROCESS,
    metrics: Sequence[str] = DEFAULT_METRICS,
    lpips: TemporalLPIPS | None = None,
) -> Evaluation:
    """Check an evaluation of every clip of ``dataset`` against its output folder; nothing is written.

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
        resume: take the scores of the clips that a stopped run with the same settings, on the same
            frame files, left in ``out_dir/partial.jsonl`` and evaluate only the others; a finished
            evaluation of the same settings and data is complete (its report is returned).
        overwrite: replace what ``out_dir`` holds of an evaluation of other settings (finished, or
            stopped with ``resume`` unset).
        identity: more settings (JSON values) that must match for a resume but are not reported,
            e.g. the checkpoint file's size and modification time.
        context: the process group of a sharded evaluation (torchrun): the processes split the
            clips, rank 0 alone shows progress, checks the folder and writes ``metrics.json``,
            ``per_frame.csv``, ``settings.json`` and ``partial.jsonl``, each process writes the
            images of its clips (:mod:`lgfn.evaluation.sharding`). Every process must make the same call.
        metrics: what to measure, a subset of :data:`lgfn.evaluation.scoring.METRICS` holding psnr
            and ssim; recorded in the protocol, so a resumed run must ask for the same.
        lpips: the network that measures tLP (:class:`lgfn.evaluation.perceptual.TemporalLPIPS`),
            needed when ``metrics`` has ``tlp``.

    Raises:
        ConfigError: the upscaler's scale differs from the dataset's, or ``save_images`` without
            ``out_dir``; ``out_dir`` holds a stopped run's scores and neither ``resume`` nor
            ``overwrite`` is set, or with ``resume`` they were made with other settings or frame
            files; it holds a finished evaluation of other settings and ``overwrite`` is not set;
            an unknown metric, or tlp without ``lpips``.
        InputDataError: the clips cannot be listed (see the dataset).
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
    out = None if out_dir is None else Path(out_dir)
    # Rank 0 alone keeps the resume log and writes the report; every process writes its own images.
    log = None if out is None or not context.is_main else ResumeLog(out)
    settings = resume_settings(dataset.name, method, full_protocol, identity)

    def decide() -> tuple[ResumeRecord, dict[str, str], dict[str, Any] | None]:
        data = {clip.key: clip_identity(clip) for clip in dataset.clips}
        start = log.finished(settings, data, resume, overwrite)
        kept_frames(start, dataset.clips, _batch(upscaler))
        finished = {**settings, "data": data_identity(data)}
        complete = None if start.clips or start.partial else check_finished(out, finished, resume, overwrite)
        return start, data, complete

    start, data, complete = decided_on_main(decide if log else None, context) or (ResumeRecord(), {}, None)
    scoring = {
        "crop_border": crop_border,
        "luma": luma,
        "image_dir": out / IMAGE_FOLDER if save_images else None,
        "metrics": metrics,
        "lpips": lpips,
    }
    return Evaluation(
        dataset, upscaler, method, full_protocol, out, log, settings, data if log else {}, start, complete,
        context, scoring, progress and context.is_main, frame_callback,
    )  # fmt: skip


def _batch(upscaler: Upscaler) -> int:
    """The upscaler's windows per forward pass (1 for those that do not batch)."""
    return getattr(upscaler, "batch", 1)


def _score_clips(
    evaluation: Evaluation, record: Callable[[str, ClipScores], None] | None, progress: ClipProgress | None
) -> dict[str, ClipScores]:
    """Score the clips not finished yet, this process's share of them (:mod:`.sharding`), each with
    :func:`~lgfn.evaluation.scoring.score_clip` and the keyword arguments ``evaluation.scoring``,
    continuing after the frames kept of it; ``record`` (rank 0's log) is called with each finished
    clip, ``progress`` keeps track of the clip in progress.

    Returns:
        ``{clip key: scores}`` of every clip, in the dataset's order, on every process.
    """
    dataset, context, method = evaluation.dataset, evaluation.context, evaluation.method
    clips: dict[str, ClipScores] = dict(evaluation.start.clips)
    metrics = evaluation.scoring["metrics"]
    frame_counts = [len(clip.scored) for clip in dataset.clips]
    pending = [i for i, clip in enumerate(dataset.clips) if clip.key not in clips]
    bar_options = {"unit": "frame", "desc": f"{dataset.name} {method}", "disable": not evaluation.progress}
    partial = evaluation.start.partial
    with tqdm(total=sum(frame_counts), **bar_options) as bar:
        kept = {key: len(rows) for key, rows in partial.items()}
        to_do = sum(frame_counts[i] - kept.get(dataset.clips[i].key, 0) for i in pending)
        bar.update(sum(frame_counts) - to_do)

        def each_frame(key: str, index: int, sr: np.ndarray, gt: np.ndarray) -> None:
            if evaluation.frame_callback is not None:
                evaluation.frame_callback(key, index, sr, gt)
            bar.update(1)

        for shares in plan_rounds(frame_counts, pending, context.world_size):
            mine = shares[context.rank] if context.rank < len(shares) else None
            outcome = ClipOutcome()
            if mine is not None:
                # The clip is read inside the share, so that an unreadable frame is a shared error too.
                def score(index: int = mine) -> ClipScores:
                    item = dataset[index]
                    rows = partial.get(item["key"], [])  # the frames a stopped run kept
                    start = resume_start(item["scored"], len(rows), _batch(evaluation.upscaler), metrics)
                    if progress is not None:
                        progress.begin(item["key"], item["scored"], len(rows))
                    return score_clip(
                        item, evaluation.upscaler, method, frame_callback=each_frame, kept=rows, start=start,
                        row_callback=None if progress is None else progress.add, **evaluation.scoring,
                    )  # fmt: skip

                outcome = score_share(dataset.clips[mine].key, score, context)
            for key, scores in gather_round(outcome, context):
                clips[key] = scores
                score_text = format_score(scores.result["psnr"], scores.result["ssim"])
                logger.debug("%s: %s over %d frames", key, score_text, scores.result["frames"])
                if progress is not None and key == outcome.key:
                    progress.end()  # before the clip's line: its frames are not to be kept after it
                if record is not None:
                    record(key, scores)
                if key != outcome.key:
                    bar.update(scores.result["frames"] - kept.get(key, 0))  # the other processes' frames
    return {clip.key: clips[clip.key] for clip in dataset.clips}


def _output_folder(out: Path) -> Path:
    """``out``, created when missing."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file in the way, or no permission
        raise ConfigError(f"cannot make the output folder {out}: {exc.strerror}") from None
    return out
