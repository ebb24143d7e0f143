"""The scored frames of the clip being scored, kept in the resume log while it is scored, so that a
stopped run loses none of a long clip's scores (the paper's network on a CPU takes about 11 s a
720x576 frame: a 100-frame clip is 18 minutes).

While a clip is scored, its new rows are appended to ``partial.jsonl`` as a ``frames`` line
(:mod:`lgfn.evaluation.resume`) every :data:`KEEP_SECONDS`, and all of them when the run stops on
an error, Ctrl-C or SIGTERM; ``--resume`` then scores the clip from the first frame not kept (with
tOF or tLP it upscales the last kept frame once more, for the pair of the next). What a stop loses
is the frame being scored, and a crash that leaves no time to write (a killed process, a power cut)
at most :data:`KEEP_SECONDS` of scores. The clip's own line, when it finishes, takes their place.

The process that keeps the log (rank 0 under torchrun) keeps the frames of the clips it scores;
the other processes of a sharded evaluation keep whole clips only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from lgfn.evaluation.resume import ResumeLog

logger = logging.getLogger(__name__)

#: Scored frames of the clip being scored go to the log at most this often (seconds), so that a
#: fast evaluation (bicubic) writes no more than before.
KEEP_SECONDS = 30.0


class FramesKept:
    """Keeps the scored frames of the clip this process is scoring in the log.

    Args:
        log: the evaluation's resume log (``None``: nothing is kept, e.g. a process without the log).
        data: ``{clip key: clip_identity}`` of the clips.
        clock: seconds, monotonic (tests give their own).
    """

    def __init__(
        self, log: ResumeLog | None, data: Mapping[str, str], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.log = log
        self.data = data
        self.clock = clock
        self.key: str | None = None
        self.rows: list[dict[str, Any]] = []
        self.total = 0
        self.written = 0  # rows of the clip in the log
        self.since = clock()

    def begin(self, key: str, kept: Sequence[Mapping[str, Any]], total: int) -> None:
        """The clip ``key`` (``total`` scored frames) starts, after the ``kept`` rows of a stopped run."""
        self.key, self.rows, self.total = key, list(kept), total
        self.written, self.since = len(kept), self.clock()

    def scored(self, rows: list[dict[str, Any]]) -> None:
        """The clip's rows so far (called after each frame); the new ones go to the log when due."""
        self.rows = list(rows)  # as they are now: the next frame's row is filled in after it is added
        if self.clock() - self.since >= KEEP_SECONDS:
            self.keep()

    def end(self) -> None:
        """The clip finished (its own line takes the place of the kept frames)."""
        self.key, self.rows = None, []

    def keep(self) -> None:
        """Append the rows not in the log yet."""
        self.since = self.clock()
        new = self.rows[self.written :]
        if self.log is None or self.key is None or not new:
            return
        self.log.record_frames(self.key, new, self.data[self.key])
        self.written = len(self.rows)

    def stop(self) -> None:
        """The run stops part-way: keep every scored frame of the unfinished clip and say so."""
        if self.log is None or self.key is None:
            return
        self.keep()
        if self.written:
            logger.warning(
                "clip %s stopped after %d of its %d scored frames; they are kept in %s, and --resume "
                "scores the other %d",
                self.key, self.written, self.total, self.log.path, self.total - self.written,
            )  # fmt: skip
