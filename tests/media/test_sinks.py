"""Writing frames: what a sink leaves on disk, finished, interrupted and resumed."""

from __future__ import annotations

import os

import av
import cv2
import numpy as np
import pytest

from lgfn.errors import LGFNError
from lgfn.media import open_sink, open_source, read_video_frames, sinks, work_folder
from lgfn.media.containers import OUTPUT_CONTAINERS, VIDEO_LOOKING_SUFFIXES
from tests.helpers import NTSC_FILM, close_to, make_frames


@pytest.mark.parametrize("segment", [100, 5])  # one segment, or three joined
@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".mov", ".avi"])
def test_video_sink_round_trip_keeps_count_fps_and_content(tmp_path, monkeypatch, suffix, segment, listing):
    monkeypatch.setattr(sinks, "SEGMENT_FRAMES", segment)
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


def test_folder_sink_writes_exact_numbered_pngs(tmp_path, listing):
    frames = make_frames(3, 33, 25)
    with open_sink(tmp_path / "frames") as sink:
        for frame in frames:
            sink.write(frame)
    assert listing(tmp_path) == ["frames"]
    # The frames, and the hidden record of the job that made them (lgfn.media.provenance).
    assert listing(tmp_path / "frames") == [
        ".lgfn-upscale-job",
        "00000000.png",
        "00000001.png",
        "00000002.png",
    ]
    assert all(
        np.array_equal(a, b) for a, b in zip(read_video_frames(tmp_path / "frames"), frames, strict=True)
    )


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_interrupted_video_with_no_finished_segment_leaves_nothing(tmp_path, error, listing):
    with pytest.raises(error), open_sink(tmp_path / "out.mp4", fps=25) as sink:
        for frame in make_frames(5):  # fewer than SEGMENT_FRAMES
            sink.write(frame)
        raise error("stopped part-way")
    assert listing(tmp_path) == []


@pytest.mark.parametrize("name", ["out.mp4", "frames"])
def test_interrupted_output_keeps_its_finished_work_and_resumes(
    tmp_path, monkeypatch, caplog, name, listing, write_some
):
    monkeypatch.setattr(sinks, "SEGMENT_FRAMES", 4)
    frames, out = make_frames(11), tmp_path / name
    with pytest.raises(KeyboardInterrupt):
        write_some(out, frames, stop_after=10, job={"model": "a"})
    kept = 8 if name == "out.mp4" else 10  # whole segments of 4 frames; every finished PNG
    assert listing(tmp_path) == [f".{name}.partial"]  # no output yet, the work beside it
    assert f"kept {kept} of 10 frames in" in caplog.text
    redone = "2 frame(s) of an unfinished segment will be redone" if name == "out.mp4" else "a PNG folder"
    assert redone in caplog.text

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


def test_resume_without_earlier_work_starts_from_the_first_frame(tmp_path, listing, write_some):
    assert write_some(tmp_path / "frames", make_frames(3), resume=True) == 0
    assert listing(tmp_path / "frames") == [
        ".lgfn-upscale-job",
        "00000000.png",
        "00000001.png",
        "00000002.png",
    ]


def test_resume_ignores_a_piece_a_killed_run_was_writing(tmp_path, write_some):
    frames = make_frames(4)
    with pytest.raises(KeyboardInterrupt):
        write_some(tmp_path / "frames", frames, stop_after=2)
    work = work_folder(tmp_path / "frames")
    (work / "frames" / ".writing-00000002.png").write_bytes(b"half a PNG")  # as a SIGKILL leaves it
    (work / "lock").write_text("999999999")  # ... with its lock: no such process
    assert write_some(tmp_path / "frames", frames, resume=True) == 2
    assert all(
        np.array_equal(a, b) for a, b in zip(read_video_frames(tmp_path / "frames"), frames, strict=True)
    )


def test_a_work_folder_in_use_by_a_live_process_is_refused(tmp_path, write_some):
    with pytest.raises(KeyboardInterrupt):
        write_some(tmp_path / "frames", make_frames(3), stop_after=1)
    (work_folder(tmp_path / "frames") / "lock").write_text(str(os.getppid()))
    with pytest.raises(LGFNError, match=f"another run .process {os.getppid()}. is writing"):
        open_sink(tmp_path / "frames", resume=True)


@pytest.mark.parametrize("old_kind", ["file", "folder"])
@pytest.mark.parametrize("name", ["out.mp4", "out"])
def test_existing_output_refused_unless_overwrite(tmp_path, old_kind, name, listing):
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


def test_overwrite_keeps_old_output_when_the_new_one_fails(tmp_path, listing):
    out = tmp_path / "out.mp4"
    with open_sink(out, fps=25) as sink:
        sink.write(make_frames(1)[0])
    before = out.read_bytes()
    with pytest.raises(RuntimeError), open_sink(out, fps=25, overwrite=True) as sink:
        sink.write(make_frames(1)[0])
        raise RuntimeError("fails")
    assert out.read_bytes() == before
    assert listing(tmp_path) == ["out.mp4"]


def test_sink_rejects_bad_names_and_values(tmp_path, listing):
    with pytest.raises(LGFNError, match="names a single image"):
        open_sink(tmp_path / "out.png")
    with pytest.raises(LGFNError, match="does not write .webm video; a video output ends in one of .mp4"):
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


def test_overwrite_discards_an_interrupted_runs_work(tmp_path, caplog, listing, write_some):
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
    monkeypatch.setattr(sinks, "SEGMENT_FRAMES", 4)  # joined from three segments
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
    monkeypatch.setattr(sinks, "SEGMENT_FRAMES", 5)
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


@pytest.mark.parametrize(
    ("suffix", "codec"), [(suffix, codec) for suffix, codecs in OUTPUT_CONTAINERS.items() for codec in codecs]
)
def test_every_container_and_codec_accepted_is_written_whole(tmp_path, monkeypatch, suffix, codec):
    """Joined from two segments at the default quality (an AVI of MP4 segments needs their packets
    converted to start codes: without it the join failed, at --crf 18 though not at 0)."""
    monkeypatch.setattr(sinks, "SEGMENT_FRAMES", 3)
    frames = make_frames(5)
    out = tmp_path / f"out{suffix}"
    crf = 0 if codec == "h265" else 18  # x265 at 18 on 32x24 frames once lost more than 3 levels
    with open_sink(out, fps=25, codec=codec, crf=crf) as sink:
        for frame in frames:
            sink.write(frame)
    got = read_video_frames(out)
    assert len(got) == 5 and all(close_to(a, b, 3.0) for a, b in zip(got, frames, strict=True))


@pytest.mark.parametrize(
    ("suffix", "codec"),
    [
        (suffix, codec)
        for suffix, codecs in OUTPUT_CONTAINERS.items()
        for codec in sinks.CODECS
        if codec not in codecs
    ],
)
def test_a_container_that_cannot_hold_the_codec_is_refused_before_any_work(tmp_path, suffix, codec, listing):
    with pytest.raises(LGFNError, match=f"{suffix} cannot hold --codec {codec}; use one of .mp4"):
        open_sink(tmp_path / f"out{suffix}", codec=codec)
    assert listing(tmp_path) == []


@pytest.mark.parametrize("suffix", sorted(VIDEO_LOOKING_SUFFIXES - OUTPUT_CONTAINERS.keys()))
def test_a_video_name_we_do_not_write_is_refused_not_taken_for_a_folder(tmp_path, suffix, listing):
    with pytest.raises(
        LGFNError, match=f"does not write {suffix} video; .* one of .mp4 .m4v .mkv .mov .avi .ts"
    ):
        open_sink(tmp_path / f"out{suffix.upper()}")
    assert listing(tmp_path) == []


@pytest.mark.parametrize("channels", [3, 1])
def test_a_folder_keeps_16_bit_and_grey_frames_as_they_are(tmp_path, channels):
    rng = np.random.default_rng(9)
    frames = [rng.integers(0, 65536, (12, 20, channels), dtype=np.uint16) for _ in range(3)]
    with open_sink(tmp_path / "out") as sink:
        for frame in frames:
            sink.write(frame)
    for i, frame in enumerate(frames):
        stored = cv2.imread(str(tmp_path / "out" / f"{i:08d}.png"), cv2.IMREAD_UNCHANGED)  # another decoder
        assert stored.dtype == np.uint16 and stored.shape == ((12, 20, 3) if channels == 3 else (12, 20))
        np.testing.assert_array_equal(stored[..., ::-1] if channels == 3 else stored[..., None], frame)


def test_a_video_stores_16_bit_grey_frames_as_8_bit_rgb_and_says_so(tmp_path, caplog):
    frames = [np.full((12, 20, 1), value, np.uint16) for value in (0, 257 * 100 + 128, 65535)]
    with open_sink(tmp_path / "out.mkv", codec="ffv1") as sink:  # lossless RGB
        for frame in frames:
            sink.write(frame)
    assert "the frames are 16-bit grey-scale; " in caplog.text and "stores them as 8-bit RGB" in caplog.text
    decoded = read_video_frames(tmp_path / "out.mkv")
    assert [tuple(frame[0, 0]) for frame in decoded] == [(0, 0, 0), (100, 100, 100), (255, 255, 255)]
