"""Exceptions a user can cause.

Every error that bad input, a wrong checkpoint or a bad config can trigger is an :class:`LGFNError`.
The command-line tools catch this one class, print its message without a traceback and exit with a
non-zero status; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


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
