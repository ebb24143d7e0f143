"""``lgfn upscale --compare``: frames holding the bicubic run's and the LGFN run's own pixels, labelled,
written, resumed and refused like any output."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

from lgfn.inference import VideoSuperResolver
from lgfn.inference.compare import label_box, rule_width
from lgfn.media import read_video_frames
from tests.helpers import error_line, interrupt_after, make_frames, run_cli, write_folder

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: Output frames 96x80 (x4 of 24x20): rows below the labels to compare.
WIDTH, HEIGHT = 96, 80


@pytest.fixture
def runs(tmp_path, tiny_ckpt):
    """``runs(*options)``: the frames of ``lgfn upscale`` on a 6-frame folder with the tiny checkpoint
    and these options, into a new PNG folder; ``runs.bicubic`` and ``runs.lgfn``: those of the plain
    bicubic and LGFN runs."""
    write_folder(tmp_path / "in", make_frames(6, WIDTH // 4, HEIGHT // 4))
    made = []

    def run(*options, code: int = 0) -> list[np.ndarray]:
        out = tmp_path / f"out{len(made)}"
        made.append(out)
        assert run_cli(tmp_path / "in", "-o", out, *options) == code
        return read_video_frames(out) if code == 0 else []

    run.bicubic = run("--method", "bicubic")
    run.lgfn = run("--ckpt", tiny_ckpt)
    run.ckpt = tiny_ckpt
    run.input = tmp_path / "in"
    return run


def _columns_of(frame: np.ndarray, other: np.ndarray, below: int) -> np.ndarray:
    """Per column: whether ``frame`` holds ``other``'s pixels there (rows ``below:``)."""
    return (frame[below:] == other[below:]).all(axis=(0, 2))


def _split_at(frame, bicubic, lgfn, below: int) -> tuple[int, int]:
    """``(b, l)``: ``frame`` is bicubic's in columns ``:b`` and LGFN's in ``l:``, the widest such."""
    is_bicubic, is_lgfn = _columns_of(frame, bicubic, below), _columns_of(frame, lgfn, below)
    b = int(np.argmin(is_bicubic)) if not is_bicubic.all() else len(is_bicubic)
    l = len(is_lgfn) - (int(np.argmin(is_lgfn[::-1])) if not is_lgfn.all() else len(is_lgfn))  # noqa: E741
    return b, l


def test_split_frames_are_the_bicubic_and_lgfn_runs_frames_beside_a_divider(runs, capsys):
    got = runs("--ckpt", runs.ckpt, "--compare", "split")
    rule, below = rule_width(HEIGHT), label_box(HEIGHT, "bicubic")[1]
    assert len(got) == 6
    for frame, bicubic, lgfn in zip(got, runs.bicubic, runs.lgfn, strict=True):
        assert frame.shape == (HEIGHT, WIDTH, 3)
        assert _split_at(frame, bicubic, lgfn, below) == (WIDTH // 2 - rule // 2, WIDTH // 2 + rule // 2)
        assert not np.array_equal(frame[:below, : WIDTH // 4], bicubic[:below, : WIDTH // 4])  # "bicubic"
        assert not np.array_equal(frame[:below, -WIDTH // 4 :], lgfn[:below, -WIDTH // 4 :])  # "LGFN"
    assert f"-> {WIDTH}x{HEIGHT}" in capsys.readouterr().err


def test_side_by_side_halves_are_the_two_runs_frames(runs):
    got = runs("--ckpt", runs.ckpt, "--compare", "side-by-side")
    rule, below = rule_width(HEIGHT), label_box(HEIGHT, "bicubic")[1]
    for frame, bicubic, lgfn in zip(got, runs.bicubic, runs.lgfn, strict=True):
        assert frame.shape == (HEIGHT, 2 * WIDTH + rule, 3)
        np.testing.assert_array_equal(frame[below:, :WIDTH], bicubic[below:])
        np.testing.assert_array_equal(frame[below:, WIDTH + rule :], lgfn[below:])
        assert not np.array_equal(frame[:below, :WIDTH], bicubic[:below])
        assert not np.array_equal(frame[:below, WIDTH + rule :], lgfn[:below])


def test_the_wipe_moves_from_the_start_and_a_resumed_run_writes_the_same_frames(runs, monkeypatch, capsys):
    # At 2 frames a second the 4-second sweep is 8 frames: across in 4, back in 4.
    wipe = ("--ckpt", runs.ckpt, "--compare", "wipe", "--fps", "2", "--start", "1")
    whole = runs(*wipe)
    rule, below = rule_width(HEIGHT), label_box(HEIGHT, "bicubic")[1]
    places = []
    for n, frame in enumerate(whole):  # output frame n is input frame n + 1
        x = round((1 - math.cos(2 * math.pi * n / 8)) / 2 * WIDTH)
        expected = (max(x - rule // 2, 0), min(x + rule // 2, WIDTH))
        assert _split_at(frame, runs.bicubic[n + 1], runs.lgfn[n + 1], below) == expected, n
        places.append(x)
    assert places[0] == 0 and places[4] == WIDTH and len(set(places)) == 5  # 0, 14, 48, 82, 96

    out = runs.input.parent / "resumed"
    with monkeypatch.context() as patch:
        interrupt_after(patch, VideoSuperResolver, 2)
        assert run_cli(runs.input, "-o", out, *wipe) == 130
    assert len(os.listdir(runs.input.parent / ".resumed.partial" / "frames")) == 2
    capsys.readouterr()
    assert run_cli(runs.input, "-o", out, *wipe, "--resume") == 0
    assert "from output frame 2" in capsys.readouterr().err
    resumed = read_video_frames(out)
    assert len(resumed) == len(whole)
    for a, b in zip(resumed, whole, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("first, then", [("split", "wipe"), ("split", None), (None, "side-by-side")])
def test_a_resume_with_another_compare_is_refused(runs, monkeypatch, capsys, first, then):
    option = lambda layout: ("--compare", layout) if layout else ()  # noqa: E731
    out = runs.input.parent / "part"
    with monkeypatch.context() as patch:
        interrupt_after(patch, VideoSuperResolver, 2)
        assert run_cli(runs.input, "-o", out, "--ckpt", runs.ckpt, *option(first)) == 130
    capsys.readouterr()
    assert run_cli(runs.input, "-o", out, "--ckpt", runs.ckpt, *option(then), "--resume") == 2
    assert f"compare: {first!r} then, {then!r} now" in error_line(capsys)
    assert sorted(os.listdir(out.parent / ".part.partial" / "frames")) == ["00000000.png", "00000001.png"]


def test_a_finished_compare_output_records_its_layout(runs, capsys):
    out = runs.input.parent / "done"
    assert run_cli(runs.input, "-o", out, "--ckpt", runs.ckpt, "--compare", "split") == 0
    capsys.readouterr()
    assert run_cli(runs.input, "-o", out, "--ckpt", runs.ckpt, "--compare", "split", "--resume") == 0
    assert "nothing to resume" in capsys.readouterr().err
    assert run_cli(runs.input, "-o", out, "--ckpt", runs.ckpt, "--compare", "wipe", "--resume") == 2
    assert "was made from another input or with other settings" in error_line(capsys)


@pytest.mark.parametrize(
    "options, message",
    [
        (("--method", "bicubic"), "--compare split shows bicubic beside LGFN, so --method bicubic leaves"),
        (("--reference",), "--compare split does not go with --reference: the scores would be of the"),
    ],
)
def test_compare_where_it_cannot_apply_is_one_error_line(runs, capsys, options, message):
    runs(*options, "--compare", "split", code=2)
    assert message in error_line(capsys)
    assert sorted(os.listdir(runs.input.parent)) == ["in", "out0", "out1"]  # nothing written


def test_an_unknown_layout_is_one_error_line(runs, capsys):
    runs("--compare", "overlay", code=2)
    assert "argument --compare: invalid choice: 'overlay'" in error_line(capsys)
