"""scripts/bicubic_baseline.py: the evaluator with the bicubic upscaler on a folder of clips, printed
as the script always has, against scores computed frame by frame without the evaluator."""

from __future__ import annotations

import runpy

import numpy as np
import pytest

from lgfn.data.degradations import bicubic_upscale, crop_to_multiple, degrade
from lgfn.errors import InputDataError
from lgfn.metrics import calculate_psnr_ssim
from tests.helpers import REPO, write_folder


def _line(name: str, psnr: float, ssim: float) -> str:
    return f"{name:20s} {psnr:6.2f} / {ssim:.4f}    ({psnr:.4f} / {ssim:.5f})"


def test_prints_each_clip_and_the_average(tmp_path, random_frames, capsys) -> None:
    clips = {"b": random_frames(4, 18, 22, seed=1), "a": random_frames(3, 16, 20, seed=2)}
    for name, frames in clips.items():
        write_folder(tmp_path / name, frames)
    main = runpy.run_path(str(REPO / "scripts" / "bicubic_baseline.py"))["main"]
    assert main([str(tmp_path), "--degradation", "bd", "--crop-border", "2"]) == 0

    expected = {}
    for name in sorted(clips):
        scores = []
        for frame in clips[name][1:-1]:  # the first and last frames are not scored
            gt = crop_to_multiple(frame, 4)
            scores.append(calculate_psnr_ssim(bicubic_upscale(degrade(gt, 4, "bd"), 4), gt, crop_border=2))
        expected[name] = np.mean(scores, axis=0)
    average = np.mean(list(expected.values()), axis=0)
    lines = capsys.readouterr().out.splitlines()
    assert lines[:-1] == [
        "Bicubic x4, BD, luma PSNR (dB) / SSIM",
        *(_line(name, *scores) for name, scores in expected.items()),
        _line("average", *average),
    ]
    assert lines[-1].endswith(" s")

    with pytest.raises(InputDataError, match="^no clip folders in "):
        main([str(tmp_path / "a")])
    with pytest.raises(
        InputDataError, match=r"^ground-truth root not found: .*missing \(expected one folder"
    ):
        main([str(tmp_path / "missing")])
