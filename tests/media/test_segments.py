"""A video output's segments: found again in a work folder by their names, in order, without a gap."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys

import numpy as np
import pytest

from lgfn.data.degradations import bicubic_upscale
from lgfn.data.samples import sample_clip_path
from lgfn.media import VideoFileSink, open_sink, open_source, sinks
from lgfn.media.segments import finished_segments, segment_name
from tests.helpers import REPO


def test_finished_segments_run_from_the_first_frame_without_a_gap(tmp_path):
    names = [segment_name(0, 4, ".mp4"), segment_name(4, 4, ".mkv"), segment_name(12, 3, ".mp4")]
    assert names[:2] == ["frames_00000000+0004.mp4", "frames_00000004+0004.mkv"]
    for name in [*names, ".writing-00000008.mp4", "job.json", "lock"]:  # frames 8..11 were being written
        (tmp_path / name).write_bytes(b"")
    found = finished_segments(tmp_path)
    assert [(first, count, file.name) for first, count, file in found] == [
        (0, 4, names[0]),
        (4, 4, names[1]),
    ]  # the segment after the gap is not counted
    assert VideoFileSink.finished_frames(tmp_path) == 8
    assert (
        finished_segments(tmp_path / "missing") == []
        and VideoFileSink.finished_frames(tmp_path / "missing") == 0
    )


_ENCODE_AND_HASH = """
import hashlib, itertools, sys
from lgfn.data.degradations import bicubic_upscale
from lgfn.media import open_sink, open_source
from lgfn.data.samples import sample_clip_path
clip = open_source(sample_clip_path("carphone_pristine"))
frames = [bicubic_upscale(f, 4) for f in itertools.islice(clip, 12)]
with open_sink(sys.argv[1], fps=25) as sink:
    for frame in frames:
        sink.write(frame)
print(hashlib.sha256(b"".join(f.tobytes() for f in open_source(sys.argv[1]))).hexdigest())
"""


def test_h264_gives_the_same_frames_whatever_memory_the_encoder_is_handed(tmp_path):
    """x264 with B-frames and its macroblock tree read memory they have not written: glibc's
    MALLOC_PERTURB_ fills fresh allocations with a given byte, which changed the decoded frames by
    up to 30 levels before B-frames were turned off."""
    hashes = set()
    for perturb in ("1", "200"):
        env = dict(os.environ, MALLOC_PERTURB_=perturb)
        done = subprocess.run(
            [sys.executable, "-c", _ENCODE_AND_HASH, str(tmp_path / f"{perturb}.mp4")],
            capture_output=True, text=True, env=env, cwd=REPO, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        hashes.add(done.stdout.strip())
    assert len(hashes) == 1


def _write_h264(path, frames, stop_after=None, resume=False) -> int:
    """Write ``frames`` at the default quality from where the sink resumes; Ctrl-C after ``stop_after``."""
    with open_sink(path, fps=25, resume=resume) as sink:
        for index, frame in enumerate(frames[sink.resume_from :]):
            if index == stop_after:
                raise KeyboardInterrupt
            sink.write(frame)
    return sink.resume_from


def test_a_resumed_h264_video_decodes_to_the_frames_of_an_uninterrupted_run(tmp_path, monkeypatch):
    """Segments are encoded one by one from fixed frame numbers, each by a fresh encoder: with a
    reproducible encoder, the segments a resumed run adds are those an uninterrupted run makes."""
    monkeypatch.setattr(sinks, "SEGMENT_FRAMES", 6)
    clip = open_source(sample_clip_path("carphone_pristine"))
    frames = [bicubic_upscale(frame, 2) for frame in itertools.islice(clip, 15)]
    _write_h264(tmp_path / "whole.mp4", frames)
    with pytest.raises(KeyboardInterrupt):
        _write_h264(tmp_path / "part.mp4", frames, stop_after=8)
    assert _write_h264(tmp_path / "part.mp4", frames, resume=True) == 6
    whole, part = open_source(tmp_path / "whole.mp4"), open_source(tmp_path / "part.mp4")
    assert all(np.array_equal(a, b) for a, b in zip(whole, part, strict=True))
