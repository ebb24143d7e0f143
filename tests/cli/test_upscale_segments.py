"""``lgfn upscale --segment-frames``: the length of a video output's segments, the work an interruption
keeps; a default from the network and the frame size, recorded for ``--resume``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

import lgfn
from lgfn.cli.upscale_segments import macs_per_pixel, network_config, network_macs
from lgfn.inference import BicubicUpscaler, VideoSuperResolver
from lgfn.media import open_source, work_folder
from lgfn.media.segments import (
    MAX_SEGMENT_FRAMES,
    MIN_SEGMENT_FRAMES,
    SEGMENT_MACS,
    default_segment_frames,
    finished_segments,
)
from lgfn.models import LGFN
from lgfn.models.lgfn import LGFNConfig
from lgfn.stats import count_macs
from tests.helpers import (
    TINY_MODEL,
    error_line,
    interrupt_after,
    make_frames,
    run_cli,
    stop_with_sigterm,
    write_folder,
)


def _decoded(path: Path) -> list[np.ndarray]:
    return list(open_source(path))


def test_sigterm_keeps_the_finished_segments_and_the_resume_equals_an_uninterrupted_run(tmp_path, tiny_ckpt):
    frames = make_frames(40, 32, 24)
    write_folder(tmp_path / "in", frames)
    options = ["--ckpt", tiny_ckpt, "--device", "cpu", "--precision", "fp32", "--segment-frames", "2"]
    assert run_cli(tmp_path / "in", "-o", tmp_path / "whole.mp4", *options) == 0

    out, work = tmp_path / "out.mp4", work_folder(tmp_path / "out.mp4")
    command = [sys.executable, "-m", "lgfn", "upscale", str(tmp_path / "in"), "-o", str(out), "--no-progress"]
    command += [str(option) for option in options]
    code, err = stop_with_sigterm(command, lambda: finished_segments(work), f"a finished segment in {work}")
    assert code == 130 and "Traceback" not in err, err
    kept = sum(count for _, count, _ in finished_segments(work))
    assert kept >= 2 and kept % 2 == 0 and not out.exists()
    assert json.loads((work / "job.json").read_text())["segment_frames"] == 2
    (line,) = [line for line in err.splitlines() if "is not complete" in line]
    written = int(line.split(f"kept {kept} of ")[1].split(" ")[0])
    assert written - kept in (0, 1), line  # at most the one frame of the unfinished segment
    redone = (
        "1 frame(s) of an unfinished segment will be redone by --resume"
        if written > kept
        else ("every frame written is in a finished segment, so nothing is redone")
    )
    assert redone in line, line
    assert f"continues from frame {kept}" in line and err.rstrip().endswith("interrupted")

    # Another length would cut other segments: refused, the work left as it was.
    listing = sorted(os.listdir(work))
    assert run_cli(tmp_path / "in", "-o", out, *options[:-1], "3", "--resume") == 2
    assert sorted(os.listdir(work)) == listing and not out.exists()
    # Without --segment-frames the resume keeps the recorded length (the default would be 100 here).
    assert run_cli(tmp_path / "in", "-o", out, *options[:-2], "--resume") == 0
    whole, resumed = _decoded(tmp_path / "whole.mp4"), _decoded(out)
    assert len(resumed) == len(frames)
    assert all(np.array_equal(a, b) for a, b in zip(whole, resumed, strict=True))


def test_another_segment_length_on_resume_is_one_clear_error(tmp_path, monkeypatch, capsys):
    write_folder(tmp_path / "in", make_frames(7, 10, 8))
    command = [tmp_path / "in", "-o", tmp_path / "out.mkv", "--method", "bicubic"]
    with monkeypatch.context() as patch:
        interrupt_after(patch, BicubicUpscaler, 5)
        assert run_cli(*command, "--segment-frames", "2") == 130
    err = capsys.readouterr().err
    assert "kept 4 of 5 frames in" in err
    assert "; 1 frame(s) of an unfinished segment will be redone by --resume" in err
    assert run_cli(*command, "--segment-frames", "3", "--resume") == 2
    line = error_line(capsys)
    assert "cut segments of 2 frames, not --segment-frames 3" in line and "leave --segment-frames out" in line
    assert run_cli(*command, "--segment-frames", "2", "--resume") == 0
    assert open_source(tmp_path / "out.mkv").num_frames == 7


def test_an_interruption_before_the_first_segment_says_that_nothing_is_kept(tmp_path, monkeypatch, capsys):
    write_folder(tmp_path / "in", make_frames(8, 10, 8))
    interrupt_after(monkeypatch, BicubicUpscaler, 3)
    assert run_cli(tmp_path / "in", "-o", tmp_path / "out.mp4", "--method", "bicubic") == 130
    err = capsys.readouterr().err
    assert "nothing is kept: the 3 frame(s) written make no finished segment of 100 frames" in err, err
    assert sorted(os.listdir(tmp_path)) == ["in"]


def test_a_png_folder_keeps_every_frame_written_and_says_so(tmp_path, monkeypatch, capsys):
    write_folder(tmp_path / "in", make_frames(8, 10, 8))
    interrupt_after(monkeypatch, BicubicUpscaler, 3)
    command = [tmp_path / "in", "-o", tmp_path / "out", "--method", "bicubic", "--segment-frames", "2"]
    assert run_cli(*command) == 130
    err = capsys.readouterr().err
    assert "kept 3 of 3 frames in" in err
    assert "; a PNG folder keeps every frame written, so nothing is redone" in err, err
    assert len(os.listdir(work_folder(tmp_path / "out") / "frames")) == 3
    assert "segment_frames" not in json.loads((work_folder(tmp_path / "out") / "job.json").read_text())


def test_the_default_length_is_recorded_and_follows_the_network_and_the_frame_size(
    tmp_path, tiny_ckpt, monkeypatch, capsys
):
    """A heavier network or larger frames give shorter segments; the same command, the same length."""
    write_folder(tmp_path / "in", make_frames(4, 16, 12))
    expected = default_segment_frames(network_macs(lgfn.load_model(tiny_ckpt).config, (16, 12)), (64, 48))
    with monkeypatch.context() as patch:
        interrupt_after(patch, VideoSuperResolver, 2)
        assert run_cli(tmp_path / "in", "-o", tmp_path / "out.mp4", "--ckpt", tiny_ckpt) == 130
    assert f"video segments of {expected} frames" in capsys.readouterr().err
    assert expected == MAX_SEGMENT_FRAMES  # a tiny network on tiny frames: the longest
    paper = LGFNConfig()
    lengths = [default_segment_frames(network_macs(paper, (w, h)), (4 * w, 4 * h)) for w, h in
               [(180, 144), (320, 180), (640, 360)]]  # fmt: skip
    assert MAX_SEGMENT_FRAMES > lengths[0] > lengths[1] > lengths[2] == MIN_SEGMENT_FRAMES
    # The paper's network at 720x576 (11.3 s a frame in fp32 on a 2-core CPU): about five minutes.
    assert 200 <= lengths[0] * 11.3 <= 400
    assert default_segment_frames(0, (7680, 4320)) == MAX_SEGMENT_FRAMES  # bicubic: no network


def test_macs_per_pixel_is_the_count_of_a_larger_frame_per_pixel():
    config = LGFNConfig(scale=4, num_frames=3, **TINY_MODEL)
    count = count_macs(LGFN.from_config(config), 24, 32)
    per_pixel = (count.conv_total + count.deform + count.sampling) / (24 * 32)
    assert macs_per_pixel(config) == pytest.approx(per_pixel, rel=1e-3)
    assert SEGMENT_MACS / (macs_per_pixel(config) * 24 * 32) > MAX_SEGMENT_FRAMES


def test_the_network_configuration_is_read_from_the_checkpoint_or_onnx_file(tmp_path, tiny_ckpt):
    """Without building the network; a file that cannot be read gives none (loading it then fails)."""
    tiny = LGFNConfig(scale=4, num_frames=3, **TINY_MODEL)
    args = argparse.Namespace(method="lgfn", onnx=None, ckpt=tiny_ckpt)
    assert network_config(args) == tiny
    assert network_config(argparse.Namespace(method="lgfn", onnx=None, ckpt=tmp_path / "missing.pth")) is None
    assert network_config(argparse.Namespace(method="bicubic", onnx=None, ckpt=None)) is None
    onnx = pytest.importorskip("onnx")
    from lgfn.export.metadata import OnnxModelInfo

    info = OnnxModelInfo(config=tiny, layout="frames", dcn="deform_conv", precision="fp32", size=None)
    model = onnx.helper.make_model(onnx.helper.make_graph([], "empty", [], []))
    onnx.helper.set_model_props(model, info.to_props("test", "0"))
    onnx.save(model, str(tmp_path / "tiny.onnx"))
    assert network_config(argparse.Namespace(method="lgfn", onnx=tmp_path / "tiny.onnx", ckpt=None)) == tiny
