"""upscale_stream: a stream through an upscaler into a sink, with flat memory and a reference check."""

from __future__ import annotations

import tracemalloc
from fractions import Fraction

import numpy as np

from lgfn.data.degradations import bi_degrade, bicubic_upscale, crop_to_multiple
from lgfn.inference import BicubicUpscaler, upscale_stream
from lgfn.media import open_sink, open_source, read_video_frames
from lgfn.metrics import calculate_psnr_ssim
from tests.helpers import make_frames, write_video_pyav


class ListSink:
    """A sink that keeps what it is given (the frames of a short test stream)."""

    def __init__(self) -> None:
        self.frames: list[np.ndarray] = []
        self.size: tuple[int, int] | None = None

    def write(self, frame: np.ndarray) -> None:
        self.frames.append(frame)
        self.size = (frame.shape[1], frame.shape[0])


def test_reference_run_scores_the_outputs_of_the_degraded_frames_from_start():
    frames = make_frames(5, 26, 18)  # not multiples of 4: cropped to 24x16 before degrading
    sink, calls = ListSink(), []
    report = upscale_stream(
        iter(frames), BicubicUpscaler(4), sink, reference=True, on_frame=lambda: calls.append(1), start=2
    )
    expected = [bicubic_upscale(bi_degrade(f, 4), 4) for f in frames[2:]]
    assert len(sink.frames) == report.frames == len(calls) == 3
    assert all(np.array_equal(a, b) for a, b in zip(sink.frames, expected, strict=True))
    scores = [
        calculate_psnr_ssim(sr, crop_to_multiple(f, 4)) for sr, f in zip(expected, frames[2:], strict=True)
    ]
    assert report.psnr == [p for p, _ in scores] and report.ssim == [s for _, s in scores]
    assert report.input_size == (6, 4) and report.output_size == (24, 16)
    assert report.seconds > 0 and report.frames_per_second > 0


def test_memory_stays_flat_on_a_long_video(tmp_path):
    """Python-heap peak (numpy frames included) while streaming 20 vs 120 frames through the pipeline."""
    frames = make_frames(120, 48, 32)
    write_video_pyav(tmp_path / "long.mp4", frames, fps=Fraction(25))
    write_video_pyav(tmp_path / "short.mp4", frames[:20], fps=Fraction(25))

    def peak(name: str) -> int:
        source = open_source(tmp_path / f"{name}.mp4")
        tracemalloc.start()
        try:
            with open_sink(tmp_path / "out.mp4", fps=source.fps, overwrite=True) as sink:
                report = upscale_stream(source, BicubicUpscaler(4), sink)
            peak_bytes = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert report.frames == source.num_frames == len(read_video_frames(tmp_path / "out.mp4"))
        return peak_bytes

    peak("short")  # the first run also imports modules and fills caches
    short, long = peak("short"), peak("long")
    held = 100 * (4 * 32) * (4 * 48) * 3  # what keeping the 100 extra output frames would cost (7.4 MB)
    assert long - short < held / 10, (short, long)
