"""Several methods on the same clips: one report each and a side-by-side figure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lgfn.data.eval_datasets import FramesDataset
from lgfn.data.io import read_image
from lgfn.errors import ConfigError
from lgfn.evaluation.compare import compare_methods
from lgfn.inference import BicubicUpscaler


def test_compare_methods_writes_one_report_per_method_and_a_figure(
    tmp_path: Path, random_frames, offset_upscaler
) -> None:
    clips = {"a": random_frames(4, 48, 48, seed=5, high=250)}
    dataset = FramesDataset(clips)
    upscalers = {"bicubic": BicubicUpscaler(4), "offset": offset_upscaler(list(clips.values()), offsets=[2])}
    reports = compare_methods(
        dataset,
        upscalers,
        out_dir=tmp_path,
        figure_path=tmp_path / "fig.png",
        protocols={"offset": {"note": "test"}},
        progress=False,
    )
    assert [r["method"] for r in reports] == ["bicubic", "offset"]
    assert "note" not in reports[0]["protocol"] and reports[1]["protocol"]["note"] == "test"
    assert json.loads((tmp_path / "offset" / "metrics.json").read_text()) == reports[1]
    figure = read_image(tmp_path / "fig.png")
    assert figure.shape[1] > 3 * 288  # overview + two methods + ground truth
    with pytest.raises(ConfigError, match="not a scored frame"):
        compare_methods(
            dataset, {"bicubic": BicubicUpscaler(4)}, figure_path=tmp_path / "f.png", figure_frame=("a", 0)
        )
