"""Shared command-line helpers."""

from __future__ import annotations

import argparse
import os
import signal
import time

import pytest
import torch

from lgfn.cli.console import EXIT_INTERRUPTED, EXIT_USER_ERROR, parse_size, run_main
from lgfn.training.signals import StopRequests
from tests.helpers import error_line


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


def _allocates_terabytes(argv):
    torch.empty(10**12, dtype=torch.float32)  # 4 TB: the CPU allocator refuses at once


_CUDA_OOM = (
    "CUDA out of memory. Tried to allocate 20.00 GiB. GPU 0 has a total capacity of 79.1 GiB of which "
    "1.2 GiB is free. Of the allocated memory 70 GiB is allocated by PyTorch"
)


@pytest.mark.parametrize(
    "failure, detail",
    [
        (
            _allocates_terabytes,
            "can't allocate memory: you tried to allocate 4000000000000 bytes (3,725.3 GiB)",
        ),
        (
            torch.OutOfMemoryError(_CUDA_OOM),
            "Tried to allocate 20.00 GiB. GPU 0 has a total capacity of 79.1",
        ),
        (MemoryError(), "(MemoryError)"),
        (
            RuntimeError("[enforce fail at alloc_cpu.cpp:127] not enough memory: you tried"),
            "not enough memory",
        ),
    ],
)
def test_running_out_of_memory_is_one_error_line_in_every_command(failure, detail, capsys):
    def main(argv):
        if callable(failure):
            failure(argv)
        raise failure

    assert run_main(main, []) == EXIT_USER_ERROR
    line = error_line(capsys)
    assert line.startswith("error: out of memory (") and detail in line
    assert "Of the allocated memory" not in line  # PyTorch's allocator statistics stay out of it
    assert "--tile 256" in line and "train.batch_size" in line


def test_other_runtime_errors_are_bugs_and_keep_their_traceback():
    def main(argv):
        raise RuntimeError("Expected all tensors to be on the same device")

    with pytest.raises(RuntimeError, match="same device"):
        run_main(main, [])
