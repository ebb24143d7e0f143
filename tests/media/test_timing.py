"""Frame rates and times as text: exact, and bounded before any exact arithmetic."""

from __future__ import annotations

from fractions import Fraction

import pytest

from lgfn.errors import LGFNError
from lgfn.media.timing import exact_number, parse_fps, start_frame


@pytest.mark.parametrize(
    ("text", "value"), [("29.97", Fraction(2997, 100)), ("90", 90), (".5", Fraction(1, 2)), ("1.5e3", 1500)]
)
def test_exact_number(text, value):
    assert exact_number(text) == value


@pytest.mark.parametrize("text", ["1e999999999", "1e-999999999", "0e999999999", "9" * 31, "1e31", "x", "1/2"])
def test_exact_number_refuses_what_would_not_fit_or_is_no_number(text):
    with pytest.raises(ValueError):
        exact_number(text)  # at once: Fraction("1e999999999") never returns


@pytest.mark.parametrize(
    ("value", "fps"),
    [
        ("30000/1001", Fraction(30000, 1001)),
        ("29.97", Fraction(2997, 100)),
        (25, 25),
        (29.97, Fraction(2997, 100)),
    ],
)
def test_parse_fps(value, fps):
    assert parse_fps(value) == fps


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1e999999999", "must be a positive number"),
        ("1e-999999999", "must be a positive number"),
        ("1e9", "out of range: expected a positive number such as 25 or 30000/1001 from 1/1000 to 1000"),
        ("1e-9", "out of range"),
        ("1/5000", "out of range"),
        ("29.970000000001", "whose terms FFmpeg cannot hold"),
        ("0", "must be positive"),
        ("-25", "must be positive"),
        (float("inf"), "must be a positive number"),
        ("fast", "must be a positive number"),
        ("25/0", "must be a positive number"),
    ],
)
def test_parse_fps_refuses_tiny_huge_and_unholdable_rates(value, message):
    with pytest.raises(LGFNError, match=message):
        parse_fps(value)


@pytest.mark.parametrize("text", ["1e999999999s", "1e999999999:00", "0:1e-999999999", "9" * 40])
def test_start_frame_refuses_unbounded_numbers_at_once(text):
    with pytest.raises(LGFNError, match="expected a frame number"):
        start_frame(text, Fraction(25))


def test_start_frame_takes_frames_and_times():
    assert start_frame("250", Fraction(25)) == 250
    assert start_frame("1:30", Fraction(25)) == 2250
    assert start_frame("1.5e1s", Fraction(30000, 1001)) == 449  # 15 s at 29.97: frame 449.55 is showing
