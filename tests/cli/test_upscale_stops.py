"""``lgfn upscale`` stopped from outside or by its surroundings: SIGTERM, a read-only or full disk, a
container that holds fewer frames than it promises. Each ends in one line, the finished work kept."""

from __future__ import annotations

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
from lgfn.media import open_source
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
