"""Exceptions a user can cause.

Every error that bad input, a wrong checkpoint or a bad config can trigger is an :class:`LGFNError`.
The command-line tools catch this one class, print its message without a traceback and exit with a
non-zero status; so they do with running out of memory (:func:`out_of_memory_detail` recognises it,
:func:`memory_error` words it). Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import re


class LGFNError(Exception):
    """Base class of the errors a user can cause; the message says what and where."""


class InputDataError(LGFNError):
    """A frame, clip, video or dataset folder is missing, unreadable or not what was expected."""


#: What each path argument stands for in the layouts of :class:`MissingDataError`.
LAYOUT_PLACEHOLDERS = {"root": "ROOT", "lr_root": "LR_ROOT", "test_list": "the list"}


class MissingDataError(InputDataError):
    """A dataset folder or list that is not where the layout puts it; the message says what was looked
    for, the layout expected and where to read about it (``data/README.md``).

    Args:
        problem: what is missing and where it was looked for.
        layout: the expected layout, written with the placeholders of :data:`LAYOUT_PLACEHOLDERS`.
        option: which path argument set where it was looked for (a key of :data:`LAYOUT_PLACEHOLDERS`).
        option_name: how the user spells that argument (``--data-root``, ``val.root``), if known.
    """

    def __init__(
        self, problem: str, layout: str, option: str = "root", option_name: str | None = None
    ) -> None:
        self.problem, self.layout, self.option, self.option_name = problem, layout, option, option_name
        sets = f"; {option_name} sets {LAYOUT_PLACEHOLDERS[option]}" if option_name else ""
        super().__init__(f"{problem} (expected {layout}{sets}; see data/README.md)")

    def __reduce__(self) -> tuple:  # picklable (data-loader workers) despite the extra arguments
        return MissingDataError, (self.problem, self.layout, self.option, self.option_name)

    def naming(self, option_name: str) -> MissingDataError:
        """The same error, naming the option that sets the path as the user spells it."""
        return MissingDataError(self.problem, self.layout, self.option, option_name)


class CheckpointError(LGFNError):
    """A checkpoint file cannot be read or does not fit the model."""


class ConfigError(LGFNError):
    """A configuration file or override is invalid (unknown key, wrong type, bad value)."""


class OutOfMemory(LGFNError):
    """A model, frame or batch that does not fit in the CPU's or GPU's memory; the message says what was
    being done and how to need less."""


#: How allocators word a failed allocation: PyTorch's CPU allocator, CUDA, ONNX Runtime, C++.
_ALLOCATION_FAILURES = (
    "can't allocate memory",
    "not enough memory",
    "out of memory",
    "failed to allocate memory",
    "bad_alloc",
    "bad allocation",
)


def out_of_memory_detail(exc: BaseException) -> str | None:
    """What an allocation failure said, in one short line; ``None`` when ``exc`` is no allocation failure.

    Allocation failures are ``torch.OutOfMemoryError`` (CUDA), ``MemoryError`` and the ``RuntimeError``
    (or ONNX Runtime error) whose message says an allocation failed, e.g. ``DefaultCPUAllocator: can't
    allocate memory``.
    """
    import torch  # here, so that importing the errors stays light

    text = str(exc)
    if not isinstance(exc, (torch.OutOfMemoryError, MemoryError)) and not (
        isinstance(exc, Exception) and any(words in text.lower() for words in _ALLOCATION_FAILURES)
    ):
        return None
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    line = lines[0] if lines else type(exc).__name__
    if "] err == 0. " in line:  # c10's "[enforce fail at alloc_cpu.cpp:N] err == 0. " says nothing more
        line = line.split("] err == 0. ", 1)[1]
    line = line.split(" Including non-PyTorch memory")[0].split(" Of the allocated memory")[0]
    asked = re.search(r"allocate (\d+) bytes", line)
    if asked:
        line = line.replace(asked.group(0), f"{asked.group(0)} ({int(asked.group(1)) / 2**30:,.1f} GiB)")
    return line if len(line) <= 240 else line[:237] + "..."


def memory_error(exc: BaseException, advice: str, doing: str = "") -> OutOfMemory | None:
    """``exc`` as one :class:`OutOfMemory` line (``out of memory [while <doing>] (<detail>); <advice>``),
    or ``None`` when it is no allocation failure."""
    detail = out_of_memory_detail(exc)
    if detail is None:
        return None
    return OutOfMemory(f"out of memory{' while ' + doing if doing else ''} ({detail}); {advice}")
