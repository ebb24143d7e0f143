"""upscale_stream: a stream through an upscaler into a sink, with flat memory and a reference check."""

from __future__ import annotations

import tracemalloc
from fractions import Fraction

import numpy as np
import pytest

from lgfn.data.degradations import bi_degrade, bicubic_upscale, crop_to_multiple
from lgfn.errors import ConfigError
from lgfn.inference import BicubicUpscaler, upscale_stream
from lgfn.inference.pipeline import reference_scores
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


def test_reference_run_upscales_the_degraded_frames_from_start():
    frames = make_frames(5, 26, 18)  # not multiples of 4: cropped to 24x16 before degrading
    sink, calls = ListSink(), []
    report = upscale_stream(
        iter(frames), BicubicUpscaler(4), sink, reference=True, on_frame=lambda: calls.append(1), start=2
    )
    expected = [bicubic_upscale(bi_degrade(f, 4), 4) for f in frames[2:]]
    assert len(sink.frames) == report.frames == len(calls) == 3
    assert all(np.array_equal(a, b) for a, b in zip(sink.frames, expected, strict=True))
    assert report.input_size == (6, 4) and report.output_size == (24, 16)
    assert report.seconds > 0 and report.frames_per_second > 0 and report.clip_frames == 5


def test_reference_scores_are_those_of_the_frames_given_cut_to_the_ground_truth():
    frames = make_frames(3, 26, 18)
    written = [
        np.pad(bicubic_upscale(bi_degrade(f, 4), 4), ((0, 1), (0, 1), (0, 0)), mode="edge") for f in frames
    ]
    psnr, ssim = reference_scores(written, frames, 4)  # padded by a row and a column, as H.264 pads odd sides
    expected = [
        calculate_psnr_ssim(w[:16, :24], crop_to_multiple(f, 4)) for w, f in zip(written, frames, strict=True)
    ]
    assert psnr == [p for p, _ in expected] and ssim == [s for _, s in expected]


def test_reference_frames_smaller_than_the_scale_are_one_error():
    with pytest.raises(ConfigError, match="the frames are 3x5, smaller than the scale x4"):
        upscale_stream(iter(make_frames(2, 3, 5)), BicubicUpscaler(4), ListSink(), reference=True)


class _Window:
    """A 5-frame window upscaler: each output is the mean of its window (edge frames repeated)."""

    scale, num_frames = 1, 5

    def stream(self, frames, start=0):
        clip = list(frames)
        for centre in range(start, len(clip)):
            window = [clip[min(max(i, 0), len(clip) - 1)] for i in range(centre - 2, centre + 3)]
            yield np.mean(window, axis=0).astype(np.uint8)


def test_end_gives_the_whole_runs_frames_reading_only_what_their_windows_need():
    frames = make_frames(9, 8, 6)
    whole, preview = ListSink(), ListSink()
    upscale_stream(iter(frames), _Window(), whole)
    read = []
    report = upscale_stream((read.append(1) or f for f in frames), _Window(), preview, start=1, end=4)
    assert len(preview.frames) == report.frames == 3 and len(read) == 4 + 2  # frames 4 and 5: look-ahead
    assert all(np.array_equal(a, b) for a, b in zip(preview.frames, whole.frames[1:4], strict=True))
    assert report.clip_frames is None  # the clip's end was not reached: nothing to say of its length
    short = upscale_stream(iter(frames[:3]), _Window(), ListSink(), end=2)
    assert short.frames == 2 and short.clip_frames == 3


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
