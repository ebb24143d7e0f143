"""Shared command-line helpers."""

from __future__ import annotations

import argparse
import os
import signal
import time

import pytest

from lgfn.cli.console import EXIT_INTERRUPTED, parse_size, run_main
from lgfn.training.signals import StopRequests


def test_parse_size_reads_either_order_into_h_w():
    assert parse_size("144x180") == (144, 180)
    assert parse_size("720X576", order="WxH") == (576, 720)


@pytest.mark.parametrize("text", ["144", "144x", "ax180", "0x180", "-4x8", "1x2x3"])
def test_parse_size_rejects_malformed_sizes(text):
    with pytest.raises(argparse.ArgumentTypeError, match=f"expected HxW, e.g. 144x180, got '{text}'"):
        parse_size(text)


def test_sigterm_is_ctrl_c_while_a_command_runs_and_a_command_may_take_it_over():
    """run_main turns SIGTERM into KeyboardInterrupt (exit 130, "interrupted"); training's own handler,
    installed inside, still only asks the run to stop; the previous handler comes back after."""
    before = signal.getsignal(signal.SIGTERM)

    def killed(argv):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler interrupts this
        return 0

    def training(argv):
        with StopRequests() as stop:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.01)  # let the handler run
        assert stop.requested == signal.SIGTERM
        return 0

    assert run_main(killed, []) == EXIT_INTERRUPTED
    assert run_main(training, []) == 0
    assert signal.getsignal(signal.SIGTERM) is before
