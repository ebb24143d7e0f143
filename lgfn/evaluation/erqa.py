"""ERQA: Edge Restoration Quality Assessment (MSU's video SR benchmark), the F1 score of the edges of a
super-resolved frame against those of its ground truth.

Our own numpy + OpenCV (headless) implementation of what the ``erqa`` package (1.1.2) computes; the
package itself needs ``opencv-python``, the GUI build of OpenCV, which cannot be installed beside
``opencv-python-headless`` (both own ``cv2``). For a frame ``SR`` against its ground truth ``GT``
(8-bit BGR, as the package reads them):

1. Global shift compensation: of the 49 shifts ``(dy, dx)`` in ``-3..3`` each way, the one whose
   overlap of ``SR`` moved by it and ``GT`` has the least mean squared error (the first such shift
   in row-major order on ties); both frames are cut to that overlap.
2. Edges: ``cv2.Canny(frame, 100, 200)`` of each cut 3-channel frame (aperture 3, L1 gradient).
3. Matching: an SR edge pixel is a true positive when a GT edge pixel lies at the same place or at
   one of its 8 neighbours, the neighbours taken cyclically as ``np.roll`` does (an edge on the
   top row may match one on the bottom row). Offsets are tried in the order ``0, -1, 1`` per axis.
   Version 1.0 lets one GT edge pixel match several SR pixels and counts as false negatives the GT
   edge pixels with no true positive at the same place. Version 1.1 (``penalize_wider_edges``) uses
   each GT edge pixel once, in that order, and its false negatives are the GT pixels left unused.
4. ``ERQA = F1 = 2 P R / (P + R)`` with ``P = TP / #SR edges``, ``R = TP / (TP + FN)``.

ERQA is in ``[0, 1]``, higher is better; a frame with edges against itself is 1. Where a frame pair
has no SR or no GT edges the package returns 0 and so do we; where both have edges but none match,
the package divides 0 by 0 (NaN) and we return 0, the limit of F1.

MSU's benchmark reports version 1.0 (the package's class default; its command line defaults to
1.1). ``test.py --metrics psnr,ssim,erqa`` measures 1.0, ``erqa1.1`` the other.
"""

from __future__ import annotations

import cv2
import numpy as np

#: ``test.py --metrics`` names: ``{name: ERQA version}``.
METRIC_VERSIONS = {"erqa": "1.0", "erqa1.1": "1.1"}
#: The package's versions: ``{version: whether each GT edge pixel may be matched only once}``.
VERSIONS = {"1.0": False, "1.1": True}
#: ``cv2.Canny`` hysteresis thresholds.
CANNY_THRESHOLDS = (100, 200)
#: Global compensation tries shifts up to this many pixels each way.
GLOBAL_SHIFT = 3
#: Edge matching offsets per axis, in the order they are tried (the unmoved place first).
MATCH_OFFSETS = (0, -1, 1)


def erqa(sr: np.ndarray, gt: np.ndarray, version: str = "1.0", crop_border: int = 0) -> float:
    """ERQA of one frame against its ground truth (see the module docstring).

    Args:
        sr: the super-resolved frame, ``(h, w, 3)`` uint8 RGB.
        gt: its ground truth, the same shape.
        version: ``"1.0"`` (MSU's) or ``"1.1"``.
        crop_border: pixels removed from each side first.

    Returns:
        The F1 score of the edges, in ``[0, 1]``.

    Raises:
        ValueError: an unknown version, or frames that are not the same ``(h, w, 3)`` shape.
    """
    if version not in VERSIONS:
        raise ValueError(f"ERQA version {version!r}: expected one of {', '.join(VERSIONS)}")
    if sr.shape != gt.shape or sr.ndim != 3 or sr.shape[2] != 3:
        raise ValueError(f"ERQA compares two (h, w, 3) frames of one shape, got {sr.shape} and {gt.shape}")
    if crop_border:
        sr = sr[crop_border:-crop_border, crop_border:-crop_border]
        gt = gt[crop_border:-crop_border, crop_border:-crop_border]
    sr, gt = sr[..., ::-1], gt[..., ::-1]  # BGR: Canny keeps the first channel of equal gradients
    sr, gt = overlap(sr, gt, *best_shift(sr, gt))
    sr_edges, gt_edges = edges(sr), edges(gt)
    if VERSIONS[version]:
        matched, missed = match_once(sr_edges, gt_edges)
    else:
        matched = sr_edges & neighbourhood(gt_edges)
        missed = gt_edges & ~matched
    return f1(int(sr_edges.sum()), int(matched.sum()), int(missed.sum()))


def overlap(sr: np.ndarray, gt: np.ndarray, dy: int, dx: int) -> tuple[np.ndarray, np.ndarray]:
    """The parts of ``sr`` and ``gt`` that cover each other when ``sr`` is moved by ``(-dy, -dx)``:
    ``sr[y + dy, x + dx]`` faces ``gt[y, x]``."""
    (sr_rows, gt_rows), (sr_cols, gt_cols) = _spans(dy, sr.shape[0]), _spans(dx, sr.shape[1])
    return sr[sr_rows, sr_cols], gt[gt_rows, gt_cols]


def _spans(shift: int, size: int) -> tuple[slice, slice]:
    """The ranges of one axis of ``sr`` and ``gt`` that face each other under ``shift``."""
    if shift >= 0:
        return slice(shift, size), slice(0, size - shift)
    return slice(0, size + shift), slice(-shift, size)


def best_shift(sr: np.ndarray, gt: np.ndarray) -> tuple[int, int]:
    """The shift ``(dy, dx)`` of the global compensation: the least mean squared error of the
    overlap, the first in row-major order on ties."""
    best, best_error = (0, 0), None
    shifts = range(-GLOBAL_SHIFT, GLOBAL_SHIFT + 1)
    for dy in shifts:
        for dx in shifts:
            a, b = overlap(sr, gt, dy, dx)
            difference = a.astype(np.int32) - b
            # An exact integer sum over a count: the same float as a float64 mean of the squares.
            error = int(np.einsum("ijk,ijk->", difference, difference, dtype=np.int64)) / difference.size
            if best_error is None or error < best_error:
                best, best_error = (dy, dx), error
    return best


def edges(frame: np.ndarray) -> np.ndarray:
    """The Canny edges of a ``(h, w, 3)`` uint8 frame, ``(h, w)`` bool."""
    return cv2.Canny(np.ascontiguousarray(frame), *CANNY_THRESHOLDS) > 0


def neighbourhood(mask: np.ndarray) -> np.ndarray:
    """``mask`` spread to the 8 neighbours of each pixel, cyclically at the borders."""
    spread = np.zeros_like(mask)
    for dy in MATCH_OFFSETS:
        for dx in MATCH_OFFSETS:
            spread |= np.roll(mask, (dy, dx), axis=(0, 1))
    return spread


def match_once(sr_edges: np.ndarray, gt_edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Version 1.1's matching: each GT edge pixel matches at most one SR edge pixel, offsets tried in
    :data:`MATCH_OFFSETS` order (cyclic at the borders).

    Returns:
        The matched SR pixels (true positives) and the unused GT pixels (false negatives).
    """
    matched = np.zeros_like(sr_edges)
    unused = gt_edges.copy()
    for dy in MATCH_OFFSETS:
        for dx in MATCH_OFFSETS:
            hits = sr_edges & ~matched & np.roll(unused, (dy, dx), axis=(0, 1))
            matched |= hits
            unused &= ~np.roll(hits, (-dy, -dx), axis=(0, 1))
    return matched, unused


def f1(sr_count: int, true_positives: int, false_negatives: int) -> float:
    """The F1 score from the number of SR edge pixels, the matched ones and the missed GT ones (0
    when there is nothing to match or nothing matched)."""
    if sr_count == 0 or true_positives + false_negatives == 0 or true_positives == 0:
        return 0.0
    precision = true_positives / sr_count
    recall = true_positives / (true_positives + false_negatives)
    return 2 * precision * recall / (precision + recall)
