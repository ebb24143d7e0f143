"""``lgfn upscale``: real videos and frame folders in, the right frames out, clean failures."""

from __future__ import annotations

import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch

import lgfn
from lgfn import cli
from lgfn.cli import options
from lgfn.data.degradations import bi_degrade, bicubic_upscale, crop_to_multiple
from lgfn.inference import BicubicUpscaler, VideoSuperResolver
from lgfn.media import open_source, read_video_frames
from lgfn.metrics import calculate_psnr_ssim
from lgfn.models import LGFN
from tests.helpers import (
    NTSC_FILM,
    REPO,
    TINY_MODEL,
    beep_time,
    close_to,
    error_line,
    interrupt_after,
    make_frames,
    read_cues,
    run_cli,
    write_folder,
    write_video_pyav,
    write_video_with_audio,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory) -> Path:
    """A tiny x4 LGFN with a 5-frame window, saved as a project checkpoint (the other command-line
    tests share the 3-frame one of ``tests/cli/conftest.py``)."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pth"
    lgfn.save_checkpoint(path, LGFN(scale=4, num_frames=5, **TINY_MODEL))
    return path


# ---------------------------------------------------------------------------------------------
# What comes out


def test_video_to_video_with_lgfn(tmp_path, tiny_ckpt):
    write_video_pyav(tmp_path / "in.mp4", make_frames(8, 16, 12), fps=NTSC_FILM)
    assert (
        run_cli(tmp_path / "in.mp4", "-o", tmp_path / "out.mkv", "--ckpt", tiny_ckpt, "--device", "cpu") == 0
    )
    out = open_source(tmp_path / "out.mkv")
    assert out.fps == NTSC_FILM  # the input's exact rate
    assert out.size == (64, 48)
    assert len(list(out)) == 8
    assert sorted(os.listdir(tmp_path)) == ["in.mp4", "out.mkv"]  # no temporary files left


def test_folder_to_folder_matches_the_resolver_on_the_whole_clip(tmp_path, tiny_ckpt, capsys):
    frames = make_frames(7, 16, 12)
    write_folder(tmp_path / "in", frames)
    assert run_cli(tmp_path / "in", "-o", tmp_path / "out", "--ckpt", tiny_ckpt, "--batch", "2") == 0
    got = read_video_frames(tmp_path / "out")
    # Independently: the resolver on the whole clip held in memory, one window per pass.
    resolver = VideoSuperResolver(lgfn.load_model(tiny_ckpt), batch=1)
    expected = [sr for _, sr in resolver.upscale_clip(frames)]
    assert len(got) == 7
    for a, b in zip(got, expected, strict=True):
        assert a.shape == (48, 64, 3)
        assert np.abs(a.astype(np.int16) - b).max() <= 1  # batching may change the last float bit
    err = capsys.readouterr().err
    assert "upscaled 7 frames 16x12 -> 64x48" in err and "frames/s" in err and "peak RSS" in err


def test_plain_reference_path_gives_the_default_paths_frames(tmp_path, tiny_ckpt):
    frames = make_frames(6, 16, 12)
    write_folder(tmp_path / "in", frames)
    assert run_cli(tmp_path / "in", "-o", tmp_path / "fast", "--ckpt", tiny_ckpt) == 0
    assert run_cli(tmp_path / "in", "-o", tmp_path / "plain", "--ckpt", tiny_ckpt, "--plain") == 0
    fast, plain = read_video_frames(tmp_path / "fast"), read_video_frames(tmp_path / "plain")
    assert len(fast) == len(plain) == 6
    for a, b in zip(fast, plain, strict=True):
        assert np.abs(a.astype(np.int16) - b).max() <= 1


def test_self_ensemble_gives_the_resolvers_frames_and_a_resumed_run_must_repeat_it(
    tmp_path, tiny_ckpt, monkeypatch, capsys
):
    frames = make_frames(5, 16, 12)
    write_folder(tmp_path / "in", frames)
    command = [tmp_path / "in", "-o", tmp_path / "out", "--ckpt", tiny_ckpt, "--precision", "fp32"]
    assert run_cli(*command, "--self-ensemble") == 0
    assert_resolver_frames(
        tmp_path / "out", frames, VideoSuperResolver(lgfn.load_model(tiny_ckpt), self_ensemble=True)
    )
    resume = _interrupted(tmp_path, tiny_ckpt, monkeypatch)
    assert run_cli(*resume, "--self-ensemble") == 2
    assert "self_ensemble: None then, True now" in error_line(capsys)
    assert run_cli(*resume) == 0


def test_precision_auto_runs_bf16_on_native_hardware_and_resume_keeps_it(
    tmp_path, tiny_ckpt, monkeypatch, capsys
):
    monkeypatch.setattr(lgfn.devices, "native_bf16", lambda device: True)
    frames = make_frames(4, 16, 12)
    write_folder(tmp_path / "in", frames)
    assert run_cli(tmp_path / "in", "-o", tmp_path / "out", "--ckpt", tiny_ckpt) == 0
    assert "on cpu, bf16" in capsys.readouterr().err
    assert_resolver_frames(
        tmp_path / "out", frames, VideoSuperResolver(lgfn.load_model(tiny_ckpt), precision="bf16")
    )
    # The job records the precision auto chose: a resume that would run another one is refused.
    resume = _interrupted(tmp_path, tiny_ckpt, monkeypatch)
    assert run_cli(*resume, "--precision", "fp32") == 2
    assert "precision: 'bf16' then, 'fp32' now" in error_line(capsys)
    assert run_cli(*resume) == 0


def assert_resolver_frames(folder: Path, frames: list[np.ndarray], resolver: VideoSuperResolver) -> None:
    """The frames in ``folder`` are exactly what ``resolver`` makes of ``frames``."""
    expected = [sr for _, sr in resolver.upscale_clip(frames)]
    for a, b in zip(read_video_frames(folder), expected, strict=True):
        np.testing.assert_array_equal(a, b)


def _interrupted(tmp_path: Path, ckpt: Path, monkeypatch) -> list:
    """Upscale ``tmp_path/in`` into ``tmp_path/part`` with the command's defaults, stopped by Ctrl-C
    after two frames; returns the command line that resumes it."""
    with monkeypatch.context() as patch:
        interrupt_after(patch, VideoSuperResolver, 2)
        assert run_cli(tmp_path / "in", "-o", tmp_path / "part", "--ckpt", ckpt) == 130
    return [tmp_path / "in", "-o", tmp_path / "part", "--ckpt", ckpt, "--resume"]


def test_folder_to_video_uses_default_or_given_fps(tmp_path):
    write_folder(tmp_path / "in", make_frames(5, 10, 8))
    assert run_cli(tmp_path / "in", "-o", tmp_path / "a.mp4", "--method", "bicubic") == 0
    assert (
        run_cli(tmp_path / "in", "-o", tmp_path / "b.mp4", "--method", "bicubic", "--fps", "30000/1001") == 0
    )
    a, b = open_source(tmp_path / "a.mp4"), open_source(tmp_path / "b.mp4")
    assert (a.fps, b.fps) == (Fraction(25), Fraction(30000, 1001))
    assert a.size == (40, 32) and len(list(a)) == 5


def test_max_frames_and_bicubic_scale(tmp_path):
    frames = make_frames(9, 10, 8)
    write_folder(tmp_path / "in", frames)
    assert (
        run_cli(
            tmp_path / "in",
            "-o",
            tmp_path / "out",
            "--method",
            "bicubic",
            "--scale",
            "2",
            "--max-frames",
            "4",
        )
        == 0
    )
    got = read_video_frames(tmp_path / "out")
    assert len(got) == 4
    assert all(np.array_equal(g, bicubic_upscale(f, 2)) for g, f in zip(got, frames, strict=False))


def test_start_gives_the_whole_runs_frames_from_there(tmp_path, tiny_ckpt, capsys):
    write_folder(tmp_path / "in", make_frames(9, 16, 12))
    options = ["--ckpt", tiny_ckpt, "--batch", "2", "--precision", "fp32"]
    assert run_cli(tmp_path / "in", "-o", tmp_path / "whole", *options) == 0
    assert run_cli(tmp_path / "in", "-o", tmp_path / "part", *options, "--start", "3") == 0
    whole, part = read_video_frames(tmp_path / "whole"), read_video_frames(tmp_path / "part")
    assert len(part) == 6
    for a, b in zip(part, whole[3:], strict=True):
        np.testing.assert_array_equal(a, b)  # frames 1 and 2 were context, as in the whole run
    # With --max-frames too: its last windows read the frames after it, as in the whole run.
    short = ["--start", "3", "--max-frames", "3"]
    assert run_cli(tmp_path / "in", "-o", tmp_path / "short", *options, *short) == 0
    got = read_video_frames(tmp_path / "short")
    assert len(got) == 3
    for a, b in zip(got, whole[3:6], strict=True):
        np.testing.assert_array_equal(a, b)
    capsys.readouterr()
    assert run_cli(tmp_path / "in", "-o", tmp_path / "first", *options, "--max-frames", "2") == 0
    assert "fewer than the model's 5-frame window" not in capsys.readouterr().err  # the clip has 9
    for a, b in zip(read_video_frames(tmp_path / "first"), whole[:2], strict=True):
        assert np.abs(a.astype(np.int16) - b).max() <= 1  # features extracted in other batches: last bit


@pytest.mark.parametrize(("start", "first"), [("5", 5), ("0.2s", 5), ("0:00.2", 5), ("0:00:00.23", 5)])
def test_start_as_frame_or_time(tmp_path, start, first):
    frames = make_frames(8, 10, 8)
    write_folder(tmp_path / "in", frames)  # 25 frames per second
    assert run_cli(tmp_path / "in", "-o", tmp_path / "out", "--method", "bicubic", "--start", start) == 0
    got = read_video_frames(tmp_path / "out")
    assert len(got) == 8 - first
    assert all(np.array_equal(g, bicubic_upscale(f, 4)) for g, f in zip(got, frames[first:], strict=True))


def test_start_moves_the_sound_with_the_picture(tmp_path):
    write_video_with_audio(tmp_path / "in.mov", "pcm_s16le")  # flash and beep at frame 5 (input 1.0 s)
    assert (
        run_cli(tmp_path / "in.mov", "-o", tmp_path / "out.mp4", "--method", "bicubic", "--start", "3") == 0
    )
    frames = read_video_frames(tmp_path / "out.mp4")
    assert len(frames) == 17 and np.argmax([frame.mean() for frame in frames]) == 2
    assert beep_time(tmp_path / "out.mp4") == pytest.approx(0.2, abs=1e-3)


@pytest.mark.parametrize(
    ("start", "message"),
    [("9", "is frame 9, but"), ("1:x", "expected a frame number"), ("-2", "before the first frame")],
)
def test_bad_start(tmp_path, capsys, start, message):
    write_folder(tmp_path / "in", make_frames(9, 10, 8))
    assert run_cli(tmp_path / "in", "-o", tmp_path / "out", "--method", "bicubic", "--start", start) == 2
    assert message in error_line(capsys)
    assert sorted(os.listdir(tmp_path)) == ["in"]


def test_several_inputs_go_into_one_folder_under_their_names(tmp_path, tiny_ckpt, monkeypatch, capsys):
    write_video_pyav(tmp_path / "a.mp4", make_frames(6, 16, 12))
    write_video_pyav(tmp_path / "b.webm.mp4", make_frames(5, 16, 12))  # a name with two dots
    write_folder(tmp_path / "shots", make_frames(4, 16, 12))
    loads = []
    real_load = lgfn.load_model
    monkeypatch.setattr(lgfn, "load_model", lambda *a, **k: loads.append(a) or real_load(*a, **k))
    inputs = [tmp_path / "a.mp4", tmp_path / "b.webm.mp4", tmp_path / "shots"]
    assert run_cli(*inputs, "-o", tmp_path / "out", "--ckpt", tiny_ckpt) == 0
    assert len(loads) == 1  # the model is loaded once for all inputs
    assert sorted(os.listdir(tmp_path / "out")) == ["a.mp4", "b.webm.mp4", "shots"]
    assert [len(read_video_frames(tmp_path / "out" / n)) for n in ("a.mp4", "b.webm.mp4", "shots")] == [
        6,
        5,
        4,
    ]

    # Run again with --resume: every output is complete, nothing is redone.
    capsys.readouterr()
    assert run_cli(*inputs, "-o", tmp_path / "out", "--ckpt", tiny_ckpt, "--resume") == 0
    assert capsys.readouterr().err.count("with these settings): nothing to resume") == 3 and len(loads) == 1


def test_several_inputs_one_unreadable(tmp_path, capsys):
    write_folder(tmp_path / "good", make_frames(3, 10, 8))
    (tmp_path / "bad.mp4").write_bytes(b"not a video")
    write_folder(tmp_path / "also_good", make_frames(3, 10, 8))
    inputs = [tmp_path / "good", tmp_path / "bad.mp4", tmp_path / "also_good"]
    assert run_cli(*inputs, "-o", tmp_path / "out", "--method", "bicubic") == 2
    err = capsys.readouterr().err
    assert "bad.mp4: not a readable video file" in err and "going on with the next input" in err
    assert err.strip().splitlines()[-1].startswith("error: 1 of 3 inputs could not be upscaled")
    assert sorted(os.listdir(tmp_path / "out")) == ["also_good", "good"]


@pytest.mark.parametrize(
    ("names", "output", "message"),
    [
        (["a/clip.mp4", "b/clip.mp4"], "out", "to the same name in"),
        (["a/clip.mp4", "b/other.mp4"], "out.mp4", "OUTPUT is a folder"),
    ],
)
def test_several_inputs_bad_outputs(tmp_path, capsys, names, output, message):
    for name in names:
        (tmp_path / name).parent.mkdir(exist_ok=True)
        write_video_pyav(tmp_path / name, make_frames(2, 10, 8))
    assert run_cli(*(tmp_path / n for n in names), "-o", tmp_path / output, "--method", "bicubic") == 2
    assert message in error_line(capsys)
    assert not (tmp_path / output).exists()


def test_lossless_video_output_is_the_upscaler_exactly(tmp_path):
    frames = make_frames(4, 11, 9)  # odd sizes: FFV1 needs no padding
    write_folder(tmp_path / "in", frames)
    assert run_cli(tmp_path / "in", "-o", tmp_path / "out.mkv", "--method", "bicubic", "--codec", "ffv1") == 0
    got = read_video_frames(tmp_path / "out.mkv")
    assert all(np.array_equal(g, bicubic_upscale(f, 4)) for g, f in zip(got, frames, strict=True))


def test_reference_mode_scores_against_the_input(tmp_path, capsys):
    frames = make_frames(3, 26, 18)  # not multiples of 4: cropped to 24x16 before degrading
    write_folder(tmp_path / "gt", frames)
    assert run_cli(tmp_path / "gt", "-o", tmp_path / "out", "--method", "bicubic", "--reference") == 0
    got = read_video_frames(tmp_path / "out")
    scores = []
    for g, f in zip(got, frames, strict=True):
        gt = crop_to_multiple(f, 4)
        assert np.array_equal(g, bicubic_upscale(bi_degrade(f, 4), 4))
        scores.append(calculate_psnr_ssim(g, gt))
    psnr, ssim = np.mean(scores, axis=0)
    assert f"PSNR {psnr:.2f} dB, SSIM {ssim:.4f}" in capsys.readouterr().err


def test_clip_shorter_than_the_window_is_upscaled_with_a_warning(tmp_path, tiny_ckpt, capsys):
    write_folder(tmp_path / "in", make_frames(2, 16, 12))
    assert run_cli(tmp_path / "in", "-o", tmp_path / "out", "--ckpt", tiny_ckpt) == 0
    assert len(read_video_frames(tmp_path / "out")) == 2
    assert "fewer than the model's 5-frame window" in capsys.readouterr().err


def audio_codecs(path: Path) -> list[str]:
    with av.open(str(path)) as container:
        return [stream.codec_context.name for stream in container.streams.audio]


def test_audio_is_carried_unless_no_audio_or_retimed(tmp_path, capsys):
    write_video_with_audio(tmp_path / "in.mov", "pcm_s16le")
    assert (
        run_cli(tmp_path / "in.mov", "-o", tmp_path / "a.mp4", "--method", "bicubic", "--max-frames", "6")
        == 0
    )
    assert "carried: audio pcm_s16le copied" in capsys.readouterr().err
    assert audio_codecs(tmp_path / "a.mp4") == ["pcm_s16le"]
    assert beep_time(tmp_path / "a.mp4") == pytest.approx(0.5, abs=1e-3)  # in step with the flash frame
    assert np.argmax([frame.mean() for frame in read_video_frames(tmp_path / "a.mp4")]) == 5

    assert run_cli(tmp_path / "in.mov", "-o", tmp_path / "b.mp4", "--method", "bicubic", "--no-audio") == 0
    assert audio_codecs(tmp_path / "b.mp4") == []
    capsys.readouterr()
    assert run_cli(tmp_path / "in.mov", "-o", tmp_path / "c.mp4", "--method", "bicubic", "--fps", "25") == 0
    assert "audio and subtitles are not written: --fps 25 retimes the video" in capsys.readouterr().err
    assert audio_codecs(tmp_path / "c.mp4") == []
    assert open_source(tmp_path / "c.mp4").fps == 25


def test_subtitles_follow_start_and_no_subtitles(tmp_path):
    write_video_with_audio(tmp_path / "in.mkv", "pcm_s16le", subtitle=True)  # cue at the flash, frame 5
    assert run_cli(tmp_path / "in.mkv", "-o", tmp_path / "a.mkv", "--method", "bicubic", "--start", "3") == 0
    assert read_cues(tmp_path / "a.mkv") == [(0.2, 0.4, b"beep")]
    # From frame 7 (input 1.2 s) the cue, shown 1.0-1.4 s, has 0.2 s left: it opens the output.
    assert run_cli(tmp_path / "in.mkv", "-o", tmp_path / "c.mkv", "--method", "bicubic", "--start", "7") == 0
    assert read_cues(tmp_path / "c.mkv") == [(0.0, 0.2, b"beep")]
    assert (
        run_cli(tmp_path / "in.mkv", "-o", tmp_path / "b.mkv", "--method", "bicubic", "--no-subtitles") == 0
    )
    assert read_cues(tmp_path / "b.mkv") == [] and audio_codecs(tmp_path / "b.mkv") == ["pcm_s16le"]


def test_non_square_pixels_keep_their_shape(tmp_path, capsys):
    """DVD-style 16:9 video: 720x480-like frames of 32:27 pixels; the output records the same shape."""
    with av.open(str(tmp_path / "dvd.mkv"), mode="w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 24, 16, "yuv420p"
        stream.codec_context.sample_aspect_ratio = Fraction(32, 27)
        for frame in make_frames(3, 24, 16):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))
    assert open_source(tmp_path / "dvd.mkv").sample_aspect_ratio == Fraction(32, 27)
    assert run_cli(tmp_path / "dvd.mkv", "-o", tmp_path / "out.mp4", "--method", "bicubic") == 0
    out = open_source(tmp_path / "out.mp4")
    assert out.size == (96, 64) and out.sample_aspect_ratio == Fraction(32, 27)
    assert run_cli(tmp_path / "dvd.mkv", "-o", tmp_path / "frames", "--method", "bicubic") == 0
    assert (
        "pixels are not square (32/27 wide to 1 high) and PNG frames cannot say so" in capsys.readouterr().err
    )
    write_video_pyav(tmp_path / "square.mp4", make_frames(2))
    assert open_source(tmp_path / "square.mp4").sample_aspect_ratio is None


def test_odd_output_size_is_padded_in_video_kept_in_folder(tmp_path, capsys):
    write_folder(tmp_path / "in", make_frames(2, 11, 9))
    assert run_cli(tmp_path / "in", "-o", tmp_path / "v.mp4", "--method", "bicubic", "--scale", "3") == 0
    assert "padded to 34x28" in capsys.readouterr().err
    assert open_source(tmp_path / "v.mp4").size == (34, 28)
    assert run_cli(tmp_path / "in", "-o", tmp_path / "f", "--method", "bicubic", "--scale", "3") == 0
    assert open_source(tmp_path / "f").size == (33, 27)


# ---------------------------------------------------------------------------------------------
# Failures: one line, exit status 2 (130 for Ctrl-C), no output


def test_missing_corrupt_and_empty_inputs(tmp_path, capsys):
    out = tmp_path / "out.mp4"
    assert run_cli(tmp_path / "absent.mp4", "-o", out, "--method", "bicubic") == 2
    assert "input not found" in error_line(capsys)
    (tmp_path / "bad.mp4").write_bytes(b"not a video")
    assert run_cli(tmp_path / "bad.mp4", "-o", out, "--method", "bicubic") == 2
    assert "bad.mp4: not a readable video file" in error_line(capsys)
    (tmp_path / "empty").mkdir()
    assert run_cli(tmp_path / "empty", "-o", out, "--method", "bicubic") == 2
    assert "no frames in" in error_line(capsys)
    assert sorted(os.listdir(tmp_path)) == ["bad.mp4", "empty"]


def test_frame_breaking_part_way_leaves_no_output(tmp_path, capsys):
    write_folder(tmp_path / "in", make_frames(6, 10, 8))
    bad = tmp_path / "in" / "00000004.png"
    bad.write_bytes(bad.read_bytes()[:60])
    assert run_cli(tmp_path / "in", "-o", tmp_path / "out.mp4", "--method", "bicubic") == 2
    assert "00000004.png" in error_line(capsys)
    assert sorted(os.listdir(tmp_path)) == ["in"]


def test_ctrl_c_part_way_exits_130_and_leaves_no_output(tmp_path, monkeypatch, capsys):
    write_folder(tmp_path / "in", make_frames(8, 10, 8))
    interrupt_after(monkeypatch, BicubicUpscaler, 3)
    assert run_cli(tmp_path / "in", "-o", tmp_path / "out.mp4", "--method", "bicubic") == 130
    assert "interrupted" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["in"]  # 3 frames: no whole segment of video to keep


def test_interrupted_run_resumes_to_the_uninterrupted_frames(tmp_path, tiny_ckpt, monkeypatch, capsys):
    frames = make_frames(9, 16, 12)
    write_folder(tmp_path / "in", frames)
    options = ["--ckpt", tiny_ckpt, "--batch", "2", "--precision", "fp32"]
    assert run_cli(tmp_path / "in", "-o", tmp_path / "whole", *options) == 0

    with monkeypatch.context() as patch:
        interrupt_after(patch, VideoSuperResolver, 4)
        assert run_cli(tmp_path / "in", "-o", tmp_path / "out", *options) == 130
    assert "the same command with --resume continues from frame 4" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == [".out.partial", "in", "whole"]

    assert run_cli(tmp_path / "in", "-o", tmp_path / "out", *options) == 2
    assert "an interrupted run left 4 finished frame(s)" in error_line(capsys)
    assert run_cli(tmp_path / "in", "-o", tmp_path / "out", *options, "--precision", "bf16", "--resume") == 2
    assert "precision: 'fp32' then, 'bf16' now" in error_line(capsys)

    assert run_cli(tmp_path / "in", "-o", tmp_path / "out", *options, "--resume") == 0
    assert (
        "upscaled 5 frames (from output frame 4; earlier ones by an interrupted run)"
        in capsys.readouterr().err
    )
    assert sorted(os.listdir(tmp_path)) == ["in", "out", "whole"]
    whole, resumed = read_video_frames(tmp_path / "whole"), read_video_frames(tmp_path / "out")
    assert len(resumed) == 9
    for a, b in zip(resumed, whole, strict=True):
        np.testing.assert_array_equal(a, b)  # windows across the break had their real neighbours


def test_resumed_video_output(tmp_path, monkeypatch, capsys):
    frames = make_frames(7, 10, 8)
    write_folder(tmp_path / "in", frames)
    command = [tmp_path / "in", "-o", tmp_path / "out.mkv", "--method", "bicubic"]
    with monkeypatch.context() as patch:
        interrupt_after(patch, BicubicUpscaler, 5)
        assert run_cli(*command, "--segment-frames", "2") == 130
    assert "continues from frame 4" in capsys.readouterr().err
    assert run_cli(*command, "--resume") == 0
    got = read_video_frames(tmp_path / "out.mkv")
    assert len(got) == 7
    assert all(close_to(g, bicubic_upscale(f, 4), 2.0) for g, f in zip(got, frames, strict=True))
    assert sorted(os.listdir(tmp_path)) == ["in", "out.mkv"]


def test_existing_output_refused_unless_overwrite(tmp_path, capsys):
    write_folder(tmp_path / "in", make_frames(3, 10, 8))
    (tmp_path / "out.mp4").write_bytes(b"precious")
    assert run_cli(tmp_path / "in", "-o", tmp_path / "out.mp4", "--method", "bicubic") == 2
    assert "already exists; pass --overwrite" in error_line(capsys)
    assert (tmp_path / "out.mp4").read_bytes() == b"precious"
    assert run_cli(tmp_path / "in", "-o", tmp_path / "out.mp4", "--method", "bicubic", "--overwrite") == 0
    assert len(read_video_frames(tmp_path / "out.mp4")) == 3
    assert sorted(os.listdir(tmp_path)) == ["in", "out.mp4"]


@pytest.mark.parametrize(
    "options, message",
    [
        (["--batch", "0"], "argument --batch: must be >= 1, got 0"),
        (["--crf", "60"], "argument --crf: must be between 0 and 51"),
        (["--tile", "-1"], "argument --tile: must be >= 0"),
        (["--precision", "fp8"], "argument --precision: invalid choice"),
        (["--padding", "zeros"], "argument --padding: invalid choice"),
        (["--fps", "fast"], "frame rate must be a positive number"),
        (["--device", "tpu"], "--device 'tpu': expected auto, cpu, cuda or cuda:N"),
        (["--tile", "8", "--tile-overlap", "8"], "--tile-overlap (8) must be smaller than --tile (8)"),
        (["--precision", "fp16", "--device", "cpu"], "fp16 needs a CUDA device"),
        (["--scale", "2"], "--scale 2 does not match the checkpoint"),
        (["--ckpt", "nowhere.pth"], "checkpoint nowhere.pth does not exist"),
    ],
)
def test_bad_option_values(tmp_path, tiny_ckpt, capsys, options, message):
    write_folder(tmp_path / "in", make_frames(2, 10, 8))
    assert run_cli(tmp_path / "in", "-o", tmp_path / "out", "--ckpt", tiny_ckpt, *options) == 2
    assert message in error_line(capsys)
    assert sorted(os.listdir(tmp_path)) == ["in"]


def test_output_under_a_file_and_checkpoint_that_is_a_folder(tmp_path, capsys):
    write_folder(tmp_path / "in", make_frames(3, 10, 8))
    (tmp_path / "afile").write_text("not a folder")
    assert run_cli(tmp_path / "in", "-o", tmp_path / "afile" / "out.mp4", "--method", "bicubic") == 2
    assert f"cannot make the folder {tmp_path / 'afile'} for the output" in error_line(capsys)
    assert run_cli(tmp_path / "in", "-o", tmp_path / "out.mp4", "--ckpt", tmp_path) == 2
    assert f"checkpoint {tmp_path} is a folder, not a file" in error_line(capsys)
    assert sorted(os.listdir(tmp_path)) == ["afile", "in"]


def test_an_output_that_would_replace_the_input_or_the_current_folder_is_refused(
    tmp_path, monkeypatch, capsys
):
    write_folder(tmp_path / "sub" / "in", make_frames(3, 10, 8))
    before = sorted(os.listdir(tmp_path / "sub" / "in"))
    for output in (tmp_path / "sub", tmp_path):
        assert run_cli(tmp_path / "sub" / "in", "-o", output, "--method", "bicubic", "--overwrite") == 2
        assert "holds INPUT" in error_line(capsys)
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    for output in (".", tmp_path / "work"):
        assert run_cli(tmp_path / "sub" / "in", "-o", output, "--method", "bicubic", "--overwrite") == 2
        assert "is the current folder or holds it" in error_line(capsys)
    assert sorted(os.listdir(tmp_path / "sub" / "in")) == before  # the input is untouched
    assert sorted(os.listdir(tmp_path)) == ["sub", "work"] and os.listdir(tmp_path / "work") == []


def test_output_equal_to_input_and_missing_default_checkpoint(tmp_path, monkeypatch, capsys):
    write_folder(tmp_path / "in", make_frames(2, 10, 8))
    assert run_cli(tmp_path / "in", "-o", tmp_path / "in", "--method", "bicubic", "--overwrite") == 2
    assert "is INPUT" in error_line(capsys)
    monkeypatch.setattr(options, "DEFAULT_CHECKPOINT", tmp_path / "no_such.pth")
    assert run_cli(tmp_path / "in", "-o", tmp_path / "out") == 2
    assert "pass --ckpt PATH" in error_line(capsys) and len(os.listdir(tmp_path)) == 1


def test_default_checkpoint_is_looked_up_in_the_checkout():
    assert options.default_checkpoint() == REPO / "checkpoints" / "lgfn_x4_demo.pth"


def test_python_dash_m_help_and_version():
    done = subprocess.run(
        [sys.executable, "-m", "lgfn", "upscale", "--help"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: lgfn upscale") and "--tile-overlap" in done.stdout
    assert cli.main(["--version"]) == 0
