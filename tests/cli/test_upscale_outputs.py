"""``lgfn upscale``'s outputs: their names, what --resume takes as finished, links, the scores of
--reference and what a preview reads, number options, and the progress shown."""

from __future__ import annotations

import os
import re
import time

import numpy as np
import pytest

from lgfn import cli
from lgfn.cli.upscale_progress import FrameProgress, duration_text
from lgfn.data.degradations import crop_to_multiple
from lgfn.media import open_source, read_video_frames
from lgfn.media.containers import OUTPUT_CONTAINERS
from lgfn.metrics import calculate_psnr_ssim
from tests.helpers import error_line, make_frames, run_cli, write_folder, write_video_pyav

BICUBIC = ("--method", "bicubic")


# ---------------------------------------------------------------------------------------------
# Names: a video, a folder, or an error


@pytest.mark.parametrize("suffix", [".m4v", ".ts", ".avi"])
def test_a_video_name_makes_a_video(tmp_path, suffix):
    write_folder(tmp_path / "in", make_frames(10, 16, 12))  # a .ts of a few kB is too short to probe
    assert run_cli(tmp_path / "in", "-o", tmp_path / f"out{suffix}", *BICUBIC) == 0
    assert (tmp_path / f"out{suffix}").is_file()
    assert len(read_video_frames(tmp_path / f"out{suffix}")) == 10


@pytest.mark.parametrize("name", ["out.webm", "out.gif", "out.wmv", "out.mpg", "out.MPEG"])
def test_a_video_name_we_do_not_write_is_one_error_line_not_a_folder(tmp_path, capsys, name):
    write_folder(tmp_path / "in", make_frames(2, 10, 8))
    assert run_cli(tmp_path / "in", "-o", tmp_path / name, *BICUBIC) == 2
    assert f"a video output ends in one of {' '.join(OUTPUT_CONTAINERS)}" in error_line(capsys)
    assert sorted(os.listdir(tmp_path)) == ["in"]


def test_a_container_without_the_codec_is_refused_before_any_work_and_several_inputs_get_mkv(
    tmp_path, capsys
):
    write_folder(tmp_path / "in", make_frames(2, 10, 8))
    assert run_cli(tmp_path / "in", "-o", tmp_path / "out.mov", *BICUBIC, "--codec", "ffv1") == 2
    assert ".mov cannot hold --codec ffv1; use one of .mp4 .mkv .avi" in error_line(capsys)
    write_video_pyav(tmp_path / "a.mov", make_frames(2, 10, 8))
    write_video_pyav(tmp_path / "b.avi", make_frames(2, 10, 8))
    inputs = (tmp_path / "a.mov", tmp_path / "b.avi")
    assert run_cli(*inputs, "-o", tmp_path / "out", *BICUBIC, "--codec", "ffv1") == 0
    assert sorted(os.listdir(tmp_path / "out")) == ["a.mkv", "b.avi"]


def test_no_output_lands_inside_an_input(tmp_path, capsys):
    write_folder(tmp_path / "in", make_frames(2, 10, 8))
    before = sorted(os.listdir(tmp_path / "in"))
    assert run_cli(tmp_path / "in", "-o", tmp_path / "in" / "x4", *BICUBIC) == 2
    assert "is inside INPUT" in error_line(capsys)
    write_folder(tmp_path / "other", make_frames(2, 10, 8))
    assert run_cli(tmp_path / "other", tmp_path / "in", "-o", tmp_path / "in" / "all", *BICUBIC) == 2
    assert "is inside INPUT" in error_line(capsys)
    assert sorted(os.listdir(tmp_path / "in")) == before and sorted(os.listdir(tmp_path)) == ["in", "other"]


def test_a_work_folder_that_is_a_link_is_one_error_line_and_nothing_is_written_through_it(tmp_path, capsys):
    write_folder(tmp_path / "in", make_frames(2, 10, 8))
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "lock").write_text("someone's file")
    (tmp_path / ".x.mp4.partial").symlink_to(tmp_path / "elsewhere")
    for flags in ((), ("--resume",), ("--overwrite",)):
        assert run_cli(tmp_path / "in", "-o", tmp_path / "x.mp4", *BICUBIC, *flags) == 2
        assert ".x.mp4.partial, where its unfinished work is kept, is a symbolic link" in error_line(capsys)
    assert os.listdir(tmp_path / "elsewhere") == ["lock"]
    assert (tmp_path / "elsewhere" / "lock").read_text() == "someone's file"


# ---------------------------------------------------------------------------------------------
# --resume and an existing output


@pytest.mark.parametrize("name", ["out", "out.mp4"])
def test_resume_takes_an_output_as_finished_only_when_this_job_made_it(tmp_path, capsys, name):
    write_folder(tmp_path / "a", make_frames(3, 10, 8))
    write_folder(tmp_path / "b", make_frames(4, 10, 8, seed=1))
    assert run_cli(tmp_path / "a", "-o", tmp_path / name, *BICUBIC) == 0
    capsys.readouterr()
    assert run_cli(tmp_path / "a", "-o", tmp_path / name, *BICUBIC, "--resume") == 0
    assert "nothing to resume" in capsys.readouterr().err
    for other in (("b",), ("a", "--scale", "2")):  # another input; other settings
        assert run_cli(tmp_path / other[0], "-o", tmp_path / name, *BICUBIC, *other[1:], "--resume") == 2
        assert "exists but was made from another input or with other settings" in error_line(capsys)
    assert len(read_video_frames(tmp_path / name)) == 3  # untouched


def test_resume_does_not_take_a_file_of_another_kind_as_finished(tmp_path, capsys):
    write_folder(tmp_path / "in", make_frames(2, 10, 8))
    (tmp_path / "out.mp4").write_text("notes")
    assert run_cli(tmp_path / "in", "-o", tmp_path / "out.mp4", *BICUBIC, "--resume") == 2
    assert "holds no record of an lgfn upscale run" in error_line(capsys)
    assert (tmp_path / "out.mp4").read_text() == "notes"


# ---------------------------------------------------------------------------------------------
# --reference and --max-frames


def test_reference_scores_the_video_as_written(tmp_path, capsys):
    frames = make_frames(4, 26, 18)
    write_folder(tmp_path / "gt", frames)
    assert run_cli(tmp_path / "gt", "-o", tmp_path / "out.mp4", *BICUBIC, "--reference", "--crf", "40") == 0
    # Independently: the decoded video (lossy at --crf 40) against the cropped ground truth.
    scores = [
        calculate_psnr_ssim(got, crop_to_multiple(f, 4))
        for got, f in zip(read_video_frames(tmp_path / "out.mp4"), frames, strict=True)
    ]
    psnr, ssim = np.mean(scores, axis=0)
    err = capsys.readouterr().err
    assert f"4 frames of {tmp_path / 'out.mp4'} as written): PSNR {psnr:.2f} dB, SSIM {ssim:.4f}" in err


def test_reference_on_frames_smaller_than_the_scale_is_one_error_line(tmp_path, capsys):
    write_folder(tmp_path / "in", make_frames(2, 3, 8))
    assert run_cli(tmp_path / "in", "-o", tmp_path / "out", *BICUBIC, "--reference") == 2
    assert "--reference: the frames are 3x8, smaller than the scale x4" in error_line(capsys)
    assert sorted(os.listdir(tmp_path)) == ["in"]


def test_a_preview_of_a_long_clip_gives_no_short_clip_warning(tmp_path, capsys):
    write_folder(tmp_path / "in", make_frames(9, 10, 8))
    assert run_cli(tmp_path / "in", "-o", tmp_path / "out", *BICUBIC, "--max-frames", "2") == 0
    assert "fewer than the model's" not in capsys.readouterr().err  # bicubic: a 1-frame window
    # (the LGFN case, a 5-frame window, is in test_upscale.py: its frames equal the whole run's)


# ---------------------------------------------------------------------------------------------
# Numbers: bounded before any arithmetic, one line each


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (("--start", "1e999999999s"), "--start '1e999999999s': expected a frame number"),
        (("--start", "1e999999999"), "--start '1e999999999': expected a frame number"),
        (("--fps", "1e999999999"), "frame rate must be a positive number"),
        (("--fps", "1e6"), "frame rate 1e6 is out of range"),
        (("--fps", "1/100000"), "frame rate 1/100000 is out of range"),
    ],
)
def test_unbounded_or_out_of_range_numbers_are_one_error_line_at_once(tmp_path, capsys, option, message):
    write_folder(tmp_path / "in", make_frames(2, 10, 8))
    began = time.perf_counter()
    assert run_cli(tmp_path / "in", "-o", tmp_path / "out.mp4", *BICUBIC, *option) == 2
    assert message in error_line(capsys) and time.perf_counter() - began < 30
    assert sorted(os.listdir(tmp_path)) == ["in"]


# ---------------------------------------------------------------------------------------------
# Progress: counts and the time left


def test_the_time_left_is_measured_after_the_first_frame(caplog):
    caplog.set_level("INFO")
    # The first frame takes 30 s (warm-up, the first window's reads), each later one 3 s.
    clock = iter([0.0, 30.0, *(30.0 + 3 * k for k in range(1, 40))])
    with FrameProgress(total=50, done=10, disable=True, clock=lambda: next(clock)) as progress:
        for _ in range(12):
            progress()
    assert "first frame in 30.0 s" in caplog.text
    found = re.search(
        r"about (\d+) s left for (\d+) more frames \(3 s/frame, measured over 10 frames", caplog.text
    )
    assert found and int(found[2]) == 50 - 10 - 11 and int(found[1]) == 3 * int(found[2])
    assert duration_text(7200 * 1.5) == "3.0 h" and duration_text(600) == "10 min"


def test_the_bar_counts_the_frames_of_the_whole_output(tmp_path, capsys):
    write_folder(tmp_path / "in", make_frames(7, 10, 8))
    argv = ["upscale", str(tmp_path / "in"), "-o", str(tmp_path / "out"), *BICUBIC, "--start", "2"]
    assert cli.main([*argv, "--max-frames", "4"]) == 0
    bar = capsys.readouterr().err.replace("\r", "\n")
    assert re.search(r"upscale: 100%\|.*\| 4/4 \[", bar) and " 5/4 " not in bar
    assert open_source(tmp_path / "out").num_frames == 4


def test_progress_of_a_resumed_run_starts_at_the_finished_frames():
    with FrameProgress(total=9, done=4, disable=False) as progress:
        assert (progress.bar.n, progress.bar.total) == (4, 9)
        for _ in range(5):
            progress()
        assert progress.bar.n == 9 and progress.written == 5


def test_progress_counts_the_frames_of_every_process_when_rank_0_learns_of_them():
    with FrameProgress(total=20, done=4, disable=False) as progress:
        progress.advance_to(6)  # rank 0's frame brought the count of all processes to 6
        assert progress.bar.n == 10 and progress.written == 6
        progress.advance_to(3)  # an older count changes nothing
        assert progress.bar.n == 10
        progress.advance_to(16)
        assert progress.bar.n == 20 and progress.written == 16
