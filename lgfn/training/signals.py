"""How a training run reacts to Ctrl-C and SIGTERM: stop after the iteration in progress, on every
process at the same iteration, while the loader workers keep serving."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

logger = logging.getLogger(__name__)

#: The signals that ask a run to stop: Ctrl-C and a scheduler's preemption.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequests:
    """While active, the first SIGINT (Ctrl-C) or SIGTERM only asks the run to stop after the iteration
    in progress (:attr:`requested` holds the signal); a second SIGINT interrupts at once.

    Signal handlers belong to the main thread: elsewhere (a run started from another thread) this
    does nothing and the signals keep their usual effect.
    """

    def __init__(self) -> None:
        self.requested: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopRequests:
        if threading.current_thread() is threading.main_thread():
            self._previous = {sig: signal.signal(sig, self._handle) for sig in STOP_SIGNALS}
        return self

    def __exit__(self, *exc_info: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    def _handle(self, signum: int, frame: object) -> None:
        if self.requested is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = signum
        logger.warning(
            "%s: stopping after this iteration to save a checkpoint (Ctrl-C again stops at once)",
            signal.Signals(signum).name,
        )


def ignore_stop_signals(worker_id: int) -> None:
    """Loader workers ignore Ctrl-C and SIGTERM: a terminal's Ctrl-C reaches the whole process group,
    and the loader must keep serving until every process has stopped at the same iteration (the
    main process shuts its workers down when it leaves).

    Args:
        worker_id: the DataLoader worker's index (a ``worker_init_fn`` receives it; unused).
    """
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
