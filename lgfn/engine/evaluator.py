"""The evaluation engine: super-resolve every clip of a dataset and score it as the paper does.

:func:`evaluate` runs an upscaler (:class:`lgfn.inference.VideoSuperResolver`, the bicubic
baseline :class:`lgfn.inference.BicubicUpscaler`, or anything with the same ``scale`` and
``upscale_clip``) over an :class:`~lgfn.data.eval_datasets.EvalDataset`, scores each scored frame
with :func:`lgfn.metrics.calculate_psnr_ssim` and averages as the paper's tables do: the mean over
a clip's scored frames, then the mean of the per-clip means.

Files written when ``out_dir`` is given:

- ``metrics.json``::

      {"dataset": "vid4", "method": "bicubic",
       "protocol": {"scale": 4, "lr": "BI degradation of GT", "scored_frames": "inner",
                    "crop_border": 0, "metric": "luma", ...},
       "clips": {"calendar": {"psnr": 20.39, "ssim": 0.572, "frames": 39}, ...},
       "average": {"psnr": 23.79, "ssim": 0.6347}}

  plus, for datasets with named subsets (Vimeo-90K-T's slow / medium / fast lists), a top-level
  ``"splits": {"slow": {"psnr": ..., "ssim": ..., "clips": 1616}, ...}`` holding the mean over the
  evaluated clips of each subset (``null`` scores when none of its clips was evaluated);
- ``per_frame.csv``: ``clip,frame,file,psnr,ssim``, one row per scored frame;
- with ``save_images``: the super-resolved frames as ``images/<clip>/<frame file stem>.png``;
- while it runs: ``partial.jsonl``, the run's settings and then one line per finished clip (its
  scores and per-frame rows), appended as each clip ends and removed at the end. A run that stops
  part-way leaves it, and ``evaluate(..., resume=True)`` (``test.py --resume``) continues with the
  clips it lacks, provided the settings are the same.

:func:`compare_methods` evaluates several methods on the same clips, each into its own folder, and
draws one frame of each side by side with the ground truth; :func:`format_table` prints one or more
results in the paper's format (``calendar | 20.39/0.5720``).
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from tqdm import tqdm

from lgfn.data.eval_datasets import EvalDataset
from lgfn.data.io import write_image
from lgfn.errors import ConfigError
from lgfn.files import append_jsonl, settings_changes, write_jsonl
from lgfn.metrics import calculate_psnr_ssim
from lgfn.visualize import save_side_by_side

logger = logging.getLogger(__name__)

#: Called for every scored frame with ``(clip key, frame index, sr, gt)``, both ``(h, w, 3)`` uint8.
FrameCallback = Callable[[str, int, np.ndarray, np.ndarray], None]


class Upscaler(Protocol):
    """What :func:`evaluate` needs from an upscaler."""

    scale: int

    def upscale_clip(
        self, frames: Sequence[np.ndarray], indices: Sequence[int] | None = None
    ) -> Iterator[tuple[int, np.ndarray]]: ...


def _mean(values: Sequence[float]) -> float | None:
    # None (JSON null) rather than NaN for an empty set: a split none of whose clips was evaluated.
    return float(np.mean(values)) if len(values) else None


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

    Returns:
        The report, the same dict as ``metrics.json`` (see the module docstring).

    Raises:
        ConfigError: the upscaler's scale differs from the dataset's, or ``save_images`` without
            ``out_dir``; ``out_dir`` holds an interrupted run's scores and ``resume`` is not set,
            or they were made with other settings.
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
    out = None if out_dir is None else Path(out_dir)
    full_protocol = {
        **dataset.protocol(),
        "crop_border": crop_border,
        "metric": "luma" if luma else "rgb",
        **(protocol or {}),
    }
    settings = {
        "dataset": dataset.name,
        "method": method,
        **{f"protocol.{key}": value for key, value in full_protocol.items()},
        **(identity or {}),
    }
    settings = json.loads(json.dumps(settings))  # as it reads back from the file: lists, not tuples
    if out is not None:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # a file in the way, or no permission
            raise ConfigError(f"cannot make the output folder {out}: {exc.strerror}") from None
    finished = {} if out is None else _finished_clips(out, settings, resume)
    if out is not None and not finished:
        (out / PARTIAL_FILE).unlink(missing_ok=True)  # a record of settings alone: nothing to keep
        append_jsonl(out / PARTIAL_FILE, {"settings": settings})

    rows: list[dict[str, Any]] = []
    clip_results: dict[str, dict[str, Any]] = {}
    total = sum(len(clip.scored) for clip in dataset.clips)
    with tqdm(total=total, unit="frame", desc=f"{dataset.name} {method}", disable=not progress) as bar:
        for i in range(len(dataset)):
            clip = dataset.clips[i]
            if clip.key in finished:
                clip_results[clip.key] = finished[clip.key]["result"]
                rows.extend(finished[clip.key]["rows"])
                bar.update(len(clip.scored))
                continue
            item = dataset[i]
            key, gt, names = item["key"], item["gt"], item["names"]
            scored = list(item["scored"])
            psnrs, ssims = [], []
            produced = []
            for index, sr in upscaler.upscale_clip(item["lq"], indices=scored):
                if sr.shape != gt[index].shape:
                    raise RuntimeError(
                        f"{method} returned a {sr.shape} frame for clip {key} frame {index}, "
                        f"expected the ground truth's {gt[index].shape}"
                    )
                value_psnr, value_ssim = calculate_psnr_ssim(
                    sr, gt[index], crop_border=crop_border, luma=luma
                )
                psnrs.append(value_psnr)
                ssims.append(value_ssim)
                produced.append(index)
                rows.append(
                    {
                        "clip": key,
                        "frame": index,
                        "file": names[index],
                        "psnr": value_psnr,
                        "ssim": value_ssim,
                    }
                )
                if save_images:
                    write_image(out / "images" / key / (Path(names[index]).stem + ".png"), sr)
                if frame_callback is not None:
                    frame_callback(key, index, sr, gt[index])
                bar.update(1)
            if produced != scored:
                raise RuntimeError(f"{method} produced frames {produced} of clip {key}, expected {scored}")
            clip_results[key] = {"psnr": _mean(psnrs), "ssim": _mean(ssims), "frames": len(scored)}
            logger.debug("%s: %s over %d frames", key, format_score(_mean(psnrs), _mean(ssims)), len(scored))
            if out is not None:
                clip_rows = rows[-len(scored) :] if scored else []
                append_jsonl(
                    out / PARTIAL_FILE, {"clip": key, "result": clip_results[key], "rows": clip_rows}
                )

    report: dict[str, Any] = {
        "dataset": dataset.name,
        "method": method,
        "protocol": full_protocol,
        "clips": clip_results,
        "average": {
            "psnr": _mean([r["psnr"] for r in clip_results.values()]),
            "ssim": _mean([r["ssim"] for r in clip_results.values()]),
        },
    }
    splits = dataset.splits
    if splits:
        report["splits"] = {
            name: {
                "psnr": _mean([clip_results[k]["psnr"] for k in keys]),
                "ssim": _mean([clip_results[k]["ssim"] for k in keys]),
                "clips": len(keys),
            }
            for name, keys in splits.items()
        }
    if out is not None:
        write_report(out, report, rows)
        (out / PARTIAL_FILE).unlink(missing_ok=True)
    return report


#: The settings and the scores of the clips finished so far (JSON Lines), in the output folder of an
#: evaluation that is running or was interrupted.
PARTIAL_FILE = "partial.jsonl"


def _finished_clips(out: Path, settings: Mapping[str, Any], resume: bool) -> dict[str, Any]:
    """The finished clips an interrupted evaluation left in ``out`` (empty when there is none)."""
    path = out / PARTIAL_FILE
    if not path.exists():
        return {}
    finished: dict[str, Any] = {}
    try:
        lines = path.read_text().splitlines()
        if len(lines) < 2:
            return {}  # no clip finished: nothing to keep
        recorded = dict(json.loads(lines[0])["settings"])
        for number, line in enumerate(lines[1:], start=2):
            try:
                entry = json.loads(line)
            except ValueError:
                if number == len(lines):
                    break  # the line a crash cut short: that clip is run again
                raise
            finished[entry["clip"]] = {"result": entry["result"], "rows": entry["rows"]}
    except (OSError, ValueError, KeyError, TypeError):
        raise ConfigError(f"{path} is not readable scores of an interrupted evaluation; delete it") from None
    if not finished:
        return {}
    if not resume:
        raise ConfigError(
            f"{out} holds the scores of {len(finished)} clip(s) of an interrupted evaluation ({path}): "
            "pass --resume to continue it, or delete that file to start over"
        )
    details = settings_changes(recorded, settings)
    if details:
        raise ConfigError(
            f"cannot resume the evaluation in {out}: it was made with other settings ({details})"
        )
    logger.info("resuming the evaluation in %s: %d clip(s) already scored", out, len(finished))
    # Written anew without a line a crash may have cut short, so that new lines follow whole ones.
    entries = [{"clip": key, **entry} for key, entry in finished.items()]
    write_jsonl(path, [{"settings": recorded}, *entries])
    return finished


def compare_methods(
    dataset: EvalDataset,
    upscalers: Mapping[str, Upscaler],
    out_dir: str | Path | None = None,
    labels: Mapping[str, str] | None = None,
    figure_path: str | Path | None = None,
    figure_frame: tuple[str, int] | None = None,
    protocols: Mapping[str, Mapping[str, Any]] | None = None,
    identities: Mapping[str, Mapping[str, Any]] | None = None,
    **evaluate_kwargs: Any,
) -> list[dict[str, Any]]:
    """Evaluate several methods on the same dataset and draw one frame of each side by side.

    Args:
        dataset: the clips.
        upscalers: ``{method name: upscaler}`` in display order (e.g. ``bicubic`` then ``lgfn``).
        out_dir: each method's report goes to ``out_dir/<method name>/``; ``None`` writes no report.
        labels: display names for the figure (default: the method names).
        figure_path: where to write the figure (:func:`lgfn.visualize.side_by_side`: the methods'
            zoomed crops, then the ground truth's); ``None`` draws none.
        figure_frame: ``(clip key, frame index)`` shown in the figure (default: the first clip's
            middle scored frame).
        protocols: ``{method name: extra protocol entries}`` for the methods' reports.
        identities: ``{method name: settings a resume must match}`` (see :func:`evaluate`).
        **evaluate_kwargs: passed on to :func:`evaluate` (``crop_border``, ``luma``, ``progress``,
            ``save_images``).

    Returns:
        One report per method, in the order of ``upscalers``.
    """
    if figure_frame is None and figure_path is not None:
        first = dataset.clips[0]
        figure_frame = (first.key, first.scored[len(first.scored) // 2])
    labels = dict(labels or {})
    crop_border = evaluate_kwargs.get("crop_border", 0)
    luma = evaluate_kwargs.get("luma", True)
    kept: dict[str, np.ndarray] = {}
    scores: dict[str, tuple[float, float]] = {}
    reports = []
    for method, upscaler in upscalers.items():

        def keep(key: str, index: int, sr: np.ndarray, gt: np.ndarray, method: str = method) -> None:
            if (key, index) == figure_frame:
                kept[method] = sr
                kept["ground truth"] = gt
                scores[method] = calculate_psnr_ssim(sr, gt, crop_border=crop_border, luma=luma)

        method_dir = None if out_dir is None else Path(out_dir) / method
        reports.append(
            evaluate(
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
    if figure_path is not None and evaluate_kwargs.get("resume") and not all(m in kept for m in upscalers):
        logger.warning("no side-by-side picture: its clip was scored by the interrupted run")
        figure_path = None
    if figure_path is not None:
        if "ground truth" not in kept:
            raise ConfigError(f"figure frame {figure_frame} is not a scored frame of the dataset")
        key, index = figure_frame
        panels = [
            (f"{labels.get(method, method)}\n{format_score(*scores[method])}", kept[method])
            for method in upscalers
        ]
        panels.append(("Ground truth", kept["ground truth"]))
        save_side_by_side(figure_path, panels, frame_label=f"{key}, frame {index}")
    return reports


def write_report(out_dir: str | Path, report: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> None:
    """Write ``metrics.json`` and ``per_frame.csv`` into ``out_dir`` (created if needed).

    Args:
        out_dir: the output folder.
        report: the dict :func:`evaluate` returns.
        rows: per-frame records with keys ``clip, frame, file, psnr, ssim``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(report, indent=2) + "\n")
    with open(out / "per_frame.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["clip", "frame", "file", "psnr", "ssim"])
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "psnr": f"{row['psnr']:.6f}", "ssim": f"{row['ssim']:.6f}"})


def format_score(psnr: float | None, ssim: float | None) -> str:
    """``PSNR/SSIM`` as the paper prints them: ``20.39/0.5720`` (``-`` when there is no score)."""
    if psnr is None or ssim is None:
        return "-"
    return f"{psnr:.2f}/{ssim:.4f}"


def format_table(reports: Sequence[Mapping[str, Any]], show_clips: bool = True) -> str:
    """A plain-text table of one or more reports on the same dataset, one column per method.

    Args:
        reports: dicts returned by :func:`evaluate` (or read from ``metrics.json``).
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
