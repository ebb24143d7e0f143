"""The shares of an output's pieces among the processes of a torchrun (:mod:`lgfn.media.shares`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lgfn.media.shares import finished_pieces, has_gaps, pending_pieces, plan_shares


def frames_of(runs: list[tuple[int, int]]) -> list[int]:
    return [frame for first, end in runs for frame in range(first, end)]


@pytest.mark.parametrize(
    ("total", "piece", "finished", "world"),
    [(1000, 100, set(), 2), (1000, 100, {0, 100, 500, 600, 700, 800}, 3), (10, 1, set(), 3),
     (150, 100, set(), 4), (437, 25, {50, 75, 400}, 5), (7, 1, {0, 1, 2, 3, 4, 5, 6}, 2)],
)  # fmt: skip
def test_every_pending_frame_is_in_one_share_in_order(total, piece, finished, world) -> None:
    pending = pending_pieces(total, piece, finished)
    shares = plan_shares(pending, world)
    assert len(shares) == world
    written = [frame for share in shares for frame in frames_of(share)]
    assert written == frames_of(pending)  # each once, and the shares follow each other in frame order
    for share in shares:  # runs are whole pieces, merged where consecutive
        for first, end in share:
            assert first % piece == 0 and (end % piece == 0 or end == total)
        assert all(a[1] < b[0] for a, b in zip(share, share[1:], strict=False))
    assert not any(first in finished for first, _ in pending)


def test_shares_are_about_equal_and_follow_the_output_not_the_processes() -> None:
    assert plan_shares(pending_pieces(1000, 100, set()), 2) == [[(0, 500)], [(500, 1000)]]
    assert plan_shares(pending_pieces(10, 1, set()), 3) == [[(0, 3)], [(3, 7)], [(7, 10)]]
    # Resumed by three processes: segments 2, 3, 4 and 9 are missing.
    pending = pending_pieces(1000, 100, {0, 100, 500, 600, 700, 800})
    assert pending == [(200, 300), (300, 400), (400, 500), (900, 1000)]
    assert plan_shares(pending, 3) == [[(200, 300)], [(300, 500)], [(900, 1000)]]
    assert plan_shares([], 2) == [[], []]


def test_finished_pieces_and_gaps_of_a_work_folder(tmp_path: Path) -> None:
    video, folder = tmp_path / "out.mp4", tmp_path / "out"
    assert not has_gaps(video) and finished_pieces(video) == set()
    work = tmp_path / ".out.mp4.partial"
    work.mkdir()
    for name in ("frames_00000000+0010.mp4", "frames_00000020+0010.mp4", ".writing-00000010.mp4"):
        (work / name).write_bytes(b"x")
    assert finished_pieces(video) == {0, 20} and has_gaps(video)
    (work / "frames_00000010+0010.mp4").write_bytes(b"x")
    assert finished_pieces(video) == {0, 10, 20} and not has_gaps(video)

    frames = tmp_path / ".out.partial" / "frames"
    frames.mkdir(parents=True)
    for name in ("00000000.png", "00000002.png", ".writing-00000001.png"):
        (frames / name).write_bytes(b"x")
    assert finished_pieces(folder) == {0, 2} and has_gaps(folder)
