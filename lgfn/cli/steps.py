"""A line per step for the scripts whose steps run long with nothing else to show (a forward pass of
the paper's network on a CPU takes tens of seconds): what starts, then how long it took.

The lines go to stderr, so that what a script prints on stdout (a table, a JSON line) stays clean
for a pipe.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from typing import TextIO


@contextlib.contextmanager
def step(what: str, stream: TextIO | None = None) -> Iterator[None]:
    """Print ``what ...`` before the block and ``what: N.N s`` after it (nothing more if it raises).

    Args:
        what: the step, in a few words (``"counting multiply-accumulates"``).
        stream: where the lines go; default ``sys.stderr`` (looked up at each call).
    """
    out = stream if stream is not None else sys.stderr
    print(f"{what} ...", file=out, flush=True)
    started = time.perf_counter()
    yield
    print(f"{what}: {time.perf_counter() - started:.1f} s", file=out, flush=True)
