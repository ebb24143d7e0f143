"""How the clip in progress is kept: while one process scores a clip, the rows of its scored frames go
to the resume log (``frames`` lines of ``partial.jsonl``, :mod:`lgfn.evaluation.resume`), so that an
interruption loses at most the frame in progress and ``--resume`` continues the clip after them.

Rows are appended once :data:`FRAME_RECORD_SECONDS` have passed since the last line, and at once when
the run stops (Ctrl-C, SIGTERM, an error): an interruption keeps every finished frame, a crash that
kills the process keeps all but the last few seconds' frames. A resumed clip runs from the first
frame not kept (a frame's windows depend only on the clip, so its output is the same), rounded down
to the start of a ``--batch`` so that the batches are those of an uninterrupted run; with a pair
metric (tOF, tLP) the batch before it is run again, unscored, for the previous frame's output
(:func:`resume_start`). Under torchrun whole clips are kept: a sharded run's clips in progress are
scored again, though it continues the clips whose frames a single process kept.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from lgfn.data.eval_datasets import EvalClip
from lgfn.errors import ConfigError
from lgfn.evaluation.resume import ResumeLog, ResumeRecord
from lgfn.evaluation.scoring import PAIR_METRICS

logger = logging.getLogger(__name__)

#: Seconds between two lines of the frames scored so far of the clip in progress.
FRAME_RECORD_SECONDS = 5.0


def resume_start(scored: Sequence[int], kept: int, batch: int, metrics: Sequence[str]) -> int:
    """Where the upscaler starts on a clip of which the first ``kept`` scored frames are kept.

    Args:
        scored: the clip's scored frame indices.
        kept: how many of them are kept (a multiple of ``batch``, see :func:`kept_frames`).
        batch: the upscaler's windows per forward pass.
        metrics: what is measured.

    Returns:
        The position in ``scored`` of the first frame to run: ``kept``, or with a pair metric whose
        first new pair ends a run of consecutive frames, ``kept - batch`` (that batch's outputs are
        not scored again; the last is the previous frame of the pair).
    """
    pairs = any(name in metrics for name in PAIR_METRICS)
    if pairs and 0 < kept < len(scored) and scored[kept - 1] == scored[kept] - 1:
        return max(0, kept - batch)
    return kept


def kept_frames(record: ResumeRecord, clips: Sequence[EvalClip], batch: int) -> None:
    """Keep of ``record.partial`` what a resumed run continues: the frames of each clip rounded down to
    a multiple of ``batch`` (clips left without frames are dropped, with their data).

    Raises:
        ConfigError: a clip's kept frames are not its first scored frames (e.g. an edited log).
    """
    scored = {clip.key: list(clip.scored) for clip in clips}
    for key, rows in list(record.partial.items()):
        frames = [row["frame"] for row in rows]
        if key in scored and frames != scored[key][: len(frames)]:
            raise ConfigError(
                f"cannot resume: the frames {frames} kept of clip {key} are not its first scored frames "
                f"{scored[key][: len(frames)]}; delete its frames lines of partial.jsonl to score it again"
            )
        record.partial[key] = rows[: len(rows) // batch * batch]
        if not record.partial[key]:
            del record.partial[key], record.data[key]


class ClipProgress:
    """The clip that is being scored, its rows kept in the log as it goes.

    Args:
        log: the resume log, or ``None`` to keep nothing (a sharded run: it only says what is lost).
        data: ``{clip key: clip_identity}`` for the log's lines.
        batch, metrics: the upscaler's batch and the metrics, to say what a resumed run does again.
        interval: seconds between two lines of frames (default :data:`FRAME_RECORD_SECONDS`).
    """

    def __init__(
        self,
        log: ResumeLog | None,
        data: Mapping[str, str],
        batch: int,
        metrics: Sequence[str],
        interval: float | None = None,
    ) -> None:
        self.log, self.data, self.batch, self.metrics = log, data, batch, metrics
        self.interval = FRAME_RECORD_SECONDS if interval is None else interval
        self.key: str | None = None
        self.scored: list[int] = []
        self.kept = 0  # rows in the log
        self.pending: list[dict[str, Any]] = []  # rows of finished frames not yet in the log
        self.last = time.monotonic()

    def begin(self, key: str, scored: Sequence[int], kept: int) -> None:
        """Clip ``key`` starts, ``kept`` of its ``scored`` frames already in the log."""
        self.key, self.scored, self.kept, self.pending = key, list(scored), kept, []

    def add(self, row: Mapping[str, Any]) -> None:
        """One more frame of the clip is finished (scored, its image written)."""
        self.pending.append(dict(row))
        if time.monotonic() - self.last >= self.interval:
            self.flush()

    def flush(self) -> None:
        """Append the finished frames not yet in the log."""
        if self.log is None or not self.pending or self.key is None:
            return
        rows, self.pending = self.pending, []  # first: a second flush after an interruption adds nothing
        self.kept += len(rows)
        self.log.record_frames(self.key, rows, self.data[self.key])
        self.last = time.monotonic()

    def end(self) -> None:
        """The clip is finished (its whole line is in the log)."""
        self.key, self.pending = None, []
        self.last = time.monotonic()

    def stopped(self) -> None:
        """The run stops: keep the finished frames and say what of the clip a resumed run does again
        (nothing to say when none of its frames was finished)."""
        if self.key is None or not (self.kept or self.pending):
            return
        total, key = len(self.scored), self.key
        if self.log is None:
            done = len(self.pending) + self.kept
            logger.warning(
                "clip %s: its %d scored frame(s) of %d are not kept (torchrun keeps whole clips); "
                "--resume scores it again",
                key, done, total,
            )  # fmt: skip
            return
        self.flush()
        kept = self.kept // self.batch * self.batch
        again = kept - resume_start(self.scored, kept, self.batch, self.metrics)
        rerun = f" and runs {again} kept frame(s) again, unscored (for {self._needs(kept)})" if again else ""
        logger.warning(
            "clip %s: %d of its %d scored frames are kept; --resume scores the other %d%s",
            key, kept, total, total - kept, rerun,
        )  # fmt: skip

    def _needs(self, kept: int) -> str:
        """What the frames run again are for: the pair metrics of the first frame not ``kept``."""
        pairs = [name for name in PAIR_METRICS if name in self.metrics]
        return f"the {'/'.join(pairs)} of frame {self.scored[kept]}"
