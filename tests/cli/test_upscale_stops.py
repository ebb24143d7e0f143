"""``lgfn upscale`` stopped from outside or by its surroundings: SIGTERM, a read-only or full disk, a
container that holds fewer frames than it promises. Each ends in one line, the finished work kept."""

from __future__ import annotations

import errno
import io
import os
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import lgfn
from lgfn import cli
from lgfn.data.io import read_image
from lgfn.media import open_source, sinks
from lgfn.models import LGFN
from tests.helpers import REPO, TINY_MODEL, make_frames, write_folder


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory) -> Path:
    """A tiny x4 LGFN with a 3-frame window, saved as a project checkpoint."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pth"
    lgfn.save_checkpoint(path, LGFN(scale=4, num_frames=3, **TINY_MODEL))
    return path


def run_cli(*argv: str | Path) -> int:
    return cli.main(["upscale", *map(str, argv), "--no-progress"])


def error_line(capsys) -> str:
    """The one ``error:`` line the CLI printed; fails if there is a traceback or more than one."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err
    return errors[0]


def _wait_for(path: Path, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.05)


def test_sigterm_stops_like_ctrl_c_and_keeps_the_finished_frames(tmp_path, tiny_ckpt):
    frames = make_frames(60, 32, 24)
    write_folder(tmp_path / "in", frames)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "lgfn", "upscale", str(tmp_path / "in"), "-o", str(out)]
    command += ["--ckpt", str(tiny_ckpt), "--device", "cpu", "--no-progress"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_for(tmp_path / ".out.partial" / "frames" / "00000002.png", process)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    err = err.decode()
    assert process.returncode == 130, err
    assert "finished frame(s) are kept" in err and err.rstrip().endswith("interrupted"), err
    assert "Traceback" not in err
    assert not (tmp_path / ".out.partial" / "lock").exists()  # released: a --resume is not refused
    kept = len(os.listdir(tmp_path / ".out.partial" / "frames"))
    assert 3 <= kept < len(frames) and not out.exists()
    assert run_cli(tmp_path / "in", "-o", out, "--ckpt", tiny_ckpt, "--device", "cpu", "--resume") == 0
    assert open_source(out).num_frames == len(frames)


def _png_claiming(path: Path, width: int, height: int) -> None:
    """A small PNG whose header (IHDR, with a valid checksum) claims ``width x height`` pixels."""
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    ihdr = data.index(b"IHDR")
    data[ihdr + 4 : ihdr + 12] = struct.pack(">II", width, height)
    data[ihdr + 17 : ihdr + 21] = struct.pack(">I", zlib.crc32(bytes(data[ihdr : ihdr + 17])))
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("bomb", [0, 2])
def test_a_frame_claiming_ten_billion_pixels_is_one_error_line(tmp_path, capsys, bomb):
    write_folder(tmp_path / "in", make_frames(4, 16, 12))
    _png_claiming(tmp_path / "in" / f"{bomb:08d}.png", 100_000, 100_000)
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
    assert "Traceback" not in err and "5 finished frame(s) are kept" in err, err
    (line,) = [line for line in err.splitlines() if line.startswith("error:")]
    assert f"cannot write {tmp_path / 'out'}: the disk is full (/the/disk/file" in line, line
    assert "free some space, then run the same command with --resume" in line
    assert (
        sorted(os.listdir(tmp_path / ".out.partial" / "frames"))[-1] == "00000004.png"
    )  # nothing half-written
    assert run_cli(tmp_path / "in", "-o", tmp_path / "out", *bicubic, "--resume") == 0
    for name in sorted(os.listdir(tmp_path / "whole")):
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
