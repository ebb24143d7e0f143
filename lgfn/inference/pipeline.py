"""Streaming a video through an upscaler into a sink, one frame at a time, and scoring what was
written against the input as ground truth (the paper's BI protocol)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from lgfn.data.degradations import bi_degrade, crop_to_multiple
from lgfn.errors import ConfigError, InputDataError
from lgfn.inference.upscaler import Upscaler
from lgfn.metrics import calculate_psnr_ssim

if TYPE_CHECKING:  # video I/O (PyAV) is needed by the caller, not here
    from lgfn.media import FrameSink


@dataclass
class UpscaleReport:
    """What :func:`upscale_stream` did.

    Attributes:
        frames: frames written by this run.
        input_size: ``(w, h)`` of the frames fed to the upscaler.
        output_size: ``(w, h)`` of the frames written.
        seconds: wall time of the streaming loop (decoding, upscaling, encoding).
        clip_frames: the clip's length when its end was read, ``None`` when the run stopped before
            (at ``end`` and the frames past it that its last windows needed).
    """

    frames: int = 0
    input_size: tuple[int, int] | None = None
    output_size: tuple[int, int] | None = None
    seconds: float = 0.0
    clip_frames: int | None = None

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else float("nan")


def upscale_stream(
    frames: Iterable[np.ndarray],
    upscaler: Upscaler,
    sink: FrameSink,
    reference: bool = False,
    on_frame: Callable[[], None] | None = None,
    start: int = 0,
    end: int | None = None,
) -> UpscaleReport:
    """Stream frames through an upscaler into a sink, one frame at a time.

    Memory holds the upscaler's window of frames and nothing that grows with the video's length.

    Args:
        frames: input frames ``(h, w, 3)`` uint8 RGB, e.g. a :class:`~lgfn.media.FrameSource`.
        upscaler: a ``VideoSuperResolver`` or ``BicubicUpscaler`` (any :class:`Upscaler`).
        sink: where the ``(s*h, s*w, 3)`` outputs go; the caller opens and closes it.
        reference: treat ``frames`` as ground truth: upscale their BI degradation (MATLAB bicubic
            downscaling by ``scale``, the paper's protocol); :func:`reference_scores` scores what
            was written.
        on_frame: called after each frame is written (progress display).
        start: the first frame to upscale and write (continuing an interrupted run: earlier frames
            are read as context only).
        end: write frames up to here only (``None``: to the clip's end). The frames past it that
            its last windows reach are read too, so that those frames are what a whole run gives.

    Returns:
        An :class:`UpscaleReport`.

    Raises:
        ConfigError: ``reference`` with frames smaller than the scale.
        InputDataError: ``reference`` with frames other than 8-bit RGB.
    """
    report = UpscaleReport()
    read = end if end is None else end + upscaler.num_frames // 2  # the last window's reach

    def inputs() -> Iterator[np.ndarray]:
        count = 0
        for frame in itertools.islice(frames, read):  # stops without decoding one frame more
            if report.input_size is None:
                _check_reference_size(frame, upscaler.scale, reference)
            frame = bi_degrade(frame, upscaler.scale) if reference else frame
            report.input_size = (frame.shape[1], frame.shape[0])
            count += 1
            yield frame
        if read is None or count < read:
            report.clip_frames = count

    began = time.perf_counter()
    outputs = upscaler.stream(inputs(), start=start)
    for sr in outputs if end is None else itertools.islice(outputs, max(end - start, 0)):
        sink.write(sr)
        report.frames += 1
        if on_frame:
            on_frame()
    report.seconds = time.perf_counter() - began
    report.output_size = sink.size
    return report


def _check_reference_size(frame: np.ndarray, scale: int, reference: bool) -> None:
    """``reference`` needs 8-bit RGB frames (the paper's protocol) of at least the scale."""
    if reference and (frame.dtype != np.uint8 or frame.shape[2] != 3):
        kind = f"{8 * frame.itemsize}-bit {'grey-scale' if frame.shape[2] == 1 else 'RGB'}"
        raise InputDataError(f"--reference scores 8-bit RGB frames (the paper's protocol), not {kind} ones")
    h, w = frame.shape[:2]
    if reference and (h < scale or w < scale):
        raise ConfigError(
            f"--reference: the frames are {w}x{h}, smaller than the scale x{scale}, so their downscaling "
            f"has no pixels; give frames of at least {scale}x{scale}"
        )


def reference_scores(
    written: Iterable[np.ndarray], originals: Iterable[np.ndarray], scale: int
) -> tuple[list[float], list[float]]:
    """Luma PSNR and SSIM (no border crop) of each written frame against its ground truth.

    Args:
        written: the output's frames as it holds them (decoded from a video, ``(h', w', 3)``; a
            frame padded to even sides for H.264 is cut back to the ground truth's size).
        originals: the ground-truth frames, in the same order (cropped to a multiple of ``scale``,
            as :func:`upscale_stream` does before degrading them).
        scale: the upscaling factor.

    Returns:
        ``(psnr, ssim)``: one score per frame of ``written``.
    """
    psnr, ssim = [], []
    for sr, original in zip(written, originals, strict=False):
        gt = crop_to_multiple(original, scale)
        scores = calculate_psnr_ssim(sr[: gt.shape[0], : gt.shape[1]], gt)
        psnr.append(scores[0])
        ssim.append(scores[1])
    return psnr, ssim
