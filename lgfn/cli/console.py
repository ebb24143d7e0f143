"""What every command-line entry point shares: logging set-up, user-facing error handling (one
``error:`` line and an exit status) and the frame-size option type."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from lgfn.errors import LGFNError

#: Exit status for errors the user can fix (bad input, wrong checkpoint, bad config).
EXIT_USER_ERROR = 2
#: Exit status after Ctrl-C, as shells report SIGINT.
EXIT_INTERRUPTED = 130


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
    :data:`EXIT_USER_ERROR`; Ctrl-C prints ``interrupted`` and returns :data:`EXIT_INTERRUPTED`.
    Any other exception is a bug and propagates with its traceback.

    Returns:
        The exit status for ``sys.exit``.
    """
    try:
        return int(main(argv) or 0)
    except LGFNError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


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
