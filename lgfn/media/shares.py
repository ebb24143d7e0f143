"""Which frames of an output each process of a torchrun writes: its share of the unfinished pieces.

The pieces of an output are the units an interruption keeps: the segments of a video output (every
``segment_frames`` frames from frame 0, :mod:`lgfn.media.segments`) and the frames of a PNG folder.
Their boundaries depend on the output alone, never on the number of processes, so a run continues
with any number of processes what another left: the pieces still missing from the work folder are
cut into one contiguous share per process, as equal in frames as the pieces allow
(:func:`plan_shares`), and each process writes its share's runs of consecutive pieces into the work
folder (``open_sink(..., share_from=first)``). The process that opened the output then joins them.

Example: 1,000 frames in segments of 100, two processes, nothing finished yet: process 0 writes
frames 0-499 (segments 0-4), process 1 frames 500-999. Resumed by three processes after segments
0-1 and 5-8 were finished: the pending segments 2, 3, 4 and 9 go 2 | 3, 4 | 9.
"""

from __future__ import annotations

from pathlib import Path

from lgfn.media.containers import is_video_output
from lgfn.media.segments import all_segments
from lgfn.media.sinks import FrameFolderSink, VideoFileSink, finished_frame_numbers
from lgfn.media.workfolder import work_folder

#: A run of consecutive output frames ``[first, end)`` one process writes.
Run = tuple[int, int]


def finished_pieces(output: Path) -> set[int]:
    """The first frames of the finished pieces in ``output``'s work folder (segments of a video,
    frames of a PNG folder), wherever they are."""
    work = work_folder(output)
    if is_video_output(output):
        return {first for first, _, _ in all_segments(work)}
    return finished_frame_numbers(work)


def has_gaps(output: Path) -> bool:
    """Whether the work folder of ``output`` holds finished pieces after a missing one: the shares of
    an interrupted torchrun, which a resumed run must not write again."""
    kind = VideoFileSink if is_video_output(output) else FrameFolderSink
    work = work_folder(output)
    return work.is_dir() and kind.kept_frames(work) != kind.finished_frames(work)


def pending_pieces(total: int, piece_frames: int, finished: set[int]) -> list[Run]:
    """The pieces ``[first, end)`` of a ``total``-frame output, ``piece_frames`` each (the last may be
    shorter), whose first frame is not in ``finished``."""
    return [
        (first, min(first + piece_frames, total))
        for first in range(0, total, piece_frames)
        if first not in finished
    ]


def plan_shares(pieces: list[Run], world_size: int) -> list[list[Run]]:
    """Each process's share of ``pieces``: contiguous in the list, about equal in frames, merged into
    runs of consecutive frames.

    Args:
        pieces: the pending pieces, in frame order (:func:`pending_pieces`).
        world_size: the number of processes.

    Returns:
        ``world_size`` lists of runs ``[first, end)``; process ``k`` writes ``shares[k]`` (a list can
        be empty when there are fewer pieces than processes). Every pending frame is in one run.
    """
    total = sum(end - first for first, end in pieces)
    shares: list[list[Run]] = [[] for _ in range(world_size)]
    before = 0
    for first, end in pieces:
        # The share whose part of the frames holds this piece's middle.
        rank = min(world_size - 1, (2 * before + end - first) * world_size // (2 * total))
        runs = shares[rank]
        if runs and runs[-1][1] == first:
            runs[-1] = (runs[-1][0], end)
        else:
            runs.append((first, end))
        before += end - first
    return shares
