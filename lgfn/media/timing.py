"""Frame rates and times given as text, read as exact fractions within bounds a video can hold.

``Fraction("1e999999999")`` builds a number of a billion digits (it never returns in practice), so
every number given as text is checked by :func:`exact_number` before any exact arithmetic: plain
decimals of at most :data:`MAX_DIGITS` digits and exponents of at most :data:`MAX_EXPONENT`. A frame
rate must then lie in ``[MIN_FPS, MAX_FPS]``, with a numerator and a denominator that FFmpeg's
32-bit rationals hold.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

from lgfn.errors import ConfigError, LGFNError

#: Frame rates a video output can be timed at: a frame every 1000 s up to 1000 frames per second
#: (Matroska's clock counts milliseconds).
MIN_FPS, MAX_FPS = Fraction(1, 1000), Fraction(1000)
#: FFmpeg stores a frame rate as two 32-bit integers.
MAX_RATIONAL_TERM = 2**31 - 1
#: Limits on a number written as text: digits, and the power of ten of its exponent.
MAX_DIGITS, MAX_EXPONENT = 30, 30

_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE]([+-]?\d+))?")


def exact_number(text: str) -> Fraction:
    """The exact value of a decimal such as ``"29.97"``, ``"90"`` or ``"1.5e3"``.

    Raises:
        ValueError: ``text`` is not such a number, or has more than :data:`MAX_DIGITS` digits or an
            exponent beyond :data:`MAX_EXPONENT`, which no frame rate or time needs.
    """
    text = text.strip()
    found = _DECIMAL.fullmatch(text)
    if found is None:
        raise ValueError(f"not a number: {text!r}")
    mantissa = text.lower().split("e")[0]
    exponent = found[1]
    if sum(c.isdigit() for c in mantissa) > MAX_DIGITS or (exponent and abs(int(exponent)) > MAX_EXPONENT):
        raise ValueError(f"{text!r} is out of range")
    return Fraction(text)


def parse_fps(value: str | float | Fraction) -> Fraction:
    """A frame rate as an exact fraction: ``"30000/1001"``, ``"29.97"``, ``25`` or a Fraction.

    Raises:
        LGFNError: the value is not a number, or not a rate in ``[MIN_FPS, MAX_FPS]`` that FFmpeg holds.
    """
    expected = "expected a positive number such as 25 or 30000/1001"
    try:
        if isinstance(value, float):  # its shortest decimal form: 29.97 means 2997/100, not the double
            value = repr(value) if math.isfinite(value) else "nan"
        if isinstance(value, str):
            top, _, bottom = value.partition("/")
            fps = exact_number(top) / (exact_number(bottom) if bottom else 1)
        else:
            fps = Fraction(value)
    except (ValueError, ZeroDivisionError, TypeError):
        raise LGFNError(
            f"frame rate must be a positive number such as 25 or 30000/1001, got {value!r}"
        ) from None
    if fps <= 0:
        raise LGFNError(f"frame rate must be positive, got {value!r}")
    if not MIN_FPS <= fps <= MAX_FPS:
        raise LGFNError(
            f"frame rate {value} is out of range: {expected} from {MIN_FPS} to {MAX_FPS} frames per "
            "second (a video that states another rate can be given its real one with --fps)"
        )
    if max(fps.numerator, fps.denominator) > MAX_RATIONAL_TERM:
        raise LGFNError(
            f"frame rate {value} is {fps}, whose terms FFmpeg cannot hold; give it with fewer digits, "
            "such as 29.97 or 30000/1001"
        )
    return fps


def start_frame(text: str, fps: Fraction) -> int:
    """``--start``: a frame index (``250``) or a time (``90s``, ``1:30``, ``0:01:30.5``) at ``fps``.

    Raises:
        ConfigError: ``text`` is neither, or lies before the first frame.
    """
    value = text.strip()
    try:
        if value.endswith("s") or ":" in value:
            seconds = Fraction(0)
            for part in value.removesuffix("s").split(":"):
                seconds = seconds * 60 + exact_number(part)
            frame = math.floor(seconds * fps)  # the frame shown at that instant
        else:
            if len(value) > MAX_DIGITS:
                raise ValueError(value)
            frame = int(value)
    except ValueError:
        raise ConfigError(
            f"--start {text!r}: expected a frame number (250) or a time (90s, 1:30, 0:01:30.5)"
        ) from None
    if frame < 0:
        raise ConfigError(f"--start {text!r} is before the first frame")
    return frame
