"""``python test.py`` stopped by SIGTERM in the middle of a clip: the frames it scored are kept, the
message says how many and what ``--resume`` does again, and the resumed run scores only the others and
writes what an uninterrupted run writes."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from lgfn.cli import evaluate
from lgfn.cli.console import run_main
from lgfn.data.io import write_image
from lgfn.inference import BicubicUpscaler
from tests.helpers import REPO, stop_with_sigterm, torch_threads

FRAMES = 300  # enough that the run is still in the clip when the signal comes


def _in_process(argv: list[str]) -> int:
    with torch_threads(1):  # as the subprocess ran
        return run_main(evaluate.main, argv)


def test_sigterm_in_a_clip_keeps_its_scored_frames(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    for i in range(FRAMES):
        write_image(tmp_path / "clips" / "long" / f"{i:04d}.png", rng.integers(0, 256, (96, 96, 3), np.uint8))
    argv = ["--dataset", "folder", "--data-root", str(tmp_path / "clips"), "--method", "bicubic"]
    argv += ["--metrics", "psnr,ssim,tof", "--save-images", "--no-progress", "--no-figures"]
    out, images = tmp_path / "out", tmp_path / "out" / "images" / "long"
    command = [sys.executable, str(REPO / "test.py"), *argv, "--out", str(out)]
    code, stderr = stop_with_sigterm(command, lambda: len(list(images.glob("*.png"))) >= 5, "5 frames")
    assert code == 130, stderr
    said = re.search(
        r"WARNING: clip long: (\d+) of its 298 scored frames are kept; --resume scores the other (\d+) and "
        r"runs 1 kept frame\(s\) again, unscored \(for the tof of frame (\d+)\)\n",
        stderr,
    )
    assert said, stderr
    kept, other, next_frame = map(int, said.groups())
    assert kept >= 4 and other == 298 - kept and next_frame == kept + 1  # frames 1..kept are kept
    lines = [json.loads(line) for line in (out / "partial.jsonl").read_text().splitlines()]
    assert [row["frame"] for line in lines if "frames" in line for row in line["rows"]] == list(
        range(1, kept + 1)
    )
    assert len(list(images.glob("*.png"))) in (kept, kept + 1)  # the frame in progress may have its image

    real, runs = BicubicUpscaler.upscale_clip, []

    def noted(self, frames, indices=None):
        runs.append(list(indices))
        return real(self, frames, indices)

    monkeypatch.setattr(BicubicUpscaler, "upscale_clip", noted)
    assert _in_process([*argv, "--out", str(out), "--resume"]) == 0
    assert runs == [list(range(kept, 299))]  # the kept frames are not scored again; frame `kept` runs for tOF
    assert _in_process([*argv, "--out", str(tmp_path / "whole")]) == 0
    for name in ("metrics.json", "per_frame.csv", "settings.json"):
        assert (out / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name
    assert len(list(images.glob("*.png"))) == 298
    assert not (out / "partial.jsonl").exists()
