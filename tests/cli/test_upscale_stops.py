"""``lgfn upscale`` stopped from outside or by its surroundings: SIGTERM, a read-only or full disk, a
container that holds fewer frames than it promises. Each ends in one line, the finished work kept."""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from lgfn import cli
from lgfn.data.io import read_image
from lgfn.media import open_source, sinks
from tests.helpers import (
    NTSC_FILM,
    error_line,
    make_frames,
    run_cli,
    stop_with_sigterm,
    write_folder,
    write_png_claiming,
)


def test_sigterm_stops_like_ctrl_c_and_keeps_the_finished_frames(tmp_path, tiny_ckpt):
    frames = make_frames(60, 32, 24)
    write_folder(tmp_path / "in", frames)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "lgfn", "upscale", str(tmp_path / "in"), "-o", str(out)]
    command += ["--ckpt", str(tiny_ckpt), "--device", "cpu", "--no-progress"]
    third = tmp_path / ".out.partial" / "frames" / "00000002.png"
    code, err = stop_with_sigterm(command, third.exists, f"{third} written")
    assert code == 130, err
    assert "is not complete: kept " in err and err.rstrip().endswith("interrupted"), err
    assert "a PNG folder keeps every frame written, so nothing is redone" in err
    assert "Traceback" not in err
    assert not (tmp_path / ".out.partial" / "lock").exists()  # released: a --resume is not refused
    kept = len(os.listdir(tmp_path / ".out.partial" / "frames"))
    assert 3 <= kept < len(frames) and not out.exists()
    assert run_cli(tmp_path / "in", "-o", out, "--ckpt", tiny_ckpt, "--device", "cpu", "--resume") == 0
    assert open_source(out).num_frames == len(frames)


@pytest.mark.parametrize("bomb", [0, 2])
def test_a_frame_claiming_ten_billion_pixels_is_one_error_line(tmp_path, capsys, bomb):
    write_folder(tmp_path / "in", make_frames(4, 16, 12))
    write_png_claiming(tmp_path / "in" / f"{bomb:08d}.png", 100_000, 100_000)
    assert run_cli(tmp_path / "in", "-o", tmp_path / "out", "--method", "bicubic") == 2
    line = error_line(capsys)
    assert f"{bomb:08d}.png: refused to decode, the image is too large" in line, line


def test_an_output_in_a_read_only_folder_is_one_error_line(tmp_path, capsys, monkeypatch):
    """As root, a folder's mode does not stop writes: the refusal is what ``mkdir`` in it raises."""
    write_folder(tmp_path / "in", make_frames(3, 16, 12))
    (tmp_path / "ro").mkdir()
    real_mkdir = os.mkdir

    def read_only_mkdir(path, *args, **kwargs):
        if Path(path).parent == tmp_path / "ro":
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(os, "mkdir", read_only_mkdir)
    for name in ("out.mp4", "out"):
        assert run_cli(tmp_path / "in", "-o", tmp_path / "ro" / name, "--method", "bicubic") == 2
        line = error_line(capsys)
        assert f"cannot write {tmp_path / 'ro' / name}: " in line and "Permission denied" in line, line
        assert "write to a folder where you can create files" in line
    assert os.listdir(tmp_path / "ro") == []


def _disk_full_after(monkeypatch, module, name: str, calls: int) -> None:
    """``module.name`` raises ENOSPC from its ``calls``-th call on, as a full disk would."""
    real, count = getattr(module, name), [0]

    def full(*args, **kwargs):
        count[0] += 1
        if count[0] >= calls:
            raise OSError(errno.ENOSPC, "No space left on device", "/the/disk/file")
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, full)


def test_a_full_disk_is_one_error_line_and_a_resume_gives_the_uninterrupted_frames(
    tmp_path, capsys, monkeypatch
):
    write_folder(tmp_path / "in", make_frames(8, 16, 12))
    bicubic = ("--method", "bicubic")
    assert run_cli(tmp_path / "in", "-o", tmp_path / "whole", *bicubic) == 0
    with monkeypatch.context() as patch:
        _disk_full_after(patch, sinks, "write_image", 6)
        assert run_cli(tmp_path / "in", "-o", tmp_path / "out", *bicubic) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "kept 5 of 5 frames" in err, err
    (line,) = [line for line in err.splitlines() if line.startswith("error:")]
    assert f"cannot write {tmp_path / 'out'}: the disk is full (/the/disk/file" in line, line
    assert "free some space, then run the same command with --resume" in line
    assert (
        sorted(os.listdir(tmp_path / ".out.partial" / "frames"))[-1] == "00000004.png"
    )  # nothing half-written
    assert run_cli(tmp_path / "in", "-o", tmp_path / "out", *bicubic, "--resume") == 0
    for name in sorted(n for n in os.listdir(tmp_path / "whole") if n.endswith(".png")):
        assert np.array_equal(read_image(tmp_path / "out" / name), read_image(tmp_path / "whole" / name))


@pytest.mark.parametrize("where", ["encode_colour", "join_segments"])
def test_a_full_disk_while_encoding_or_joining_a_video_is_one_error_line(
    tmp_path, capsys, monkeypatch, where
):
    write_folder(tmp_path / "in", make_frames(4, 16, 12))
    _disk_full_after(monkeypatch, sinks, where, 3 if where == "encode_colour" else 1)
    assert run_cli(tmp_path / "in", "-o", tmp_path / "out.mp4", "--method", "bicubic") == 2
    assert "the disk is full" in error_line(capsys)
    assert not (tmp_path / "out.mp4").exists()


def _truncated_video(path: Path, frames: list[np.ndarray]) -> None:
    """An MP4 with its index at the front (``+faststart``), cut to half its bytes: the header still
    counts every frame, the file holds the first ones only."""
    whole = path.with_name("whole.mp4")
    with av.open(str(whole), mode="w", options={"movflags": "+faststart"}) as container:
        stream = container.add_stream("libx264", rate=NTSC_FILM)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt, stream.options = "yuv420p", {"qp": "0"}
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))
    data = whole.read_bytes()
    assert data.find(b"moov") < data.find(b"mdat")  # the index is at the front
    path.write_bytes(data[: len(data) // 2])


def test_a_video_holding_fewer_frames_than_its_header_counts_fails_unless_accepted(tmp_path, capsys):
    _truncated_video(tmp_path / "in.mp4", make_frames(30, 32, 24))
    source = open_source(tmp_path / "in.mp4")
    held = sum(1 for _ in source)
    assert source.num_frames == source.stated_frames == 30 and 0 < held < 30
    bicubic = ("--method", "bicubic", "--start", "2")
    assert run_cli(tmp_path / "in.mp4", "-o", tmp_path / "out.mp4", *bicubic) == 2
    line = error_line(capsys)
    assert (
        f"in.mp4 ended at frame {held}, but its header counts 30 frames (the file may be truncated)" in line
    )
    assert f"28 frames from frame 2 were expected, {held - 2} were read" in line
    assert "out.mp4 is not written: pass --accept-short to write the frames read" in line
    assert not (tmp_path / "out.mp4").exists()
    assert run_cli(tmp_path / "in.mp4", "-o", tmp_path / "out.mp4", *bicubic, "--accept-short") == 0
    assert "--accept-short: writing those" in capsys.readouterr().err
    assert open_source(tmp_path / "out.mp4").num_frames == held - 2
    # Within what the file holds, nothing is missing.
    assert (
        run_cli(tmp_path / "in.mp4", "-o", tmp_path / "few.mp4", *bicubic, "--max-frames", str(held - 2)) == 0
    )


def test_help_names_accept_short(capsys):
    assert cli.main(["upscale", "--help"]) == 0
    assert "--accept-short" in capsys.readouterr().out
