"""Audio and subtitles carried into a video output: copied or re-encoded, in sync, cut with the frames."""

from __future__ import annotations

import itertools
from pathlib import Path

import av
import numpy as np
import pytest

from lgfn.media import TrackCopy, open_sink, open_source, read_video_frames, sinks, tracks
from tests.helpers import (
    AUDIO_RATE,
    VIDEO_FPS,
    beep_time,
    make_frames,
    read_audio,
    read_cues,
    write_video_pyav,
    write_video_with_audio,
)


def upscale_with_audio(source_path: Path, out: Path, max_frames: int | None = None) -> list[np.ndarray]:
    """Copy a clip's frames through a sink that carries its audio; returns the frames written."""
    source = open_source(source_path)
    frames = list(itertools.islice(source, max_frames))
    with open_sink(out, fps=source.fps, crf=0, tracks=TrackCopy.of(source)) as sink:
        for frame in frames:
            sink.write(frame)
    return frames


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".mov", ".avi"])
def test_audio_is_copied_in_sync_with_the_frames(tmp_path, monkeypatch, suffix, listing):
    monkeypatch.setattr(sinks, "SEGMENT_FRAMES", 6)  # the picture joined from several segments
    write_video_with_audio(tmp_path / "in.mov", "pcm_s16le")
    out = tmp_path / f"out{suffix}"
    frames = upscale_with_audio(tmp_path / "in.mov", out)
    flash = int(np.argmax([frame.mean() for frame in frames]))
    assert flash == 5  # the picture begins 0.5 s into the input's clock ...
    decoded = read_video_frames(out)
    assert len(decoded) == 20 and int(np.argmax([frame.mean() for frame in decoded])) == flash
    codec, first, samples, rate = read_audio(out)
    assert (codec, rate) == ("pcm_s16le", AUDIO_RATE)  # the packets as they were
    # ... so the output's sound is the input's from 0.5 s on, from the first whole packet after it.
    assert 0 <= first < 0.07
    # AVI keeps no start time per stream: there the sound begins with the picture, early by the part
    # of a packet cut at the start (under one packet, 64 ms here); other containers keep it exact.
    tolerance = 0.064 if suffix == ".avi" else 1e-3
    assert beep_time(out) == pytest.approx(flash / VIDEO_FPS, abs=tolerance)
    # The input's sound ends with its picture, so the output holds the input's last samples.
    original = read_audio(tmp_path / "in.mov")[2]
    assert round(0.5 * AUDIO_RATE) <= len(original) - len(samples) < round(0.57 * AUDIO_RATE)
    assert np.array_equal(samples, original[len(original) - len(samples) :])
    assert listing(tmp_path) == ["in.mov", out.name]


def test_audio_the_container_cannot_hold_is_reencoded_as_aac(tmp_path):
    write_video_with_audio(tmp_path / "in.mkv", "libopus")  # Opus: .mov and .avi cannot hold it
    frames = upscale_with_audio(tmp_path / "in.mkv", tmp_path / "out.mov")
    codec, _, samples, rate = read_audio(tmp_path / "out.mov")
    assert codec == "aac"
    assert beep_time(tmp_path / "out.mov") == pytest.approx(0.5, abs=0.01)
    assert len(samples) / rate == pytest.approx(len(frames) / VIDEO_FPS, abs=0.1)


def test_audio_ends_where_the_frames_end(tmp_path):
    write_video_with_audio(tmp_path / "in.mov", "pcm_s16le")
    upscale_with_audio(tmp_path / "in.mov", tmp_path / "out.mkv", max_frames=8)
    samples = read_audio(tmp_path / "out.mkv")[2]
    assert len(samples) / AUDIO_RATE == pytest.approx(0.8, abs=0.07)


def test_folder_output_and_silent_input_carry_no_audio(tmp_path, listing):
    write_video_with_audio(tmp_path / "in.mov", "pcm_s16le")
    upscale_with_audio(tmp_path / "in.mov", tmp_path / "frames")
    assert len(listing(tmp_path / "frames")) == 20 + 1  # and the record of the job
    write_video_pyav(tmp_path / "silent.mp4", make_frames(3))
    assert open_source(tmp_path / "silent.mp4").audio_streams == 0
    upscale_with_audio(tmp_path / "silent.mp4", tmp_path / "out.mp4")
    with av.open(str(tmp_path / "out.mp4")) as container:
        assert [stream.type for stream in container.streams] == ["video"]


def test_resumed_video_carries_the_audio_in_sync(tmp_path, monkeypatch, listing, write_some):
    monkeypatch.setattr(sinks, "SEGMENT_FRAMES", 3)
    write_video_with_audio(tmp_path / "in.mov", "pcm_s16le")
    source = open_source(tmp_path / "in.mov")
    frames = list(source)
    with pytest.raises(KeyboardInterrupt):
        write_some(tmp_path / "out.mp4", frames, stop_after=7, tracks=TrackCopy.of(source))
    assert write_some(tmp_path / "out.mp4", frames, resume=True, tracks=TrackCopy.of(source)) == 6
    assert beep_time(tmp_path / "out.mp4") == pytest.approx(0.5, abs=1e-3)
    assert np.argmax([frame.mean() for frame in read_video_frames(tmp_path / "out.mp4")]) == 5
    assert listing(tmp_path) == ["in.mov", "out.mp4"]


def test_audio_that_can_be_neither_copied_nor_reencoded_is_left_out(tmp_path, monkeypatch, caplog):
    def refuse(self, source, output):
        raise ValueError("no way to write it")

    monkeypatch.setattr(tracks._Route, "__init__", refuse)
    write_video_with_audio(tmp_path / "in.mov", "pcm_s16le")
    frames = upscale_with_audio(tmp_path / "in.mov", tmp_path / "out.mp4")
    assert "audio stream 1 (pcm_s16le) of" in caplog.text and "is left out" in caplog.text
    with av.open(str(tmp_path / "out.mp4")) as container:
        assert [stream.type for stream in container.streams] == ["video"]
    assert len(read_video_frames(tmp_path / "out.mp4")) == len(frames)


def test_subtitles_are_carried_in_sync_where_the_container_holds_them(tmp_path, caplog):
    write_video_with_audio(tmp_path / "in.mkv", "pcm_s16le", subtitle=True)
    assert open_source(tmp_path / "in.mkv").subtitle_streams == 1
    upscale_with_audio(tmp_path / "in.mkv", tmp_path / "out.mkv")
    assert read_cues(tmp_path / "out.mkv") == [(0.5, 0.4, b"beep")]  # with the flash, as in the input
    assert read_audio(tmp_path / "out.mkv")[0] == "pcm_s16le"

    upscale_with_audio(tmp_path / "in.mkv", tmp_path / "out.mp4")  # MP4 holds no SubRip text
    assert (
        "subtitle stream 2 (srt) of" in caplog.text
        and "is left out: mp4 files cannot hold them" in caplog.text
    )
    assert read_cues(tmp_path / "out.mp4") == []
    assert read_audio(tmp_path / "out.mp4")[0] == "pcm_s16le"  # the sound still comes along

    source = open_source(tmp_path / "in.mkv")
    frames = list(source)
    with open_sink(tmp_path / "plain.mkv", fps=10, tracks=TrackCopy.of(source, subtitles=False)) as sink:
        for frame in frames:
            sink.write(frame)
    assert read_cues(tmp_path / "plain.mkv") == [] and read_audio(tmp_path / "plain.mkv")[0] == "pcm_s16le"
    assert TrackCopy.of(source, audio=False, subtitles=False) is None
