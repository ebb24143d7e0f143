"""Streaming a video through an upscaler into a sink, one frame at a time, with an optional check
against the input as ground truth (the paper's BI protocol)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from lgfn.data.degradations import bi_degrade, crop_to_multiple
from lgfn.errors import InputDataError
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
        psnr / ssim: per-frame luma scores against the input when run as a reference check.
    """

    frames: int = 0
    input_size: tuple[int, int] | None = None
    output_size: tuple[int, int] | None = None
    seconds: float = 0.0
    psnr: list[float] = field(default_factory=list)
    ssim: list[float] = field(default_factory=list)

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else float("nan")


class _ReferenceCheck:
    """Feeds the upscaler BI-degraded input frames and scores each output against its original.

    The originals wait in a queue until their output arrives; the upscaler yields one output per
    input in order and holds at most about a window of frames, so the queue stays that short too.
    """

    def __init__(self, scale: int, report: UpscaleReport) -> None:
        self.scale = scale
        self.report = report
        self.originals: deque[np.ndarray] = deque()

    def degrade(self, frames: Iterable[np.ndarray], start: int) -> Iterator[np.ndarray]:
        for index, frame in enumerate(frames):
            if frame.dtype != np.uint8 or frame.shape[2] != 3:
                kind = f"{8 * frame.itemsize}-bit {'grey-scale' if frame.shape[2] == 1 else 'RGB'}"
                raise InputDataError(
                    f"--reference scores 8-bit RGB frames (the paper's protocol), not {kind} ones"
                )
            if index >= start:  # earlier frames are only context for a resumed run's first windows
                self.originals.append(crop_to_multiple(frame, self.scale))
            yield bi_degrade(frame, self.scale)

    def score(self, sr: np.ndarray) -> None:
        psnr, ssim = calculate_psnr_ssim(sr, self.originals.popleft())
        self.report.psnr.append(psnr)
        self.report.ssim.append(ssim)


def upscale_stream(
    frames: Iterable[np.ndarray],
    upscaler: Upscaler,
    sink: FrameSink,
    reference: bool = False,
    on_frame: Callable[[], None] | None = None,
    start: int = 0,
) -> UpscaleReport:
    """Stream frames through an upscaler into a sink, one frame at a time.

    Memory holds the upscaler's window of frames and nothing that grows with the video's length.

    Args:
        frames: input frames ``(h, w, 3)`` uint8 RGB, e.g. a :class:`~lgfn.media.FrameSource`.
        upscaler: a ``VideoSuperResolver`` or ``BicubicUpscaler`` (any :class:`Upscaler`).
        sink: where the ``(s*h, s*w, 3)`` outputs go; the caller opens and closes it.
        reference: treat ``frames`` as ground truth: upscale their BI degradation (MATLAB bicubic
            downscaling by ``scale``, the paper's protocol) and score every output against the
            original (luma PSNR/SSIM, no border crop).
        on_frame: called after each frame is written (progress display).
        start: the first frame to upscale and write (continuing an interrupted run: earlier frames
            are read as context only).

    Returns:
        An :class:`UpscaleReport`.
    """
    report = UpscaleReport()
    check = _ReferenceCheck(upscaler.scale, report) if reference else None

    def inputs() -> Iterator[np.ndarray]:
        stream = check.degrade(frames, start) if check else frames
        for frame in stream:
            if report.input_size is None:
                report.input_size = (frame.shape[1], frame.shape[0])
            yield frame

    began = time.perf_counter()
    for sr in upscaler.stream(inputs(), start=start):
        if check:
            check.score(sr)
        sink.write(sr)
        report.frames += 1
        if on_frame:
            on_frame()
    report.seconds = time.perf_counter() - began
    report.output_size = sink.size
    return report
