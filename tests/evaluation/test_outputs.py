"""The output folder of an evaluation: kept apart from every input (data, LR frames, lists, checkpoints),
for one method or several, and claimed (made and locked) for one run at a time."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lgfn.errors import ConfigError, LGFNError
from lgfn.evaluation.evaluator import SINGLE_PROCESS
from lgfn.evaluation.outputs import check_apart, claimed_output


def test_inputs_apart_from_every_output(tmp_path: Path) -> None:
    out = tmp_path / "out"
    several = [out / "first", out / "second"]
    check_apart(out, several, [("--data-root", tmp_path / "data"), ("--lr-root", out / "lr")], images=True)
    refused = [
        (several, ("--lr-root", out / "second" / "images" / "lr"), "lies where the evaluation writes"),
        (several, ("the checkpoint", out / "first" / "metrics.json"), "lies where the evaluation writes"),
        ([out], ("--test-list", out / "partial.jsonl"), "lies where the evaluation writes"),
        ([out], ("--lpips-weights", out / "lock"), "lies where the evaluation writes"),
        (several, ("the checkpoint", out / "per_frame_psnr.png"), "lies where the evaluation writes"),
        ([out], ("--test-list", out / "comparison_calendar.png"), "where the evaluation writes its figures"),
        (several, ("--data-root", out / "first"), "the results would be written into --data-root"),
        ([out], ("--data-root", tmp_path), "the results would be written into --data-root"),
    ]
    for dirs, source, message in refused:
        with pytest.raises(ConfigError, match=message):
            check_apart(out, dirs, [source], images=True)
    check_apart(out, several, [("--lr-root", out / "second" / "images" / "lr")], images=False)


def test_through_a_symbolic_link(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "data")
    with pytest.raises(ConfigError, match=f"--out {tmp_path / 'link'}: the results would be written into"):
        check_apart(
            tmp_path / "link", [tmp_path / "link"], [("--data-root", tmp_path / "data")], images=False
        )


def test_claimed_output_is_locked_and_left_as_found(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with claimed_output(out, [out], [], False, SINGLE_PROCESS):
        assert (out / "lock").read_text() == str(os.getpid())
    assert not out.exists()  # made for a run that wrote nothing: gone again
    out.mkdir()
    (out / "lock").write_text(str(os.getppid()))  # another live process's
    with pytest.raises(LGFNError, match=f"another run \\(process {os.getppid()}\\) is writing {out}"):
        with claimed_output(out, [out], [], False, SINGLE_PROCESS):
            pass
    assert (out / "lock").read_text() == str(os.getppid())  # its lock is left alone
    (out / "lock").unlink()
    with pytest.raises(RuntimeError), claimed_output(out, [out], [], False, SINGLE_PROCESS):
        (out / "metrics.json").write_text("{}")
        raise RuntimeError
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json"]  # the lock released, the rest kept
