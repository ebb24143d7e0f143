"""Reading frames: what comes out of a video file or a folder of frames, and how a bad input fails."""

from __future__ import annotations

from fractions import Fraction
from types import SimpleNamespace

import av
import numpy as np
import pytest

from lgfn.data.io import write_image
from lgfn.errors import InputDataError, LGFNError
from lgfn.media import (
    DEFAULT_FOLDER_FPS,
    FrameFolderSource,
    VideoFileSource,
    open_source,
    read_video_frames,
    sources,
)
from tests.helpers import (
    NTSC_FILM,
    VIDEO_FPS,
    close_to,
    make_frames,
    write_folder,
    write_video_pyav,
    write_video_timed,
    write_video_with_audio,
)


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


def test_video_source_knows_its_start_time_and_audio(tmp_path):
    write_video_with_audio(tmp_path / "in.mov", "pcm_s16le")
    source = open_source(tmp_path / "in.mov")
    assert source.start_time == Fraction(1, 2)
    assert source.stream_fps == VIDEO_FPS
    assert source.audio_streams == 1


def test_pixel_shape_turns_with_the_frame():
    assert sources._pixel_shape(Fraction(32, 27), 0) == Fraction(32, 27)
    assert sources._pixel_shape(Fraction(32, 27), 1) == Fraction(27, 32)  # a quarter turn swaps the sides
    assert sources._pixel_shape(Fraction(1, 1), 1) is None
    assert sources._pixel_shape(None, 0) is None


def test_a_cover_picture_listed_first_is_not_taken_for_the_video():
    def stream(name, disposition):
        return SimpleNamespace(name=name, disposition=disposition)

    cover, movie = (
        stream("cover", av.stream.Disposition.attached_pic),
        stream("movie", av.stream.Disposition.default),
    )
    assert sources._picture_stream([cover, movie]).name == "movie"
    assert sources._picture_stream([movie, cover]).name == "movie"
    assert sources._picture_stream([cover]).name == "cover"  # a lone picture is still a (one-frame) video
    assert sources._picture_stream([]) is None


def test_a_folder_of_numbered_frames_is_read_in_number_order(tmp_path):
    frames = make_frames(12, 20, 12)
    for i, frame in enumerate(frames, start=1):
        write_image(tmp_path / "clip" / f"{i}.png", frame)
    write_image(tmp_path / "clip" / ".hidden.png", frames[5])
    source = open_source(tmp_path / "clip")
    assert source.num_frames == 12
    assert all(np.array_equal(a, b) for a, b in zip(source, frames, strict=True))


@pytest.mark.parametrize(("dtype", "channels"), [(np.uint16, 3), (np.uint16, 1), (np.uint8, 1)])
def test_a_folder_of_grey_or_16_bit_frames_is_read_as_stored(tmp_path, dtype, channels):
    rng = np.random.default_rng(8)
    frames = [rng.integers(0, np.iinfo(dtype).max + 1, (12, 20, channels), dtype=dtype) for _ in range(3)]
    for i, frame in enumerate(frames):
        write_image(tmp_path / "clip" / f"{i}.tif", frame)
    source = open_source(tmp_path / "clip")
    assert source.size == (20, 12)
    got = list(source)
    assert all(a.dtype == dtype and np.array_equal(a, b) for a, b in zip(got, frames, strict=True))


def test_a_folder_mixing_frame_formats_is_refused_before_reading(tmp_path):
    frames = make_frames(3, 20, 12)
    write_folder(tmp_path / "clip", frames)
    write_image(tmp_path / "clip" / "00000002.png", frames[2].astype(np.uint16) * 257)
    with pytest.raises(
        InputDataError,
        match=r"00000002\.png: a 16-bit RGB PNG frame, but the first frame 00000000\.png is 8-bit",
    ):
        open_source(tmp_path / "clip")


# Frames 40 ms apart with two gaps of 120 ms: 10 frames over 0.60 s, not 0.36 s as 25 fps would have it.
VFR_TIMES = [0, 40, 80, 200, 240, 280, 400, 440, 480, 600]


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_a_variable_frame_rate_is_said_with_what_it_does(tmp_path, suffix, caplog):
    write_video_timed(tmp_path / f"vfr{suffix}", make_frames(10), VFR_TIMES)
    source = open_source(tmp_path / f"vfr{suffix}")
    assert source.num_frames == 10 and source.stated_frames in (10, None)
    assert len(list(source)) == 10
    warning = caplog.text
    assert "has a variable frame rate (frames last 40 to 120 ms)" in warning
    span = float(9 / source.fps)
    assert (
        f"a constant {float(source.fps):.4g} fps: they span {span:.2f} s there against 0.60 s in the input"
        in warning
    )
    # The largest gap between a frame's time at that rate and in the file.
    drift = float(max(abs(i / source.fps - Fraction(t, 1000)) for i, t in enumerate(VFR_TIMES)))
    assert f"up to {drift:.2f} s from their times" in warning
    caplog.clear()
    write_video_timed(tmp_path / f"cfr{suffix}", make_frames(10), [40 * i for i in range(10)])
    assert open_source(tmp_path / f"cfr{suffix}").num_frames == 10
    assert "variable frame rate" not in caplog.text
    open_source(tmp_path / f"vfr{suffix}", fps=25)  # a rate the user gives retimes on purpose
    assert "variable frame rate" not in caplog.text


def test_a_truncated_matroska_file_states_the_frames_its_header_promises(tmp_path, caplog):
    noise = make_frames(40, 64, 48)  # noise: the frames, not the header, make up the file
    write_video_timed(tmp_path / "whole.mkv", noise, [40 * i for i in range(40)])
    data = (tmp_path / "whole.mkv").read_bytes()
    (tmp_path / "cut.mkv").write_bytes(data[: len(data) // 4])
    source = open_source(tmp_path / "cut.mkv")
    held = len(list(source))
    assert 0 < held < 30 and source.num_frames == source.stated_frames == 40
    assert f"states 1.600 s of video (40 frames at 25 fps) but holds {held} frames" in caplog.text
    whole = open_source(tmp_path / "whole.mkv")  # the same file whole: no header count, 40 held
    assert (whole.num_frames, whole.stated_frames) == (40, None)
