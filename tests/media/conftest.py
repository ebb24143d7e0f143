"""What the tests of lgfn.media share: a folder's listing and a sink written part-way."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from lgfn.media import open_sink
from tests.helpers import NTSC_FILM


def _listing(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


def _write_some(path: Path, frames: list[np.ndarray], stop_after: int | None = None, **options) -> int:
    """Write ``frames`` from the sink's resume point on, raising KeyboardInterrupt after ``stop_after``;
    returns where the sink started."""
    sink = open_sink(path, fps=NTSC_FILM, crf=0, **options)
    with sink:
        for index, frame in enumerate(frames[sink.resume_from :]):
            if index == stop_after:
                raise KeyboardInterrupt
            sink.write(frame)
    return sink.resume_from


@pytest.fixture
def listing() -> Callable[[Path], list[str]]:
    """The sorted names in a folder."""
    return _listing


@pytest.fixture
def write_some() -> Callable[..., int]:
    """``write_some(path, frames, stop_after=None, **open_sink_options) -> resume_from``."""
    return _write_some
