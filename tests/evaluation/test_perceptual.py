"""tLP (lgfn.evaluation.perceptual): the LPIPS trunk read from a file and never downloaded, tLP of
hand-built pairs, bad weight files, and tLP in an evaluation's outputs."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from lgfn.data.eval_datasets import FramesDataset
from lgfn.errors import CheckpointError, ConfigError
from lgfn.evaluation.evaluator import evaluate

pytest.importorskip("lpips")
torchvision = pytest.importorskip("torchvision")

from lgfn.evaluation.perceptual import TemporalLPIPS  # noqa: E402  (after the skip: needs lpips)


@pytest.fixture(scope="module")
def alexnet_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded untrained AlexNet's ``features`` layers, in torchvision's names (the trunk LPIPS uses)."""
    torch.manual_seed(0)
    state = {k: v for k, v in torchvision.models.alexnet().state_dict().items() if k.startswith("features.")}
    path = tmp_path_factory.mktemp("lpips") / "alexnet.pth"
    torch.save(state, path)
    return path


@pytest.fixture(scope="module")
def lpips(alexnet_weights: Path) -> TemporalLPIPS:
    return TemporalLPIPS(alexnet_weights)


def _frames(seed: int, num: int = 2, size: int = 64) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(num)]


def test_the_trunk_comes_from_the_file_not_the_network(alexnet_weights: Path, monkeypatch) -> None:
    def no_download(*args, **kwargs):
        raise AssertionError("tried to download weights")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_download)
    model = TemporalLPIPS(alexnet_weights).model
    state = torch.load(alexnet_weights, weights_only=True)
    assert torch.equal(model.net.slice1[0].weight, state["features.0.weight"])
    assert torch.equal(model.net.slice5[0].bias, state["features.10.bias"])  # named slice5.10 in lpips


def test_tlp_by_hand(lpips: TemporalLPIPS) -> None:
    a, b = _frames(0)
    assert lpips.distance(a, a) == 0
    moved = lpips.distance(a, b)
    assert moved > 0
    assert lpips.tlp(a, b, a, b) == 0  # the same change as the ground truth's
    assert lpips.tlp(a, a, a, b) == pytest.approx(moved)  # a frozen SR where the ground truth changes
    assert lpips.tlp(a, b, a, a) == pytest.approx(moved)  # a flickering SR on a still ground truth
    assert lpips.distance(a, b, crop_border=8) == pytest.approx(lpips.distance(a[8:-8, 8:-8], b[8:-8, 8:-8]))


def test_bad_weight_files(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no such file"):
        TemporalLPIPS(tmp_path / "missing.pth")
    (tmp_path / "junk.pth").write_bytes(b"junk")
    with pytest.raises(CheckpointError, match="not torchvision's AlexNet"):
        TemporalLPIPS(tmp_path / "junk.pth")
    torch.save({"features.0.weight": torch.zeros(1)}, tmp_path / "partial.pth")
    with pytest.raises(CheckpointError, match="not torchvision's AlexNet"):
        TemporalLPIPS(tmp_path / "partial.pth")


class GivenFrames:
    scale = 4

    def __init__(self, clip: list[np.ndarray]) -> None:
        self.clip = clip

    def upscale_clip(self, frames, indices=None):
        for index in indices:
            yield index, self.clip[index]


def test_evaluation_reports_tlp(lpips: TemporalLPIPS, tmp_path: Path) -> None:
    gt = _frames(1, num=4)
    sr = [gt[0], gt[1], gt[1], gt[3]]  # frame 2 frozen: its pairs differ from the ground truth's
    dataset = FramesDataset({"a": gt}, name="toy")  # scores frames 1, 2
    with pytest.raises(ConfigError, match="needs LPIPS weights"):
        evaluate(dataset, GivenFrames(sr), progress=False, metrics=("psnr", "ssim", "tlp"))
    report = evaluate(
        dataset,
        GivenFrames(sr),
        out_dir=tmp_path,
        progress=False,
        metrics=("psnr", "ssim", "tlp"),
        lpips=lpips,
    )
    assert report["clips"]["a"]["tlp"] == pytest.approx(lpips.distance(gt[1], gt[2]))
    with open(tmp_path / "per_frame.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["tlp"] != "" for row in rows] == [False, True]
    assert "tof" not in rows[0]
