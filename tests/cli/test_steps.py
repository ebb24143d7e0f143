"""A line per long step (lgfn.cli.steps): announced before, timed after, on stderr."""

from __future__ import annotations

import re

import pytest

from lgfn.cli.steps import step


def test_a_step_is_announced_then_timed_on_stderr(capsys):
    with step("counting"):
        print("the result")
    out, err = capsys.readouterr()
    assert out == "the result\n"
    first, second = err.splitlines()
    assert first == "counting ..." and re.fullmatch(r"counting: \d+\.\d s", second)


def test_a_failed_step_is_not_reported_as_done(capsys):
    with pytest.raises(ValueError), step("counting"):
        raise ValueError("bad")
    assert capsys.readouterr().err == "counting ...\n"
