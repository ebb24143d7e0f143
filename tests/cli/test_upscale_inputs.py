"""What `lgfn upscale` reads: 16-bit and grey frames (out as they came), truncated or variable-rate video."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import lgfn
from lgfn.data.degradations import bicubic_upscale
from lgfn.data.io import read_frame, write_image
from lgfn.inference import VideoSuperResolver
from lgfn.media import read_video_frames
from lgfn.models import LGFN
from tests.helpers import TINY_MODEL, error_line, make_frames, run_cli, write_video_timed

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _frames(dtype: type, channels: int, count: int = 5) -> list[np.ndarray]:
    rng = np.random.default_rng(10)
    return [rng.integers(0, np.iinfo(dtype).max + 1, (12, 16, channels), dtype=dtype) for _ in range(count)]


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16_bit_grey_frames_come_out_16_bit_grey(tmp_path: Path, suffix: str) -> None:
    frames = _frames(np.uint16, 1)
    for i, frame in enumerate(frames):
        write_image(tmp_path / "scan" / f"{i + 1}{suffix}", frame)
    assert run_cli(tmp_path / "scan", "-o", tmp_path / "out", "--method", "bicubic") == 0
    for i, frame in enumerate(frames):
        out = cv2.imread(str(tmp_path / "out" / f"{i:08d}.png"), cv2.IMREAD_UNCHANGED)
        assert out.dtype == np.uint16 and out.shape == (48, 64)  # grey and 16 bits, as the input
        np.testing.assert_array_equal(out, bicubic_upscale(frame, 4)[..., 0])


def test_lgfn_upscales_16_bit_rgb_and_grey_frames_in_their_format(tmp_path: Path) -> None:
    torch.manual_seed(0)
    lgfn.save_checkpoint(tmp_path / "tiny.pth", LGFN(scale=2, num_frames=3, **TINY_MODEL))
    resolver = VideoSuperResolver(lgfn.load_model(tmp_path / "tiny.pth"))
    expected = {}
    for name, frames in {"deep": _frames(np.uint16, 3), "grey": _frames(np.uint8, 1)}.items():
        for i, frame in enumerate(frames):
            write_image(tmp_path / name / f"{i:04d}.png", frame)
        assert run_cli(tmp_path / name, "-o", tmp_path / f"{name}_x2", "--ckpt", tmp_path / "tiny.pth") == 0
        expected[name] = [sr for _, sr in resolver.upscale_clip(frames)]
        for i, want in enumerate(expected[name]):
            got = read_frame(tmp_path / f"{name}_x2" / f"{i:08d}.png")
            assert got.dtype == frames[0].dtype and got.shape == (24, 32, frames[0].shape[2])
            assert np.abs(got.astype(int) - want).max() <= 1
    # A video output holds 8-bit RGB: the 16-bit frames are rounded to it.
    assert (
        run_cli(
            tmp_path / "deep", "-o", tmp_path / "deep.mkv", "--codec", "ffv1", "--ckpt", tmp_path / "tiny.pth"
        )
        == 0
    )
    decoded = read_video_frames(tmp_path / "deep.mkv")
    assert np.abs(decoded[0].astype(int) - expected["deep"][0] / 257).max() <= 0.5 + 1e-9


def test_reference_refuses_16_bit_frames_with_one_line(tmp_path: Path, capsys) -> None:
    for i, frame in enumerate(_frames(np.uint16, 3)):
        write_image(tmp_path / "deep" / f"{i}.png", frame)
    assert run_cli(tmp_path / "deep", "-o", tmp_path / "out", "--method", "bicubic", "--reference") == 2
    assert (
        error_line(capsys)
        == "error: --reference scores 8-bit RGB frames (the paper's protocol), not 16-bit RGB ones"
    )
    assert not (tmp_path / "out").exists()


def test_a_truncated_mkv_fails_as_a_truncated_mp4_does_unless_accepted(tmp_path: Path, capsys) -> None:
    write_video_timed(tmp_path / "whole.mkv", make_frames(40, 64, 48), [40 * i for i in range(40)])
    data = (tmp_path / "whole.mkv").read_bytes()
    (tmp_path / "in.mkv").write_bytes(data[: len(data) // 4])
    assert run_cli(tmp_path / "in.mkv", "-o", tmp_path / "out.mkv", "--method", "bicubic") == 2
    line = error_line(capsys)
    held = len(read_video_frames(tmp_path / "in.mkv"))  # after the CLI, whose log handler it uses
    assert (
        f"in.mkv ended at frame {held}, but its header counts 40 frames (the file may be truncated)" in line
    )
    assert not (tmp_path / "out.mkv").exists()
    assert (
        run_cli(tmp_path / "in.mkv", "-o", tmp_path / "out.mkv", "--method", "bicubic", "--accept-short") == 0
    )
    assert len(read_video_frames(tmp_path / "out.mkv")) == held


def test_a_variable_frame_rate_input_is_said_before_the_work(tmp_path: Path, capsys) -> None:
    write_video_timed(tmp_path / "in.mkv", make_frames(6, 16, 12), [0, 40, 80, 400, 440, 480])
    assert run_cli(tmp_path / "in.mkv", "-o", tmp_path / "out.mkv", "--method", "bicubic") == 0
    err = capsys.readouterr().err
    assert "in.mkv has a variable frame rate (frames last 40 to 320 ms)" in err
    assert err.index("variable frame rate") < err.index("upscaled 6 frames")
