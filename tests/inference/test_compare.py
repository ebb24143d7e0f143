"""CompareUpscaler: bicubic and LGFN in one labelled frame, each part the upscaler's own pixels, the
wipe's divider where its formula puts it, from a stream read once with bounded memory."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lgfn.data.degradations import bicubic_upscale
from lgfn.inference import BicubicUpscaler, VideoSuperResolver
from lgfn.inference.compare import CompareUpscaler, label_box, rule_width


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    """A moving pattern big enough that an x2 output has rows below the labels (40x32 -> 80x64)."""
    rng = np.random.default_rng(1)
    base = rng.integers(0, 256, (32, 40, 3))
    return [np.roll(base, shift=i, axis=1).astype(np.uint8) for i in range(7)]


def _parts(frames, model, layout: str, **kwargs) -> tuple[list, list, list]:
    """(comparison frames, bicubic frames, LGFN frames) of the whole stream."""
    resolver = VideoSuperResolver(model)
    compared = list(CompareUpscaler(resolver, layout, **kwargs).stream(iter(frames)))
    bicubic = [bicubic_upscale(f, model.scale) for f in frames]
    return compared, bicubic, list(resolver.stream(iter(frames)))


def _divider(frame: np.ndarray, bicubic: np.ndarray, sr: np.ndarray, below: int) -> tuple[int, int]:
    """``(end of bicubic, start of LGFN)``: the columns (rows ``below:``) that are exactly bicubic's
    from the left edge and exactly LGFN's up to the right edge."""
    rows = slice(below, None)
    is_bicubic = (frame[rows] == bicubic[rows]).all(axis=(0, 2))
    is_sr = (frame[rows] == sr[rows]).all(axis=(0, 2))
    left = int(np.argmin(is_bicubic)) if not is_bicubic.all() else len(is_bicubic)
    right = len(is_sr) - (int(np.argmin(is_sr[::-1])) if not is_sr.all() else len(is_sr))
    return left, right


def test_split_is_bicubic_left_and_lgfn_right_of_a_divider_at_the_middle(model, frames):
    compared, bicubic, sr = _parts(frames, model, "split")
    height, width = sr[0].shape[:2]
    rule, below = rule_width(height), label_box(height, "bicubic")[1]
    assert len(compared) == len(frames)
    for frame, b, s in zip(compared, bicubic, sr, strict=True):
        assert frame.shape == s.shape and frame.dtype == np.uint8
        assert _divider(frame, b, s, below) == (width // 2 - rule // 2, width // 2 + rule // 2)
        assert (frame[:, width // 2 - rule // 2 : width // 2 + rule // 2] == 255).all()  # the divider
        # The labels: bicubic's at the top left, LGFN's at the top right, each changing its corner.
        assert not np.array_equal(frame[:below, : width // 4], b[:below, : width // 4])
        assert not np.array_equal(frame[:below, -width // 4 :], s[:below, -width // 4 :])


def test_side_by_side_holds_both_whole_frames_and_a_gap(model, frames):
    compared, bicubic, sr = _parts(frames, model, "side-by-side")
    height, width = sr[0].shape[:2]
    rule, below = rule_width(height), label_box(height, "bicubic")[1]
    for frame, b, s in zip(compared, bicubic, sr, strict=True):
        assert frame.shape == (height, 2 * width + rule, 3)
        np.testing.assert_array_equal(frame[below:, :width], b[below:])
        np.testing.assert_array_equal(frame[below:, width + rule :], s[below:])
        assert (frame[:, width : width + rule] == 255).all()
        labels = frame[:below, :width], frame[:below, width + rule :]
        assert not np.array_equal(labels[0], b[:below]) and not np.array_equal(labels[1], s[:below])
        # Untouched right of the labels.
        np.testing.assert_array_equal(frame[:below, width - 4 : width], b[:below, -4:])


def test_the_wipe_divider_sweeps_across_and_back_as_documented(model, frames):
    period, first = 8, 1
    compared, bicubic, sr = _parts(frames, model, "wipe", period=period, first=first)
    height, width = sr[0].shape[:2]
    rule, below = rule_width(height), label_box(height, "bicubic")[1]
    places = []
    for index, (frame, b, s) in enumerate(zip(compared, bicubic, sr, strict=True)):
        # Output frame n = input frame n + first: the fraction (1 - cos(2 pi n / period)) / 2.
        n = index - first
        x = round((1 - math.cos(2 * math.pi * n / period)) / 2 * width)
        assert _divider(frame, b, s, below) == (max(x - rule // 2, 0), min(x + rule // 2, width)), index
        places.append(x)
    # From the left edge at output frame 0 to the right edge half a period on, and back the same way.
    assert places[first] == 0 and places[first + period // 2] == width
    assert places[first - 1] == places[first + 1] < places[first + 2] < places[first + 3] < width
    assert places[first + 5] == places[first + 3]


def test_a_resumed_stream_gives_the_whole_streams_frames(model, frames):
    compare = CompareUpscaler(VideoSuperResolver(model, batch=2), "wipe", period=5)
    whole = list(compare.stream(iter(frames)))
    for start in (1, 4, 7):
        resumed = list(compare.stream(iter(frames), start=start))
        assert len(resumed) == len(frames) - start
        for a, b in zip(resumed, whole[start:], strict=True):
            np.testing.assert_array_equal(a, b)


def test_the_clip_path_gives_the_streams_frames(model, frames):
    compare = CompareUpscaler(VideoSuperResolver(model), "split")
    streamed = list(compare.stream(iter(frames)))
    for index, frame in compare.upscale_clip(frames, [0, 3, 6]):
        np.testing.assert_array_equal(frame, streamed[index])


def test_the_stream_reads_frames_once_and_holds_a_bounded_number(model, frames):
    consumed = []

    def source():
        for i in range(30):
            consumed.append(i)
            yield frames[i % len(frames)]

    compare = CompareUpscaler(VideoSuperResolver(model, batch=2), "side-by-side")
    ahead = [len(consumed) - produced for produced, _ in enumerate(compare.stream(source()), start=1)]
    assert len(ahead) == 30 and consumed == list(range(30))
    assert max(ahead) <= model.num_frames + 2 + 1  # the resolver's own look-ahead: nothing more


@pytest.mark.parametrize("dtype, channels", [(np.uint16, 3), (np.uint8, 1)])
def test_16_bit_and_grey_frames_keep_their_format(model, frames, dtype, channels):
    peak = np.iinfo(dtype).max
    lr = [(f[..., :channels].astype(np.float64) * peak / 255).astype(dtype) for f in frames[:3]]
    compared, bicubic, sr = _parts(lr, model, "split")
    height, width = sr[0].shape[:2]
    below = label_box(height, "bicubic")[1]
    for frame, b, s in zip(compared, bicubic, sr, strict=True):
        assert frame.dtype == dtype and frame.shape == s.shape == (height, width, channels)
        assert _divider(frame, b, s, below) == (width // 2 - 1, width // 2 + 1)
        assert frame[:below].max() == peak  # white letters


@pytest.mark.parametrize("height, width", [(256, 256), (2160, 3840)])
def test_labels_grow_with_the_frame_and_stay_in_their_box(height, width):
    bicubic, sr = np.full((height, width, 3), 60, np.uint8), np.full((height, width, 3), 120, np.uint8)
    frame = CompareUpscaler(BicubicUpscaler(), "split").compose(0, bicubic, sr)
    box_w, box_h = label_box(height, "bicubic")
    left = width // 2 - rule_width(height) // 2  # where the divider begins
    letters = frame[:, :left] > 200  # white text on the left part
    rows = np.flatnonzero(letters.any(axis=(1, 2)))
    assert rows.max() < box_h and np.flatnonzero(letters.any(axis=(0, 2))).max() < box_w
    assert rows.max() - rows.min() + 1 >= max(8, height / 40)  # legible: tall enough for the frame
    box = frame[: box_h // 2, : box_w // 2]
    assert (box < 60).any()  # a dark box under the letters
    np.testing.assert_array_equal(frame[box_h:, :left], bicubic[box_h:, :left])  # nothing drawn below it
