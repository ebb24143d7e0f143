"""Fixtures of the evaluation tests: random clips, and an upscaler whose scores are known in closed form."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
import pytest


def _random_frames(num: int, h: int, w: int, seed: int, high: int = 256) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, high, (h, w, 3), dtype=np.uint8) for _ in range(num)]


class OffsetUpscaler:
    """Returns each clip's ground truth plus a constant per clip: its luma PSNR is known in closed form."""

    scale = 4

    def __init__(self, clips: Sequence[Sequence[np.ndarray]], offsets: Sequence[int]) -> None:
        self.clips = list(clips)
        self.offsets = list(offsets)
        self.calls = 0

    def upscale_clip(self, frames: Sequence[np.ndarray], indices: Sequence[int] | None = None) -> Iterator:
        gt, offset = self.clips[self.calls], self.offsets[self.calls]
        self.calls += 1
        for index in indices:
            assert frames[index].shape[:2] == (gt[index].shape[0] // 4, gt[index].shape[1] // 4)
            yield index, gt[index] + np.uint8(offset)


@pytest.fixture
def random_frames() -> Callable[..., list[np.ndarray]]:
    """``random_frames(num, h, w, seed, high=256)``: ``num`` random ``(h, w, 3)`` uint8 frames, < ``high``."""
    return _random_frames


@pytest.fixture
def offset_upscaler() -> type[OffsetUpscaler]:
    """The class :class:`OffsetUpscaler` (ground truth plus a constant per clip)."""
    return OffsetUpscaler
