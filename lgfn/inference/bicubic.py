"""The bicubic baseline (MATLAB-compatible) as an :class:`~lgfn.inference.Upscaler`."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import torch

from lgfn.data.degradations import bicubic_upscale


class BicubicUpscaler:
    """The bicubic baseline behind the :class:`~lgfn.inference.VideoSuperResolver` interface.

    Args:
        scale: upsampling factor.
    """

    def __init__(self, scale: int = 4) -> None:
        self.scale = scale
        self.num_frames = 1
        self.device = torch.device("cpu")

    def upscale_clip(
        self, frames: Sequence[np.ndarray], indices: Sequence[int] | None = None
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(index, bicubic(frames[index]))`` for each index (default all), uint8 RGB."""
        for i in range(len(frames)) if indices is None else indices:
            yield i, bicubic_upscale(frames[i], self.scale)

    def stream(self, frames: Iterable[np.ndarray], start: int = 0) -> Iterator[np.ndarray]:
        """Yield the bicubic upscaling of every frame from index ``start`` on, in order."""
        for frame in itertools.islice(frames, start, None):
            yield bicubic_upscale(frame, self.scale)
