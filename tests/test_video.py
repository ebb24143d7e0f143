"""Video and frame-folder input/output: what comes out of a source, what a sink leaves on disk."""

from __future__ import annotations

import itertools
import os
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import av
import numpy as np
import pytest

from lgfn.data import video
from lgfn.data.io import write_image
from lgfn.data.video import (
    DEFAULT_FOLDER_FPS,
    FrameFolderSource,
    TrackCopy,
    VideoFileSource,
    open_sink,
    open_source,
    read_video_frames,
)
from lgfn.errors import InputDataError, LGFNError
from tests.helpers import (
    AUDIO_RATE,
    NTSC_FILM,
    VIDEO_FPS,
    beep_time,
    close_to,
    make_frames,
    read_audio,
    read_cues,
    write_folder,
    write_video_pyav,
    write_video_with_audio,
)

# ---------------------------------------------------------------------------------------------
# Sources


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".mov", ".avi"])
def test_video_source_reads_every_frame_in_order_with_exact_fps(tmp_path, suffix):
    frames = make_frames(24)
    path = tmp_path / f"clip{suffix}"
    write_video_pyav(path, frames)

    source = open_source(path)
    assert isinstance(source, VideoFileSource)
    assert source.fps == NTSC_FILM
    assert source.size == (32, 24)
    assert source.num_frames == 24  # counted by the header, or estimated from the duration (mkv)
    decoded = list(source)
    assert len(decoded) == 24
    assert all(f.dtype == np.uint8 and f.shape == (24, 32, 3) for f in decoded)
    for original, got in zip(frames, decoded, strict=True):
        assert close_to(got, original, 1.5)
    # Iterating again starts from the first frame.
    assert np.array_equal(next(iter(source)), decoded[0])


@pytest.mark.parametrize(("degrees", "white_rows"), [(90, slice(24, 32)), (-90, slice(0, 8)), (180, None)])
def test_rotated_video_is_read_upright(tmp_path, degrees, white_rows):
    """A clip coded 32x16 with a white band on its left, shown turned (a phone's portrait video)."""
    coded = np.zeros((16, 32, 3), np.uint8)
    coded[:, :8] = 255
    with av.open(str(tmp_path / "rot.mp4"), mode="w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 16, "yuv420p"
        stream.options = {"qp": "0"}
        stream.set_display_rotation(degrees)  # counter-clockwise, as players apply it
        for _ in range(2):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(coded, format="rgb24")))
        container.mux(stream.encode(None))
    source = open_source(tmp_path / "rot.mp4")
    frames = list(source)
    if white_rows is None:  # upside down: the band is on the right
        assert source.size == (32, 16) and frames[0][:, 26:].min() > 200 and frames[0][:, :22].max() < 50
    else:  # a quarter turn counter-clockwise takes the left edge to the bottom
        assert source.size == (16, 32) and frames[0].shape == (32, 16, 3)
        assert frames[0][white_rows].min() > 200
        rest = np.ones(32, bool)
        rest[white_rows] = False
        assert frames[0][rest][2:-2].max() < 50


def test_folder_source_is_exact_and_uses_default_or_given_fps(tmp_path):
    frames = make_frames(6, 20, 12)
    write_folder(tmp_path / "clip", frames)
    (tmp_path / "clip" / "notes.txt").write_text("not a frame")

    source = open_source(tmp_path / "clip")
    assert isinstance(source, FrameFolderSource)
    assert (source.fps, source.size, source.num_frames) == (DEFAULT_FOLDER_FPS, (20, 12), 6)
    assert all(np.array_equal(a, b) for a, b in zip(source, frames, strict=True))
    assert open_source(tmp_path / "clip", fps="30000/1001").fps == Fraction(30000, 1001)
    assert open_source(tmp_path / "clip", fps=29.97).fps == Fraction(2997, 100)


def test_read_video_frames_start_and_max_frames(tmp_path):
    frames = make_frames(10)
    write_folder(tmp_path / "clip", frames)
    part = read_video_frames(tmp_path / "clip", max_frames=3, start=4)
    assert [int(f[0, 0, 0]) for f in part] == [int(f[0, 0, 0]) for f in frames[4:7]]
    assert len(read_video_frames(tmp_path / "clip", start=8)) == 2
    with pytest.raises(InputDataError, match="no frames from index 10"):
        read_video_frames(tmp_path / "clip", start=10)


def test_missing_input(tmp_path):
    with pytest.raises(InputDataError, match="input not found: .*nothing.mp4"):
        open_source(tmp_path / "nothing.mp4")


def test_corrupt_video_file(tmp_path):
    path = tmp_path / "broken.mp4"
    path.write_bytes(b"this is not a video" * 10)
    with pytest.raises(InputDataError, match="broken.mp4: not a readable video file"):
        open_source(path)


def test_file_without_video_stream(tmp_path):
    path = tmp_path / "sound.m4a"
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("aac", rate=8000)
        for _ in range(3):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate = 8000
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    with pytest.raises(InputDataError, match="sound.m4a: has no video stream"):
        open_source(path)


def test_video_with_zero_frames(tmp_path):
    path = tmp_path / "empty.avi"
    container = av.open(str(path), mode="w")
    stream = container.add_stream("libx264", rate=24)
    stream.width, stream.height, stream.pix_fmt = 32, 24, "yuv420p"
    container.start_encoding()  # writes the header with a video stream, then no frame
    container.close()
    with pytest.raises(InputDataError, match="empty.avi: the video stream has no frames"):
        open_source(path)


def test_empty_folder_and_single_image(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputDataError, match="no frames in"):
        open_source(tmp_path / "empty")
    write_image(tmp_path / "one.png", make_frames(1)[0])
    with pytest.raises(InputDataError, match="one.png is a single image"):
        open_source(tmp_path / "one.png")


def test_folder_with_frames_of_different_sizes_fails_before_reading(tmp_path):
    frames = make_frames(4, 20, 12)
    frames[2] = make_frames(1, 22, 12)[0]
    write_folder(tmp_path / "clip", frames)
    with pytest.raises(InputDataError, match=r"00000002.png: frame size 22x12 differs .* \(20x12\)"):
        open_source(tmp_path / "clip")


def test_truncated_frame_is_reported_when_reached(tmp_path):
    write_folder(tmp_path / "clip", make_frames(4, 20, 12))
    bad = tmp_path / "clip" / "00000003.png"
    bad.write_bytes(bad.read_bytes()[:60])  # the header survives, the pixel data does not
    source = open_source(tmp_path / "clip")
    with pytest.raises(InputDataError, match="00000003.png"):
        list(source)


def test_bad_fps_value(tmp_path):
    write_folder(tmp_path / "clip", make_frames(2))
    for bad in ("fast", "0", "-25"):
        with pytest.raises(LGFNError, match="frame rate must be"):
            open_source(tmp_path / "clip", fps=bad)


# ---------------------------------------------------------------------------------------------
# Sinks


def listing(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


@pytest.mark.parametrize("segment", [100, 5])  # one segment, or three joined
@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".mov", ".avi"])
def test_video_sink_round_trip_keeps_count_fps_and_content(tmp_path, monkeypatch, suffix, segment):
    monkeypatch.setattr(video, "SEGMENT_FRAMES", segment)
    frames = make_frames(12)
    out = tmp_path / f"out{suffix}"
    with open_sink(out, fps=NTSC_FILM, crf=0) as sink:
        for frame in frames:
            sink.write(frame)
        assert not out.exists() and len(listing(tmp_path)) == 1  # only the temporary file while writing
    assert listing(tmp_path) == [out.name]  # ... and no temporary file afterwards
    source = open_source(out)
    assert source.fps == NTSC_FILM
    decoded = list(source)
    assert len(decoded) == 12
    for original, got in zip(frames, decoded, strict=True):
        assert close_to(got, original, 1.5)


@pytest.mark.parametrize(("height", "matrix"), [(576, 6), (720, 1)])  # BT.601 for SD, BT.709 for HD
def test_video_sink_writes_and_declares_the_matrix_players_expect(tmp_path, height, matrix):
    y, x = np.mgrid[0:height, 0:64]
    frame = np.stack([x * 3, (y * 255) // height, 255 - x * 3], axis=-1).astype(np.uint8)
    frame[: height // 2, :32] = (200, 30, 60)  # a saturated patch: wrong matrix, wrong colour
    with open_sink(tmp_path / "out.mp4", fps=25, crf=0) as sink:
        sink.write(frame)
    with av.open(str(tmp_path / "out.mp4")) as container:
        assert container.streams.video[0].codec_context.colorspace == matrix
    assert close_to(read_video_frames(tmp_path / "out.mp4")[0], frame, 1.5)


def test_video_sink_pads_odd_sizes_by_repeating_the_edge(tmp_path):
    frames = make_frames(3, 33, 25)
    with open_sink(tmp_path / "odd.mp4", fps=25, crf=0) as sink:
        for frame in frames:
            sink.write(frame)
    decoded = read_video_frames(tmp_path / "odd.mp4")
    assert decoded[0].shape == (26, 34, 3)
    assert close_to(decoded[1][:25, :33], frames[1], 1.5)
    # The added column/row repeat the last real ones.
    assert close_to(decoded[1][:25, 33], frames[1][:, 32], 2.0)
    assert close_to(decoded[1][25, :33], frames[1][24], 2.0)


def test_folder_sink_writes_exact_numbered_pngs(tmp_path):
    frames = make_frames(3, 33, 25)
    with open_sink(tmp_path / "frames") as sink:
        for frame in frames:
            sink.write(frame)
    assert listing(tmp_path) == ["frames"]
    assert listing(tmp_path / "frames") == ["00000000.png", "00000001.png", "00000002.png"]
    assert all(
        np.array_equal(a, b) for a, b in zip(read_video_frames(tmp_path / "frames"), frames, strict=True)
    )


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_interrupted_video_with_no_finished_segment_leaves_nothing(tmp_path, error):
    with pytest.raises(error), open_sink(tmp_path / "out.mp4", fps=25) as sink:
        for frame in make_frames(5):  # fewer than SEGMENT_FRAMES
            sink.write(frame)
        raise error("stopped part-way")
    assert listing(tmp_path) == []


def write_some(path: Path, frames: list[np.ndarray], stop_after: int | None = None, **options) -> int:
    """Write ``frames`` from the sink's resume point on, raising KeyboardInterrupt after ``stop_after``;
    returns where the sink started."""
    sink = open_sink(path, fps=NTSC_FILM, crf=0, **options)
    with sink:
        for index, frame in enumerate(frames[sink.resume_from :]):
            if index == stop_after:
                raise KeyboardInterrupt
            sink.write(frame)
    return sink.resume_from


@pytest.mark.parametrize("name", ["out.mp4", "frames"])
def test_interrupted_output_keeps_its_finished_work_and_resumes(tmp_path, monkeypatch, caplog, name):
    monkeypatch.setattr(video, "SEGMENT_FRAMES", 4)
    frames, out = make_frames(11), tmp_path / name
    with pytest.raises(KeyboardInterrupt):
        write_some(out, frames, stop_after=10, job={"model": "a"})
    kept = 8 if name == "out.mp4" else 10  # whole segments of 4 frames; every finished PNG
    assert listing(tmp_path) == [f".{name}.partial"]  # no output yet, the work beside it
    assert f"{kept} finished frame(s) are kept in" in caplog.text

    with pytest.raises(LGFNError, match=f"left {kept} finished frame.*pass --resume"):
        open_sink(out, fps=NTSC_FILM, job={"model": "a"})
    with pytest.raises(LGFNError, match="used other settings .model: 'a' then, 'b' now"):
        open_sink(out, fps=NTSC_FILM, crf=0, resume=True, job={"model": "b"})
    assert write_some(out, frames, resume=True, job={"model": "a"}) == kept
    assert listing(tmp_path) == [name]
    decoded = read_video_frames(out)
    assert len(decoded) == 11
    for original, got in zip(frames, decoded, strict=True):
        assert close_to(got, original, 1.5)  # the right frames in the right order, twice interrupted or not
    if name == "out.mp4":
        source = open_source(out)
        assert (source.fps, source.num_frames) == (NTSC_FILM, 11)


def test_resume_without_earlier_work_starts_from_the_first_frame(tmp_path):
    assert write_some(tmp_path / "frames", make_frames(3), resume=True) == 0
    assert listing(tmp_path / "frames") == ["00000000.png", "00000001.png", "00000002.png"]


def test_resume_ignores_a_piece_a_killed_run_was_writing(tmp_path):
    frames = make_frames(4)
    with pytest.raises(KeyboardInterrupt):
        write_some(tmp_path / "frames", frames, stop_after=2)
    work = video.work_folder(tmp_path / "frames")
    (work / "frames" / ".writing-00000002.png").write_bytes(b"half a PNG")  # as a SIGKILL leaves it
    (work / "lock").write_text("999999999")  # ... with its lock: no such process
    assert write_some(tmp_path / "frames", frames, resume=True) == 2
    assert all(
        np.array_equal(a, b) for a, b in zip(read_video_frames(tmp_path / "frames"), frames, strict=True)
    )


def test_a_work_folder_in_use_by_a_live_process_is_refused(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        write_some(tmp_path / "frames", make_frames(3), stop_after=1)
    (video.work_folder(tmp_path / "frames") / "lock").write_text(str(os.getppid()))
    with pytest.raises(LGFNError, match=f"another run .process {os.getppid()}. is writing"):
        open_sink(tmp_path / "frames", resume=True)


@pytest.mark.parametrize("old_kind", ["file", "folder"])
@pytest.mark.parametrize("name", ["out.mp4", "out"])
def test_existing_output_refused_unless_overwrite(tmp_path, old_kind, name):
    out = tmp_path / name
    if old_kind == "file":
        out.write_bytes(b"old")
    else:
        out.mkdir()
        (out / "old.txt").write_text("old")
    with pytest.raises(LGFNError, match="already exists; pass --overwrite"):
        open_sink(out, fps=25)
    assert listing(tmp_path) == [name]

    frames = make_frames(2)
    with open_sink(out, fps=25, overwrite=True) as sink:
        for frame in frames:
            sink.write(frame)
    assert listing(tmp_path) == [name]
    assert len(read_video_frames(out)) == 2


def test_overwrite_keeps_old_output_when_the_new_one_fails(tmp_path):
    out = tmp_path / "out.mp4"
    with open_sink(out, fps=25) as sink:
        sink.write(make_frames(1)[0])
    before = out.read_bytes()
    with pytest.raises(RuntimeError), open_sink(out, fps=25, overwrite=True) as sink:
        sink.write(make_frames(1)[0])
        raise RuntimeError("fails")
    assert out.read_bytes() == before
    assert listing(tmp_path) == ["out.mp4"]


def test_sink_rejects_bad_names_and_values(tmp_path):
    with pytest.raises(LGFNError, match="names a single image"):
        open_sink(tmp_path / "out.png")
    with pytest.raises(LGFNError, match="cannot hold H.264"):
        open_sink(tmp_path / "out.webm")
    with pytest.raises(LGFNError, match="crf must be between 0 and 51"):
        open_sink(tmp_path / "out.mp4", crf=52)
    with pytest.raises(LGFNError, match="no frames were written"), open_sink(tmp_path / "out.mp4"):
        pass
    assert listing(tmp_path) == []
    with open_sink(tmp_path / "out") as sink:
        sink.write(make_frames(1, 8, 8)[0])
        with pytest.raises(ValueError, match="earlier frames are 8x8"):
            sink.write(make_frames(1, 10, 8)[0])


# ---------------------------------------------------------------------------------------------
# Audio carried into a video output


def upscale_with_audio(source_path: Path, out: Path, max_frames: int | None = None) -> list[np.ndarray]:
    """Copy a clip's frames through a sink that carries its audio; returns the frames written."""
    source = open_source(source_path)
    frames = list(itertools.islice(source, max_frames))
    with open_sink(out, fps=source.fps, crf=0, tracks=TrackCopy.of(source)) as sink:
        for frame in frames:
            sink.write(frame)
    return frames


def test_video_source_knows_its_start_time_and_audio(tmp_path):
    write_video_with_audio(tmp_path / "in.mov", "pcm_s16le")
    source = open_source(tmp_path / "in.mov")
    assert source.start_time == Fraction(1, 2)
    assert source.stream_fps == VIDEO_FPS
    assert source.audio_streams == 1


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".mov", ".avi"])
def test_audio_is_copied_in_sync_with_the_frames(tmp_path, monkeypatch, suffix):
    monkeypatch.setattr(video, "SEGMENT_FRAMES", 6)  # the picture joined from several segments
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


def test_folder_output_and_silent_input_carry_no_audio(tmp_path):
    write_video_with_audio(tmp_path / "in.mov", "pcm_s16le")
    upscale_with_audio(tmp_path / "in.mov", tmp_path / "frames")
    assert len(listing(tmp_path / "frames")) == 20
    write_video_pyav(tmp_path / "silent.mp4", make_frames(3))
    assert open_source(tmp_path / "silent.mp4").audio_streams == 0
    upscale_with_audio(tmp_path / "silent.mp4", tmp_path / "out.mp4")
    with av.open(str(tmp_path / "out.mp4")) as container:
        assert [stream.type for stream in container.streams] == ["video"]


def test_resumed_video_carries_the_audio_in_sync(tmp_path, monkeypatch):
    monkeypatch.setattr(video, "SEGMENT_FRAMES", 3)
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

    monkeypatch.setattr(video._Route, "__init__", refuse)
    write_video_with_audio(tmp_path / "in.mov", "pcm_s16le")
    frames = upscale_with_audio(tmp_path / "in.mov", tmp_path / "out.mp4")
    assert "audio stream 1 (pcm_s16le) of" in caplog.text and "is left out" in caplog.text
    with av.open(str(tmp_path / "out.mp4")) as container:
        assert [stream.type for stream in container.streams] == ["video"]
    assert len(read_video_frames(tmp_path / "out.mp4")) == len(frames)


def test_pixel_shape_turns_with_the_frame():
    assert video._pixel_shape(Fraction(32, 27), 0) == Fraction(32, 27)
    assert video._pixel_shape(Fraction(32, 27), 1) == Fraction(27, 32)  # a quarter turn swaps the sides
    assert video._pixel_shape(Fraction(1, 1), 1) is None
    assert video._pixel_shape(None, 0) is None


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


def test_a_cover_picture_listed_first_is_not_taken_for_the_video():
    def stream(name, disposition):
        return SimpleNamespace(name=name, disposition=disposition)

    cover, movie = (
        stream("cover", av.stream.Disposition.attached_pic),
        stream("movie", av.stream.Disposition.default),
    )
    assert video._picture_stream([cover, movie]).name == "movie"
    assert video._picture_stream([movie, cover]).name == "movie"
    assert video._picture_stream([cover]).name == "cover"  # a lone picture is still a (one-frame) video
    assert video._picture_stream([]) is None


def test_overwrite_discards_an_interrupted_runs_work(tmp_path, caplog):
    frames = make_frames(5)
    with pytest.raises(KeyboardInterrupt):
        write_some(tmp_path / "frames", frames, stop_after=3)
    assert write_some(tmp_path / "frames", frames[::-1], overwrite=True) == 0  # from the first frame
    assert "--overwrite: starting" in caplog.text and "discarding 3 finished frame(s)" in caplog.text
    assert all(
        np.array_equal(a, b)
        for a, b in zip(read_video_frames(tmp_path / "frames"), frames[::-1], strict=True)
    )
    assert listing(tmp_path) == ["frames"]


@pytest.mark.parametrize("suffix", [".mkv", ".avi"])
def test_ffv1_output_keeps_the_frames_exactly(tmp_path, monkeypatch, suffix):
    monkeypatch.setattr(video, "SEGMENT_FRAMES", 4)  # joined from three segments
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (15, 21, 3), dtype=np.uint8) for _ in range(10)]  # odd sizes, noise
    out = tmp_path / f"out{suffix}"
    with open_sink(out, fps=NTSC_FILM, codec="ffv1") as sink:
        for frame in frames:
            sink.write(frame)
    source = open_source(out)
    assert (source.fps, source.size) == (NTSC_FILM, (21, 15))
    got = list(source)
    assert len(got) == 10 and all(np.array_equal(a, b) for a, b in zip(got, frames, strict=True))


def test_h265_output(tmp_path, monkeypatch):
    monkeypatch.setattr(video, "SEGMENT_FRAMES", 5)
    frames = make_frames(12)
    with open_sink(tmp_path / "out.mp4", fps=25, crf=0, codec="h265") as sink:
        for frame in frames:
            sink.write(frame)
    with av.open(str(tmp_path / "out.mp4")) as container:
        assert container.streams.video[0].codec_context.name == "hevc"
    got = read_video_frames(tmp_path / "out.mp4")
    assert len(got) == 12 and all(close_to(a, b, 1.5) for a, b in zip(got, frames, strict=True))
    with pytest.raises(LGFNError, match="unknown video codec 'vp9'"):
        open_sink(tmp_path / "x.mkv", codec="vp9")
