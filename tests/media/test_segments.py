"""A video output's segments: found again in a work folder by their names, in order, without a gap."""

from __future__ import annotations

from lgfn.media import VideoFileSink
from lgfn.media.segments import finished_segments, segment_name


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
