"""What every upscaler offers: the interface that evaluation and the streaming pipeline use."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol

import numpy as np
import torch


class Upscaler(Protocol):
    """An upscaler: :class:`~lgfn.inference.VideoSuperResolver`, :class:`~lgfn.inference.BicubicUpscaler`
    or anything with the same members.

    Frames are ``(h, w, 3)`` uint8 RGB in and ``(s*h, s*w, 3)`` uint8 RGB out, ``s`` = :attr:`scale`.
    """

    @property
    def scale(self) -> int:
        """The upscaling factor ``s``."""
        ...

    @property
    def num_frames(self) -> int:
        """Frames in the temporal window of one output frame (1 for a single-image method)."""
        ...

    @property
    def device(self) -> torch.device:
        """Where it computes (what its memory report is about)."""
        ...

    def upscale_clip(
        self, frames: Sequence[np.ndarray], indices: Sequence[int] | None = None
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(index, sr)`` for each of ``indices`` (default: every frame) of a whole clip."""
        ...

    def stream(self, frames: Iterable[np.ndarray], start: int = 0) -> Iterator[np.ndarray]:
        """Yield the output of every frame of a stream from index ``start`` on, in order."""
        ...
