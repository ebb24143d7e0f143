"""scripts/check_data.py: the clip and frame counts of an unpacked benchmark against the published ones."""

from __future__ import annotations

import runpy
from pathlib import Path

import numpy as np
import pytest

from lgfn.errors import InputDataError, MissingDataError
from tests.helpers import REPO, write_folder

VID4 = {"calendar": 41, "city": 34, "foliage": 49, "walk": 47}


def _main():
    return runpy.run_path(str(REPO / "scripts" / "check_data.py"))["main"]


def _vid4(root: Path, counts: dict[str, int]) -> Path:
    for clip, count in counts.items():
        write_folder(root / "GT" / clip, [np.zeros((4, 4, 3), np.uint8)] * count)
    return root


def test_vid4_as_published(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = _vid4(tmp_path / "Vid4", VID4)
    assert _main()(["vid4", "--data-root", str(root)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["calendar", "41", "frames"]
    assert out[-2:] == [f"{root}: 4 clips, 171 frames", "matches the published vid4"]


def test_a_clip_cut_short_and_a_missing_one(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = _vid4(tmp_path / "Vid4", {"calendar": 41, "city": 30})
    assert _main()(["vid4", "--data-root", str(root)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[-4:] == [
        "differs from the published vid4: 2 clips, expected 4",
        "differs from the published vid4: city: 30 frames, expected 34",
        "differs from the published vid4: foliage: no frames, expected 49",
        "differs from the published vid4: walk: no frames, expected 47",
    ]


def test_missing_data_names_the_layout(tmp_path: Path) -> None:
    with pytest.raises(
        MissingDataError, match=r"^SPMCS folder not found: .*; --data-root sets ROOT; see data/README"
    ):
        _main()(["spmcs", "--data-root", str(tmp_path / "SPMCS")])


def test_a_16_bit_frame_folder_is_refused_as_test_py_would(tmp_path: Path, capsys) -> None:
    root = tmp_path / "mine"
    write_folder(root / "clip", [np.zeros((4, 4, 3), np.uint8)] * 2 + [np.zeros((4, 4, 3), np.uint16)])
    with pytest.raises(
        InputDataError, match=r"clip/00000002\.png: expected an 8-bit RGB image, got a 16-bit"
    ):
        _main()(["folder", "--data-root", str(root)])
    assert capsys.readouterr().out == ""  # no count printed as if the data were fine
