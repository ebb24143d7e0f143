"""How much of the ONNX exporter's own output reaches the user.

``torch.onnx.export`` and its translator (onnxscript, onnx_ir) log at INFO every initializer they
merge and every constant they skip folding: about a hundred lines for LGFN, before the command's own
one line. By default that chatter is held back: shown only if the export fails, while the
exporter's warnings still pass. With logging at DEBUG (``lgfn -v export``) everything passes, the
exporter asked to describe its steps, and whatever it prints goes to stderr so that stdout keeps
the command's result.
"""

from __future__ import annotations

import contextlib
import io
import logging
import sys
from collections.abc import Iterator

#: The loggers the exporter writes to (each with its children).
EXPORTER_LOGGERS = (
    "torch.onnx",
    "torch.export",
    "torch._export",
    "torch._dynamo",
    "torch.fx",
    "onnxscript",
    "onnx_ir",
    "onnx",
)


def exporter_verbose() -> bool:
    """Whether the exporter's own lines should reach the user: logging is at DEBUG (``lgfn -v``)."""
    return logging.getLogger("lgfn.export").isEnabledFor(logging.DEBUG)


class _ToRoot(logging.Handler):
    """Hands a held logger's records to the root logger's handlers (used for its warnings)."""

    def emit(self, record: logging.LogRecord) -> None:
        logging.getLogger().handle(record)


@contextlib.contextmanager
def exporter_output(verbose: bool) -> Iterator[None]:
    """While active, the exporter's log lines and prints are held back (``verbose=False``), or pass
    with its prints sent to stderr (``verbose=True``).

    Held lines are written to stderr if the block raises, so that a failed export still says what
    the exporter did; warnings (``WARNING`` and above, and Python warnings) always pass.
    """
    if verbose:
        with contextlib.redirect_stdout(sys.stderr):
            yield
        return
    held = io.StringIO()
    keep = logging.StreamHandler(held)
    keep.setFormatter(logging.Formatter("%(levelname)s: %(name)s: %(message)s"))
    warnings = _ToRoot(logging.WARNING)
    saved = []
    for name in EXPORTER_LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, logger.propagate))
        logger.propagate = False  # its records stop here, not at the root's handler
        logger.addHandler(keep)
        logger.addHandler(warnings)
    try:
        with contextlib.redirect_stdout(held):
            yield
    except BaseException:
        sys.stderr.write(held.getvalue())
        raise
    finally:
        for logger, propagate in saved:
            logger.removeHandler(keep)
            logger.removeHandler(warnings)
            logger.propagate = propagate
