"""Validation during training: score the current weights on the validation set with the evaluator,
keeping a few SR | GT crops for TensorBoard."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from lgfn.data.eval_datasets import EvalDataset
from lgfn.evaluation.evaluator import evaluate
from lgfn.inference import VideoSuperResolver
from lgfn.models.lgfn import LGFN

#: Side of the SR / GT crops written to TensorBoard, in HR pixels.
IMAGE_CROP = 192


def score_model(
    model: LGFN, dataset: EvalDataset, device: torch.device, precision: str, images: int
) -> tuple[dict[str, Any], list[tuple[str, np.ndarray]]]:
    """Super-resolve and score every clip of ``dataset`` with the weights of ``model`` (left as it is).

    Args:
        model: the network being trained.
        dataset: the validation clips.
        device: where to run.
        precision: ``val.precision``.
        images: how many crops to keep (``log.images``), one per clip at most.

    Returns:
        The evaluator's report (``report["average"]["psnr"]``, ``["ssim"]``, ``report["clips"]``) and
        ``(name, (c, 2c, 3) uint8)`` crops, SR beside GT, named ``<clip>/<frame index>``.
    """
    upscaler = VideoSuperResolver(model, device=device, precision=precision)  # runs its own copy
    crops: list[tuple[str, np.ndarray]] = []

    def keep_crop(key: str, index: int, sr: np.ndarray, gt: np.ndarray) -> None:
        if len(crops) < images and all(not name.startswith(f"{key}/") for name, _ in crops):
            crops.append((f"{key}/{index}", side_by_side(sr, gt)))

    report = evaluate(dataset, upscaler, progress=False, method="lgfn", frame_callback=keep_crop)
    return report, crops


def side_by_side(sr: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """A centre crop of ``sr`` beside the same crop of ``gt``.

    Args:
        sr, gt: ``(h, w, 3)`` uint8 frames.

    Returns:
        ``(c, 2c, 3)`` uint8, ``c = min(IMAGE_CROP, h, w)``.
    """
    h, w = gt.shape[:2]
    size = min(IMAGE_CROP, h, w)
    top, left = (h - size) // 2, (w - size) // 2
    window = (slice(top, top + size), slice(left, left + size))
    return np.concatenate([sr[window], gt[window]], axis=1)
