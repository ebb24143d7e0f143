"""Exceptions a user can cause.

Every error that bad input, a wrong checkpoint or a bad config can trigger is an :class:`LGFNError`.
The command-line tools catch this one class, print its message without a traceback and exit with a
non-zero status; anything else is a bug and keeps its traceback.
"""


class LGFNError(Exception):
    """Base class of the errors a user can cause; the message says what and where."""


class InputDataError(LGFNError):
    """A frame, clip, video or dataset folder is missing, unreadable or not what was expected."""


class CheckpointError(LGFNError):
    """A checkpoint file cannot be read or does not fit the model."""


class ConfigError(LGFNError):
    """A configuration file or override is invalid (unknown key, wrong type, bad value)."""
