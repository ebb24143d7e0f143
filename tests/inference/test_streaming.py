"""VideoSuperResolver.stream: a stream's frames are the whole clip's, with bounded memory."""

from __future__ import annotations

import weakref

import numpy as np
import pytest

from lgfn.inference import VideoSuperResolver


@pytest.mark.parametrize("length", [1, 2, 3, 5, 9])
@pytest.mark.parametrize("batch", [1, 2])
def test_stream_matches_whole_clip(model, clip, length, batch):
    frames = clip[:length]
    resolver = VideoSuperResolver(model, batch=batch)
    whole = [sr for _, sr in resolver.upscale_clip(frames)]
    streamed = list(resolver.stream(iter(frames)))
    assert len(streamed) == length
    for a, b in zip(streamed, whole, strict=True):
        np.testing.assert_array_equal(a, b)


def test_stream_holds_a_bounded_number_of_frames(model, clip):
    consumed = []

    def source():
        for i in range(40):
            consumed.append(i)
            yield clip[i % len(clip)]

    resolver = VideoSuperResolver(model, batch=2)
    ahead = []
    for produced, _ in enumerate(resolver.stream(source()), start=1):
        ahead.append(len(consumed) - produced)
    assert len(ahead) == 40
    # Look-ahead of at most a window plus a batch, independent of the stream's length.
    assert max(ahead) <= model.num_frames + 2 + 1


@pytest.mark.parametrize("start", [1, 3, 8, 9])
@pytest.mark.parametrize("batch", [1, 2])
def test_stream_from_a_start_frame_gives_the_whole_runs_frames(model, clip, start, batch):
    resolver = VideoSuperResolver(model, batch=batch)
    whole = [sr for _, sr in resolver.upscale_clip(clip)]
    resumed = list(resolver.stream(iter(clip), start=start))
    assert len(resumed) == len(clip) - start  # start == len(clip): nothing left
    for a, b in zip(resumed, whole[start:], strict=True):
        np.testing.assert_array_equal(a, b)


def test_stream_from_a_start_frame_keeps_only_the_context_it_needs(model, clip):
    refs, most_alive = [], []

    def source():
        for i in range(40):
            frame = clip[i % len(clip)].copy()
            refs.append(weakref.ref(frame))  # arrays are freed as soon as nothing holds them
            most_alive.append(sum(ref() is not None for ref in refs))
            yield frame

    resolver = VideoSuperResolver(model, batch=2)
    assert len(list(resolver.stream(source(), start=30))) == 10
    # The frames before 30 were read and dropped but for a window's context, never all held.
    assert max(most_alive) <= 2 * model.num_frames + 3
