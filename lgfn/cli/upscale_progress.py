"""The progress of ``lgfn upscale``: a bar of the frames written, and the time left from measured frames.

The first frame costs far more than the others: the model warms up, and the first window reads and
extracts the features of all its frames where later windows add one. An estimate from it (or a rate
averaged from the start, as tqdm's) was three times too long on every run tried. So the time left is
the frames still to write times the mean time per frame measured from the first frame on, warm-up
and look-ahead reads excluded; it is shown on the bar and logged once, when it has been measured over
:data:`MEASURED_FRAMES` frames or :data:`MEASURED_SECONDS` seconds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from tqdm import tqdm

logger = logging.getLogger(__name__)

#: The logged estimate waits for this many frames after the first, or this many seconds.
MEASURED_FRAMES, MEASURED_SECONDS = 10, 30.0

_KNOWN_TOTAL = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]"
_UNKNOWN_TOTAL = "{desc}: {n_fmt} frames [{elapsed}{postfix}]"


class FrameProgress:
    """Counts the frames written, shows them on a bar, and estimates the time left.

    Args:
        total: frames of the whole output (an interrupted run's included), or ``None`` when unknown.
        done: frames an interrupted run finished before (the bar starts there).
        disable: show no bar (the estimate is still logged).
        clock: seconds, monotonic (tests give their own).

    Call it once per frame written; use it as a context manager to close the bar.
    """

    def __init__(
        self,
        total: int | None,
        done: int = 0,
        disable: bool = False,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.total = total
        self.clock = clock
        self.began = clock()
        self.written = 0  # by this run
        self.first_at: float | None = None
        self.logged = False
        self.bar = tqdm(
            total=total,
            initial=done,
            unit="frame",
            desc="upscale",
            disable=disable,
            dynamic_ncols=True,
            bar_format=_UNKNOWN_TOTAL if total is None else _KNOWN_TOTAL,
        )
        self.done = done

    def __call__(self) -> None:
        now = self.clock()
        self.written += 1
        self.bar.update()
        if self.first_at is None:
            self.first_at = now
            logger.info(
                "first frame in %.1f s (loading and the first windows' reads included)", now - self.began
            )
            return
        measured, seconds = self.written - 1, now - self.first_at
        per_frame = seconds / measured
        left = None if self.total is None else max(self.total - self.done - self.written, 0)
        shown = f"{per_frame:.3g} s/frame" + (
            "" if left is None else f", {duration_text(left * per_frame)} left"
        )
        self.bar.set_postfix_str(shown, refresh=False)
        if left and not self.logged and (measured >= MEASURED_FRAMES or seconds >= MEASURED_SECONDS):
            self.logged = True
            logger.info(
                "about %s left for %d more frames (%.3g s/frame, measured over %d frames after the first)",
                duration_text(left * per_frame), left, per_frame, measured,
            )  # fmt: skip

    def advance_to(self, written: int) -> None:
        """Count the frames up to ``written`` by this run (the processes of a torchrun together: rank 0
        counts the others' frames when it learns of them)."""
        while self.written < written:
            self()

    def __enter__(self) -> FrameProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.close()


def duration_text(seconds: float) -> str:
    """``"40 s"``, ``"12 min"`` or ``"3.5 h"``."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
