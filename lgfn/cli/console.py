"""What every command-line entry point shares: logging set-up, user-facing error handling (one
``error:`` line and an exit status) and the frame-size option type."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence

from lgfn.errors import LGFNError, memory_error

#: Exit status for errors the user can fix (bad input, wrong checkpoint, bad config).
EXIT_USER_ERROR = 2
#: Exit status after Ctrl-C, as shells report SIGINT.
EXIT_INTERRUPTED = 130
#: What an out-of-memory error line advises when the code that ran out did not say more itself.
MEMORY_ADVICE = (
    "the job needs more memory than is free; less is needed with --tile 256 and --batch 1 (lgfn upscale, "
    "test.py), a smaller --size (lgfn export), a smaller train.batch_size or data.lq_patch (train.py) "
    "or a smaller model"
)


def setup_logging(verbose: bool = False) -> None:
    """Log to stderr as ``level: message``; DEBUG when ``verbose``."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(levelname)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )


def run_main(main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None) -> int:
    """Run a CLI ``main(argv)``, turning user errors and Ctrl-C into one line and an exit status.

    An :class:`~lgfn.errors.LGFNError` prints ``error: <message>`` without a traceback and returns
    :data:`EXIT_USER_ERROR`; so does running out of CPU or GPU memory (``torch.OutOfMemoryError``,
    ``MemoryError``, an allocator's ``RuntimeError``), with :data:`MEMORY_ADVICE` where the code that
    ran out did not say more itself. Ctrl-C prints ``interrupted`` and returns :data:`EXIT_INTERRUPTED`.
    SIGTERM (``kill``, a scheduler's preemption) is taken as Ctrl-C while ``main`` runs, so that
    the command stops the same way: finished work kept, its lock released (a command may install
    its own handler inside, as training does). Any other exception is a bug and propagates with
    its traceback.

    Returns:
        The exit status for ``sys.exit``.
    """
    try:
        with sigterm_as_interrupt():
            return int(main(argv) or 0)
    except LGFNError as exc:
        _say(f"error: {exc}")
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        _say("interrupted")
        return EXIT_INTERRUPTED
    except Exception as exc:
        error = memory_error(exc, MEMORY_ADVICE)
        if error is None:
            raise
        _say(f"error: {error}")
        return EXIT_USER_ERROR


def _say(line: str) -> None:
    """Write one line to stderr in one write, so that the lines of processes sharing it (torchrun's)
    do not run into each other."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While active, SIGTERM raises :class:`KeyboardInterrupt` in the main thread, as Ctrl-C does;
    the previous handler comes back afterwards. Elsewhere than the main thread it does nothing
    (signal handlers belong to the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def parse_size(text: str, order: str = "HxW") -> tuple[int, int]:
    """Parse a command-line frame size ``"AxB"`` into ``(h, w)``.

    Args:
        text: two positive integers joined by ``x``, e.g. ``"144x180"``.
        order: how ``text`` is written: ``"HxW"`` or ``"WxH"``.

    Raises:
        argparse.ArgumentTypeError: ``text`` is not of that form (argparse prints it as a usage error).
    """
    try:
        a, b = (int(v) for v in text.lower().split("x"))
    except ValueError:
        a = b = 0
    if a < 1 or b < 1:
        example = "144x180" if order == "HxW" else "180x144"
        raise argparse.ArgumentTypeError(f"expected {order}, e.g. {example}, got {text!r}")
    return (a, b) if order == "HxW" else (b, a)
