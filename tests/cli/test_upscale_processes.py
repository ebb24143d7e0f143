"""``torchrun -m lgfn upscale``: Gloo processes of this machine share an output and write what one
process writes; an interrupted run continues with another number of processes; a failure in one
process ends every process with one line."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from lgfn.cli.upscale_processes import wait_for_pieces
from lgfn.errors import InputDataError
from lgfn.inference import VideoSuperResolver
from lgfn.media import open_sink, open_source
from lgfn.media.segments import all_segments
from tests.helpers import (
    REPO,
    interrupt_after,
    make_frames,
    run_cli,
    stop_with_sigterm,
    torch_threads,
    torchrun,
    write_folder,
    write_video_pyav,
)


def upscale_command(processes: int, *argv: str | Path) -> tuple[list[str], dict[str, str]]:
    """``lgfn upscale argv`` under torchrun with ``processes`` Gloo processes, one thread each; ``--``
    keeps torchrun's own options from taking the command's (``--start`` would be ``--start-method``)."""
    launcher, env = torchrun(processes)
    return [*launcher, "-m", "lgfn", "--", "upscale", *map(str, argv), "--no-progress"], env


def upscale_with(processes: int, *argv: str | Path) -> subprocess.CompletedProcess:
    command, env = upscale_command(processes, *argv)
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def one_thread() -> Iterator[None]:
    """In-process runs compute as the one-thread processes of :func:`torchrun` do."""
    with torch_threads(1):
        yield


def decoded(path: Path) -> list[np.ndarray]:
    return list(open_source(path))


@pytest.mark.slow
def test_two_processes_write_the_video_and_the_frames_one_process_writes(tmp_path, one_thread) -> None:
    write_video_pyav(tmp_path / "clip.mp4", make_frames(230, 48, 32))
    options = ["--method", "bicubic", "--segment-frames", "25"]
    for name in ("one.mp4", "one"):
        assert run_cli(tmp_path / "clip.mp4", "-o", tmp_path / name, *options) == 0
    video = upscale_with(2, tmp_path / "clip.mp4", "-o", tmp_path / "two.mp4", *options)
    assert video.returncode == 0, video.stderr[-3000:]
    assert (tmp_path / "two.mp4").read_bytes() == (tmp_path / "one.mp4").read_bytes()
    assert "upscaled 230 frames" in video.stderr and video.stderr.count("upscaled") == 1  # rank 0 says it

    folder = upscale_with(2, tmp_path / "clip.mp4", "-o", tmp_path / "two", *options)
    assert folder.returncode == 0, folder.stderr[-3000:]
    names = sorted(path.name for path in (tmp_path / "one").iterdir())
    assert sorted(path.name for path in (tmp_path / "two").iterdir()) == names and len(names) >= 230
    for name in names:
        assert (tmp_path / "two" / name).read_bytes() == (tmp_path / "one" / name).read_bytes(), name
    assert not (tmp_path / ".two.partial").exists() and not (tmp_path / ".two.mp4.partial").exists()


@pytest.mark.slow
def test_an_interrupted_two_process_run_finishes_with_one_process(
    tmp_path, tiny_ckpt, one_thread, capsys
) -> None:
    frames = make_frames(64, 32, 24)
    write_video_pyav(tmp_path / "clip.mp4", frames)
    options = ["--ckpt", tiny_ckpt, "--device", "cpu", "--segment-frames", "4"]
    assert run_cli(tmp_path / "clip.mp4", "-o", tmp_path / "whole.mp4", *options) == 0

    out, work = tmp_path / "out.mp4", tmp_path / ".out.mp4.partial"
    command, env = upscale_command(2, tmp_path / "clip.mp4", "-o", out, *options)

    def both_shares_begun() -> bool:  # process 0 writes frames 0-31, process 1 frames 32-63
        firsts = [first for first, _, _ in all_segments(work)] if work.is_dir() else []
        return any(f < 32 for f in firsts) and any(f >= 32 for f in firsts)

    # torchrun passes SIGTERM on to its processes.
    code, err = stop_with_sigterm(command, both_shares_begun, "a segment of each share written", env)
    assert code != 0 and not out.exists(), err
    kept = sum(count for _, count, _ in all_segments(work))
    assert 0 < kept < len(frames), err
    assert f"is not complete: kept {kept} of" in err, err
    assert "does only the frames not kept" in err and err.count("\ninterrupted") == 2, err
    assert str(REPO / "lgfn") not in err  # torchrun's agent prints its own traceback, never ours

    capsys.readouterr()
    assert run_cli(tmp_path / "clip.mp4", "-o", out, *options, "--resume") == 0
    assert out.read_bytes() == (tmp_path / "whole.mp4").read_bytes()
    # Only the frames not kept were upscaled again, those after a gap included.
    assert f"upscaled {len(frames) - kept} frames" in capsys.readouterr().err


@pytest.mark.slow
def test_an_interrupted_one_process_run_finishes_with_two(
    tmp_path, tiny_ckpt, monkeypatch, one_thread
) -> None:
    frames = make_frames(40, 32, 24)
    write_folder(tmp_path / "in", frames)
    options = ["--ckpt", tiny_ckpt, "--device", "cpu", "--segment-frames", "4"]
    out = tmp_path / "out.mp4"
    with monkeypatch.context() as patch:
        interrupt_after(patch, VideoSuperResolver, 10)
        assert run_cli(tmp_path / "in", "-o", out, *options) == 130
    work = tmp_path / ".out.mp4.partial"
    assert [(first, count) for first, count, _ in all_segments(work)] == [(0, 4), (4, 4)]

    finished = upscale_with(2, tmp_path / "in", "-o", out, *options, "--resume")
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert "8 frame(s) already finished" in finished.stderr and "upscaled 32 frames" in finished.stderr
    assert run_cli(tmp_path / "in", "-o", tmp_path / "whole.mp4", *options) == 0
    assert out.read_bytes() == (tmp_path / "whole.mp4").read_bytes()


@pytest.mark.slow
def test_a_bad_frame_in_one_share_stops_every_process_with_one_line(tmp_path, tiny_ckpt) -> None:
    write_folder(tmp_path / "in", make_frames(40, 32, 24))
    (tmp_path / "in" / "00000033.png").write_bytes(b"not a png")  # in process 1's share
    out = tmp_path / "out.mp4"
    run = upscale_with(2, tmp_path / "in", "-o", out, "--ckpt", tiny_ckpt, "--segment-frames", "4")
    assert run.returncode != 0  # torchrun exits 1 when its processes fail (each exited 2)
    errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 2 and all("00000033.png" in line for line in errors), run.stderr
    assert str(REPO / "lgfn") not in run.stderr  # no traceback through the project's code
    assert not out.exists()
    work = tmp_path / ".out.mp4.partial"
    assert not (work / "lock").exists()  # released: the mended input resumes
    (tmp_path / "in" / "00000033.png").unlink()
    write_folder(tmp_path / "in", make_frames(40, 32, 24))
    assert run_cli(tmp_path / "in", "-o", out, "--ckpt", tiny_ckpt, "--segment-frames", "4", "--resume") == 0
    assert open_source(out).num_frames == 40


@pytest.mark.slow
def test_a_wipe_comparison_in_shares_is_the_one_process_wipe(tmp_path, tiny_ckpt, one_thread) -> None:
    """The divider's place follows the output frame, whichever process writes it."""
    write_folder(tmp_path / "in", make_frames(20, 32, 24))
    options = ["--ckpt", tiny_ckpt, "--device", "cpu", "--compare", "wipe", "--fps", "2", "--start", "3"]
    assert run_cli(tmp_path / "in", "-o", tmp_path / "one", *options) == 0
    two = upscale_with(2, tmp_path / "in", "-o", tmp_path / "two", *options)
    assert two.returncode == 0, two.stderr[-3000:]
    names = sorted(path.name for path in (tmp_path / "one").glob("*.png"))
    assert len(names) == 17
    for name in names:
        assert (tmp_path / "two" / name).read_bytes() == (tmp_path / "one" / name).read_bytes(), name


def test_rank_0_waits_for_the_pieces_and_names_a_folder_the_processes_do_not_share(tmp_path) -> None:
    """The processes of other machines that do not see the output's folder wrote their pieces
    elsewhere: rank 0 does not join what it has (an output with a hole), it says why."""
    main = open_sink(tmp_path / "out.mp4", segment_frames=4)
    (main.work / "frames_00000000+0004.mp4").write_bytes(b"x")
    with pytest.raises(InputDataError, match=r"finished 8 frames .* holds 4: .*see at the same path"):
        wait_for_pieces(main, expected=8, seconds=0.2)
    (main.work / "frames_00000004+0004.mp4").write_bytes(b"x")
    wait_for_pieces(main, expected=8, seconds=0.2)
    assert main.frames_written == 8  # the join takes every piece
    main.abort()
