"""Temporal windows over a stream whose length is known only at its end.

A window can run once the frames it needs have arrived; frames no later window can need are dropped,
so memory holds about a window of frames however long the stream.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from lgfn.data.windows import window_indices

#: A window: (centre index, frame indices of its window).
Window = tuple[int, list[int]]


class StreamWindows:
    """The windows of every frame of a stream from ``start`` on, in order, and the frames they need.

    Iterate to get the windows; :meth:`fetch` returns a frame of the window just yielded or of one
    of the ``batch`` windows before it.

    Args:
        frames: the stream, ``(h, w, 3)`` uint8 RGB frames; read once, lazily.
        num_frames: frames per window ``t``.
        padding: temporal edge padding, see :func:`lgfn.data.windows.window_indices`.
        start: the first centre; frames before it are read, and the last few kept as context.
        batch: windows the caller holds back before running them, whose frames must stay.
    """

    def __init__(
        self, frames: Iterable[np.ndarray], num_frames: int, padding: str, start: int = 0, batch: int = 1
    ) -> None:
        self.frames = frames
        self.num_frames = num_frames
        self.padding = padding
        self.start = start
        self.batch = batch
        self.buffer: dict[int, np.ndarray] = {}
        self.received = 0
        self.ended = False

    def fetch(self, index: int) -> np.ndarray:
        """Frame ``index`` of the stream (one that a recent window needs)."""
        return self.buffer[index]

    def __iter__(self) -> Iterator[Window]:
        source = iter(self.frames)
        centre = self.start
        while True:
            # Enough frames for this centre's window whatever the final length turns out to be.
            self._pull(source, centre + self.num_frames)
            if centre >= self.received:
                return
            # Until the stream ends, frames received so far bound the length from below, which
            # fixes every window that ends before them.
            yield centre, window_indices(centre, self.num_frames, self.received, self.padding)
            # Drop frames that no later window can need; windows wait in batches before they run,
            # so the frames of the last `batch` windows stay.
            keep_from = centre + 1 - (self.num_frames - 1) - self.batch
            for old in [i for i in self.buffer if i < keep_from]:
                del self.buffer[old]
            centre += 1

    def _pull(self, source: Iterator[np.ndarray], upto: int) -> None:
        """Read frames until frame ``upto`` has arrived or the stream ends."""
        # No window from `start` on reaches back more than num_frames - 1 frames.
        first_needed = self.start - self.num_frames
        while not self.ended and self.received <= upto:
            try:
                frame = next(source)
            except StopIteration:
                self.ended = True
                return
            if self.received >= first_needed:
                self.buffer[self.received] = frame
            self.received += 1
