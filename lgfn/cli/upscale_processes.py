"""``torchrun --nproc_per_node=N -m lgfn upscale INPUT... -o OUTPUT``: the processes share each output.

Every process reads the command and the inputs; the inputs are taken one after another, and the
pieces of each output still to write (segments of a video, frames of a PNG folder) are shared out
(:mod:`lgfn.media.shares`): rank 0 opens the output (its checks, its lock, ``--resume``'s record) and
plans the shares, every process upscales its own into the work folder, on its own GPU
(``LOCAL_RANK``) or CPU threads, and rank 0 joins the pieces into the output once all are done.
Segments are cut at frames fixed by the output alone and each is encoded from its own frames, so
the output is the one a single process writes, and a run continues, with any number of processes,
from whatever an interrupted one kept. The same path serves one process resuming the shares a
torchrun left (pieces after a gap).

While they work, the processes tell each other through torchrun's key-value store how many frames
they wrote (rank 0's progress bar shows the whole output) and whether one failed; a failure stops
them all at their next frame, and each ends with one error line. Objects travel over Gloo, so CPU
and GPU runs join alike.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch.distributed as dist

from lgfn.cli.console import MEMORY_ADVICE
from lgfn.cli.upscale_progress import FrameProgress
from lgfn.distributed import (
    DistributedContext,
    all_gather_objects,
    broadcast_object,
    init_distributed,
    shutdown,
)
from lgfn.errors import ConfigError, InputDataError, LGFNError, memory_error
from lgfn.inference import Upscaler, UpscaleReport, upscale_stream
from lgfn.media import FrameSink, FrameSource
from lgfn.media.shares import Run, finished_pieces, has_gaps, pending_pieces, plan_shares
from lgfn.media.workfolder import work_folder

logger = logging.getLogger(__name__)

#: How often a process that finished its share looks whether the others have (seconds).
POLL_SECONDS = 0.2
#: How long rank 0 waits to see the pieces the others wrote (a shared network folder can show new
#: files late) before it takes them as written where it cannot see them.
SHARED_FOLDER_SECONDS = 60.0
#: User errors that travel from one process to the others keep their kind (a skipped input stays one).
_ERRORS = {cls.__name__: cls for cls in (LGFNError, ConfigError, InputDataError)}
#: Numbers the outputs of one command (the same on every process: they take the inputs in one order),
#: so that each output's counts in the store are its own.
_OUTPUT_NUMBERS = itertools.count()


@contextlib.contextmanager
def process_group() -> Iterator[DistributedContext]:
    """The processes torchrun started (one process otherwise), joined over Gloo for the whole command;
    the processes other than rank 0 log errors only (rank 0 says what all of them do)."""
    # A share can take hours; the processes wait for each other by polling the store, and the
    # collectives that remain carry small objects at moments when every process is there.
    context = init_distributed("cpu")
    if not context.is_main:
        logging.getLogger().setLevel(logging.ERROR)
    try:
        yield context
    except LGFNError:
        if context.enabled:
            # Every process stops on this error now; once one has exited, torchrun sends the others
            # SIGTERM, which would take the place of their own error line.
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise
    finally:
        shutdown(context)


def gpu_index(context: DistributedContext) -> int | None:
    """The GPU a bare ``cuda`` (or ``auto``) means for this process: its local rank under torchrun."""
    return context.local_rank if context.enabled else None


def in_shares(context: DistributedContext, output: Path, resume: bool) -> bool:
    """Whether this output is written in shares: several processes, or one resuming what several left."""
    return context.enabled or (resume and has_gaps(output))


@dataclass
class SharedOutput:
    """One output to write in shares.

    Attributes:
        path: the output.
        opening: opens the output's sink: with no argument the whole output (rank 0), with
            ``share_from=`` a share of it (``functools.partial`` of :func:`lgfn.media.open_sink`).
        source: the input's frames.
        first: the input frame that output frame 0 is made from (``--start``).
        end: the input frame where the output ends (``--max-frames``), ``None``: the clip's end.
        total: the output's frames, ``None`` when the input does not say how many it has.
        reference: ``--reference``.
        show_progress: show rank 0's bar.
    """

    path: Path
    opening: Callable[..., FrameSink]
    source: FrameSource
    first: int
    end: int | None
    total: int | None
    reference: bool
    show_progress: bool


class _Board:
    """What the processes tell each other while they work, in torchrun's key-value store (a dict with
    one process): frames written, shares finished, and a failure."""

    def __init__(self, context: DistributedContext, number: int) -> None:
        self.store = dist.distributed_c10d._get_default_store() if context.enabled else None
        self.prefix = f"lgfn-upscale/{number}/"
        self.local: dict[str, int] = {}

    def add(self, key: str, amount: int = 1) -> int:
        if self.store is None:
            self.local[key] = self.local.get(key, 0) + amount
            return self.local[key]
        return int(self.store.add(self.prefix + key, amount))

    def fail(self) -> None:
        self.add("failed")

    def failed(self) -> bool:
        return self.add("failed", 0) > 0


class _Stopped(Exception):
    """Another process failed: this one stops at its next frame."""


#: A user error as it travels between the processes: ``(kind, message)``.
SharedError = tuple[str, str]


def _shared(exc: LGFNError) -> SharedError:
    return type(exc).__name__, str(exc)


def _raise_shared(error: SharedError, where: str = "") -> None:
    """Raise a travelled error as the error of its kind (a skipped input stays one)."""
    kind, message = error
    raise _ERRORS.get(kind, LGFNError)(f"{message}{where}")


def upscale_in_shares(
    output: SharedOutput,
    upscaler: Callable[[], Upscaler],
    context: DistributedContext,
    before_join: Callable[[FrameSink], None],
) -> tuple[UpscaleReport, FrameSink] | None:
    """Write ``output`` with every process: each its share, then rank 0 joins.

    Args:
        output: the output and its input.
        upscaler: builds (once) this process's upscaler.
        context: the processes.
        before_join: called on rank 0 with the whole output's sink before it is assembled; raising
            leaves the finished pieces for ``--resume`` (the check that the whole input was read).

    Returns:
        On rank 0, the report of all processes and the output's (closed) sink; ``None`` elsewhere.

    Raises:
        LGFNError: a process could not open the output, read the input or write its share (raised
            on every process, so that each ends with one line).
    """
    if output.total is None:
        raise InputDataError(
            f"{output.source.path} does not say how many frames it holds, so its frames cannot be shared "
            "out between processes; upscale it with one process (without torchrun)"
        )
    main, shares, done = _open(output, context)
    board = _Board(context, next(_OUTPUT_NUMBERS))
    with FrameProgress(output.total, done, disable=not (context.is_main and output.show_progress)) as bar:
        began = time.perf_counter()
        try:
            outcome = _write_share(output, shares[context.rank], upscaler, board, bar if main else None)
            _wait_for_all(board, context, bar if main else None)
        except BaseException:
            if main is not None:  # interrupted: say what every process kept
                main.frames_written = done + board.add("frames", 0)
                main.abort()
            raise
    outcomes = all_gather_objects(outcome, context)
    report = _merged([reports for reports, _ in outcomes], time.perf_counter() - began)
    failure = next(((rank, error) for rank, (_, error) in enumerate(outcomes) if error), None)
    if failure is not None:
        if main is not None:
            main.frames_written = done + report.frames
            main.abort()
        rank, error = failure  # raised on every process: the failing one's error, the others its kind
        _raise_shared(error, f" (process {rank} of {context.world_size})" if context.enabled else "")
    return _join(main, done + report.frames, report, context, before_join)


def _open(output: SharedOutput, context: DistributedContext) -> tuple[FrameSink | None, list[list[Run]], int]:
    """Rank 0 opens the output and plans the shares; every process gets the plan (or rank 0's error).

    Returns:
        Rank 0's sink of the whole output (``None`` elsewhere), the shares, and the frames finished before.
    """
    main, plan = None, None
    if context.is_main:
        try:
            main = output.opening()
            piece = main.segment_frames or 1
            pending = pending_pieces(output.total, piece, finished_pieces(main.path))
            done = output.total - sum(end - first for first, end in pending)
            plan = (plan_shares(pending, context.world_size), done, None)
        except LGFNError as exc:
            plan = (None, 0, _shared(exc))
    shares, done, error = broadcast_object(plan, context)
    if error is not None:
        _raise_shared(error)
    return main, shares, done


def _write_share(
    output: SharedOutput,
    runs: list[Run],
    upscaler: Callable[[], Upscaler],
    board: _Board,
    bar: FrameProgress | None,
) -> tuple[list[UpscaleReport], SharedError | None]:
    """Upscale this process's runs into the work folder; ``(reports, error)``, the error as
    ``(kind, message)`` (and on the board) instead of raised, so that the others learn of it."""
    reports: list[UpscaleReport] = []
    work = work_folder(output.path)
    if runs and not work.is_dir():  # rank 0 made it: this process does not see rank 0's folders
        board.fail()
        board.add("done")
        return reports, _shared(InputDataError(_unshared(output.path, work)))

    def on_frame() -> None:
        written = board.add("frames")
        if board.failed():
            raise _Stopped
        if bar is not None:
            bar.advance_to(written)

    try:
        model = upscaler()
        for first, end in runs:
            stop = output.end if end == output.total else output.first + end  # the last reads to the end
            with output.opening(share_from=first) as writer:
                reports.append(
                    upscale_stream(
                        output.source, model, writer, output.reference, on_frame, output.first + first, stop
                    )
                )
    except _Stopped:
        return reports, None
    except Exception as exc:  # noqa: BLE001 - any failure must reach the others, which wait for this one
        board.fail()
        error = exc if isinstance(exc, LGFNError) else memory_error(exc, MEMORY_ADVICE)
        if error is None:
            raise  # a bug: its traceback, and torchrun stops the other processes
        return reports, _shared(error)
    finally:
        board.add("done")
    return reports, None


def _wait_for_all(board: _Board, context: DistributedContext, bar: FrameProgress | None) -> None:
    """Wait until every process finished its share (rank 0 shows their frames on its bar)."""
    while board.add("done", 0) < context.world_size:
        if bar is not None:
            bar.advance_to(board.add("frames", 0))
        time.sleep(POLL_SECONDS)
    if bar is not None:
        bar.advance_to(board.add("frames", 0))


def wait_for_pieces(main: FrameSink, expected: int, seconds: float = SHARED_FOLDER_SECONDS) -> None:
    """Wait until rank 0 sees in the work folder the ``expected`` frames that all processes report
    finished (its count of the folder's pieces, :meth:`~lgfn.media.FrameSink.kept_frames`).

    Raises:
        InputDataError: they did not appear within ``seconds``: the processes wrote into folders of
            their own (machines that do not share the output's folder).
    """
    deadline = time.monotonic() + seconds
    while main.kept_frames(main.work) < expected:
        if time.monotonic() > deadline:
            seen = main.kept_frames(main.work)
            raise InputDataError(
                f"the processes finished {expected} frames of {main.path}, but {main.work} holds {seen}: "
                + _unshared(main.path, main.work)
            )
        time.sleep(POLL_SECONDS)
    main.frames_written = main.finished_frames(main.work)


def _unshared(path: Path, work: Path) -> str:
    return (
        f"under torchrun every process writes into {work}, which rank 0 makes; on several machines the "
        f"output {path} must be in a folder that all of them see at the same path (e.g. over NFS)"
    )


def _merged(reports: list[list[UpscaleReport]], seconds: float) -> UpscaleReport:
    """One report of every process's runs: their frames, over the time the shares took."""
    runs = [report for share in reports for report in share]
    merged = UpscaleReport(frames=sum(report.frames for report in runs), seconds=seconds)
    for report in runs:
        merged.input_size = merged.input_size or report.input_size
        merged.output_size = merged.output_size or report.output_size
        merged.clip_frames = merged.clip_frames if report.clip_frames is None else report.clip_frames
    return merged


def _join(
    main: FrameSink | None,
    expected: int,
    report: UpscaleReport,
    context: DistributedContext,
    before_join: Callable[[FrameSink], None],
) -> tuple[UpscaleReport, FrameSink] | None:
    """Rank 0 assembles the output from every piece (``expected`` frames in all, those of earlier runs
    included); the others wait and fail with it if it fails."""
    error = None
    if main is not None:
        main.size = report.output_size
        try:
            with main:
                wait_for_pieces(main, expected)  # and sets the frames the output gets
                before_join(main)
        except LGFNError as exc:
            error = _shared(exc)
            if not context.enabled:
                raise
    error = broadcast_object(error, context)
    if error is not None:
        _raise_shared(error)
    return (report, main) if main is not None else None
