"""The end of one ``lgfn upscale`` input: the check that the whole video was read, the summary of what
was written, and the ``--reference`` scores of the output as written."""

from __future__ import annotations

import argparse
import itertools
import logging
from pathlib import Path

import numpy as np

from lgfn.devices import peak_memory_text
from lgfn.errors import InputDataError
from lgfn.inference import Upscaler, UpscaleReport
from lgfn.inference.pipeline import reference_scores
from lgfn.media import FrameSink, FrameSource, VideoFileSource, open_source

logger = logging.getLogger(__name__)


def check_all_read(
    args: argparse.Namespace,
    input_path: Path,
    source: FrameSource,
    sink: FrameSink,
    first: int,
    end: int | None,
) -> None:
    """Refuse to finish an output when the video ended before the frames its header counts (a
    truncated file), unless ``--accept-short``; then say so."""
    stated = source.stated_frames if isinstance(source, VideoFileSource) else None
    expected = min(n for n in (stated, end) if n is not None) if stated is not None else None
    read = first + sink.frames_written
    if expected is None or read >= expected:
        return
    what = (
        f"{input_path} ended at frame {read}, but its header counts {stated} frames (the file may be "
        f"truncated): {expected - first} frames from frame {first} were expected, {read - first} were read"
    )
    if not args.accept_short:
        raise InputDataError(
            f"{what}; {sink.path} is not written: pass --accept-short to write the frames read"
        )
    logger.warning("%s; --accept-short: writing those", what)


def summarise(report: UpscaleReport, sink: FrameSink, upscaler: Upscaler, output_path: Path) -> None:
    """Log what was written, how fast and with how much memory."""
    if report.clip_frames is not None and report.clip_frames < upscaler.num_frames:
        logger.warning(
            "the clip has %d frame(s), fewer than the model's %d-frame window: windows were filled with "
            "repeated frames, so less detail was restored",
            report.clip_frames,
            upscaler.num_frames,
        )
    resumed = f" (from output frame {sink.resume_from}; earlier ones by an interrupted run)"
    if report.frames == 0:
        logger.info("all %d frames were finished before; wrote %s", sink.frames_written, output_path)
        return
    (iw, ih), (ow, oh) = report.input_size, report.output_size
    logger.info(
        "upscaled %d frames%s %dx%d -> %dx%d in %.1f s (%.3g frames/s, %.3g s/frame), %s; wrote %s",
        report.frames, resumed if sink.resume_from else "", iw, ih, ow, oh, report.seconds,
        report.frames_per_second, report.seconds / max(report.frames, 1),
        peak_memory_text(upscaler.device), output_path,
    )  # fmt: skip


def score_output(source: FrameSource, output_path: Path, first: int, frames: int, scale: int) -> None:
    """Log the luma PSNR/SSIM of OUTPUT, decoded as written (an interrupted run's frames included),
    against the input frames it was made from."""
    originals = itertools.islice(source, first, first + frames)
    psnr, ssim = reference_scores(open_source(output_path), originals, scale)
    logger.info(
        "OUTPUT against INPUT (luma, no border crop, %d frames of %s as written): PSNR %.2f dB, SSIM %.4f",
        len(psnr), output_path, float(np.mean(psnr)), float(np.mean(ssim)),
    )  # fmt: skip
