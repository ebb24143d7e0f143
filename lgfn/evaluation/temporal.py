"""Temporal consistency: how much the motion between consecutive super-resolved frames differs from the
motion between the ground-truth frames (tOF, as in TecoGAN, Chu et al. 2020, and the video SR
literature since).

Per-frame PSNR/SSIM do not see flicker: a method can score well on every frame and still make the
frames jitter against each other. tOF compares motion instead of pixels. For two consecutive frames
``k-1, k`` of a clip:

    tOF(k) = mean over pixels of || F(SR[k-1], SR[k]) - F(GT[k-1], GT[k]) ||_2

where ``F`` is OpenCV's dense Farneback optical flow (pixels, ``(h, w, 2)``) computed on the frames'
grey images (``cv2.COLOR_RGB2GRAY`` of the 8-bit RGB frames, rounded to uint8, as TecoGAN's metric
code does) with TecoGAN's parameters (:data:`FARNEBACK_PARAMETERS`), after removing ``crop_border``
pixels at each side. The unit is pixels of the high-resolution frame; lower is better and 0 means
the same motion. A clip's tOF is the mean over its pairs of consecutive scored frames; a clip with a
single scored frame (Vimeo-90K-T scores only ``im4``) has none.
"""

from __future__ import annotations

import cv2
import numpy as np

#: ``cv2.calcOpticalFlowFarneback`` arguments after the two images and the initial flow: pyramid
#: scale 0.5, 3 levels, window 15, 3 iterations, polynomial neighbourhood 5, sigma 1.2, no flags.
FARNEBACK_PARAMETERS = (0.5, 3, 15, 3, 5, 1.2, 0)


def grey(frame: np.ndarray, crop_border: int = 0) -> np.ndarray:
    """The grey image the flow is computed on.

    Args:
        frame: ``(h, w, 3)`` uint8 RGB.
        crop_border: pixels removed from each side.

    Returns:
        ``(h - 2 * crop_border, w - 2 * crop_border)`` uint8.
    """
    image = cv2.cvtColor(np.ascontiguousarray(frame, dtype=np.uint8), cv2.COLOR_RGB2GRAY)
    if crop_border:
        image = image[crop_border:-crop_border, crop_border:-crop_border]
    return np.ascontiguousarray(image)


def farneback_flow(previous: np.ndarray, current: np.ndarray) -> np.ndarray:
    """Dense optical flow from ``previous`` to ``current``.

    Args:
        previous, current: grey images ``(h, w)`` uint8 (see :func:`grey`).

    Returns:
        ``(h, w, 2)`` float32: for each pixel of ``previous``, its displacement ``(dx, dy)`` in pixels.
    """
    return cv2.calcOpticalFlowFarneback(previous, current, None, *FARNEBACK_PARAMETERS)


def endpoint_difference(flow: np.ndarray, reference: np.ndarray) -> float:
    """The mean end-point distance between two flow fields.

    Args:
        flow, reference: ``(h, w, 2)`` displacements.

    Returns:
        ``mean(sqrt((dx - dx_ref)^2 + (dy - dy_ref)^2))`` in pixels.
    """
    difference = flow.astype(np.float64) - reference.astype(np.float64)
    return float(np.sqrt((difference**2).sum(axis=-1)).mean())


def tof(
    sr_previous: np.ndarray, sr: np.ndarray, gt_previous: np.ndarray, gt: np.ndarray, crop_border: int = 0
) -> float:
    """tOF of one pair of consecutive frames (see the module docstring).

    Args:
        sr_previous, sr: the super-resolved frames ``k-1`` and ``k``, ``(h, w, 3)`` uint8 RGB.
        gt_previous, gt: the ground-truth frames ``k-1`` and ``k``, the same shape.
        crop_border: pixels removed from each side before the flow is computed.

    Returns:
        The mean end-point difference of the two flows, in pixels.
    """
    sr_flow = farneback_flow(grey(sr_previous, crop_border), grey(sr, crop_border))
    gt_flow = farneback_flow(grey(gt_previous, crop_border), grey(gt, crop_border))
    return endpoint_difference(sr_flow, gt_flow)
