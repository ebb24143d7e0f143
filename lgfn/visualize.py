"""Side-by-side comparison figures in the style of the paper's visual results.

The figure shows, left to right: the whole ground-truth frame with a red box around a detailed
region, then that region zoomed (nearest neighbour, so pixels stay visible) for each method and for
the ground truth, each with a label under it::

    +-------------+  +--------+  +--------+  +--------+
    |   [  ]      |  |        |  |        |  |        |
    |  full frame |  | crop 1 |  | crop 2 |  |  GT    |
    +-------------+  +--------+  +--------+  +--------+
    calendar, frame 20   Bicubic       LGFN         GT
    (why that frame,     frame 20:     frame 20:
     how the box)        24.21 dB ...  27.30 dB ...

``test.py`` labels each crop with its method and the PSNR/SSIM of that frame (the frame's row of
``per_frame.csv``), and captions the whole frame with the clip, the frame and how the box was chosen
(:mod:`lgfn.evaluation.compare`).

:func:`choose_crop` picks the region where the methods differ most against the ground truth: where the
best method's error is smallest next to the first method's (bicubic in ``test.py``), so that the
crops show what tells the methods apart; with a single method, the ground truth's most detailed
region.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from lgfn.data.io import write_image
from lgfn.metrics import rgb_to_y

_BOX_COLOUR = (230, 30, 30)
_BACKGROUND = 255
_GAP = 8
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def choose_crop(image: np.ndarray, size: int, methods: Sequence[np.ndarray] = ()) -> tuple[int, int]:
    """The top-left corner of the ``size`` x ``size`` square that best shows the methods apart.

    With two or more ``methods`` (their outputs for the frame ``image``; the first is the baseline,
    bicubic in ``test.py``): the square where the best of the others gains most on the first, the
    largest mean over the square of ``|first - gt| - min(|other - gt|)`` in luma. For LGFN against
    bicubic that is where LGFN restores what bicubic blurs (stripes, edges, text), not a flat
    background or an edge both render alike. Otherwise: the square of ``image`` with the most
    detail, the mean absolute Laplacian of its luma (flat regions such as sky and walls score low).

    Args:
        image: ``(h, w, 3)`` uint8 RGB, the ground truth, ``h, w >= size``.
        size: side of the square in pixels.
        methods: the methods' outputs, each ``(h, w, 3)`` uint8 RGB like ``image``, baseline first.

    Returns:
        ``(y, x)`` of the square's top-left pixel.
    """
    h, w = image.shape[:2]
    if size > min(h, w):
        raise ValueError(f"crop of {size} pixels does not fit a {w}x{h} image")
    truth = rgb_to_y(image).astype(np.float32)
    if len(methods) >= 2:
        errors = [np.abs(rgb_to_y(output).astype(np.float32) - truth) for output in methods]
        score = errors[0] - np.min(errors[1:], axis=0)
    else:
        score = np.abs(cv2.Laplacian(truth, cv2.CV_32F))
    # Sum of the score over every size x size window, anchored at its top-left corner.
    window_sum = cv2.boxFilter(
        score, -1, (size, size), anchor=(0, 0), normalize=False, borderType=cv2.BORDER_CONSTANT
    )
    valid = window_sum[: h - size + 1, : w - size + 1]
    y, x = np.unravel_index(int(np.argmax(valid)), valid.shape)
    return int(y), int(x)


def default_crop_size(h: int, w: int) -> int:
    """The zoomed square's side for an ``h`` x ``w`` frame: a third of the shorter side, at least 16."""
    return min(max(16, min(h, w) // 3), h, w)


def _label(width: int, text: str) -> np.ndarray:
    """A white strip ``(height, width, 3)`` with ``text`` (lines split on ``\\n``) centred in black."""
    lines = text.split("\n")
    scale = 0.5
    widest = max(cv2.getTextSize(line, _FONT, scale, 1)[0][0] for line in lines)
    if widest > width - 4:
        scale *= (width - 4) / widest
    line_height = int(math.ceil(cv2.getTextSize("Ag", _FONT, scale, 1)[0][1] * 1.8)) + 2
    strip = np.full((line_height * len(lines) + 6, width, 3), _BACKGROUND, np.uint8)
    for i, line in enumerate(lines):
        text_width = cv2.getTextSize(line, _FONT, scale, 1)[0][0]
        origin = ((width - text_width) // 2, (i + 1) * line_height)
        cv2.putText(strip, line, origin, _FONT, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return strip


def _labelled(image: np.ndarray, text: str) -> np.ndarray:
    return np.concatenate([image, _label(image.shape[1], text)], axis=0)


def side_by_side(
    panels: Sequence[tuple[str, np.ndarray]],
    crop: tuple[int, int] | None = None,
    crop_size: int | None = None,
    frame_label: str = "",
    min_height: int = 288,
) -> np.ndarray:
    """Build the comparison figure.

    Args:
        panels: ``(label, image)`` pairs in display order, all ``(h, w, 3)`` uint8 RGB of the same
            size; the last one is shown whole with the crop box (normally the ground truth). A
            label may hold several lines separated by ``\\n``.
        crop: top-left ``(y, x)`` of the zoomed square (default: :func:`choose_crop`: where the
            other panels, the first as the baseline, differ most against the last).
        crop_size: side of the square (default: :func:`default_crop_size`).
        frame_label: caption under the whole frame.
        min_height: the whole frame is enlarged (nearest neighbour, by an integer factor) to at
            least this height so small frames stay legible.

    Returns:
        The figure, ``(H, W, 3)`` uint8 RGB.
    """
    if not panels:
        raise ValueError("side_by_side needs at least one panel")
    shape = panels[-1][1].shape
    for label, image in panels:
        if image.shape != shape or image.dtype != np.uint8:
            raise ValueError(f"panel {label!r} is {image.dtype} {image.shape}, expected uint8 {shape}")
    h, w = shape[:2]
    if crop_size is None:
        crop_size = default_crop_size(h, w)
    if crop is None:
        crop = choose_crop(panels[-1][1], crop_size, [image for _, image in panels[:-1]])
    y, x = crop
    if not (0 <= y <= h - crop_size and 0 <= x <= w - crop_size):
        raise ValueError(f"crop ({y}, {x}) of {crop_size} pixels does not fit a {w}x{h} frame")

    frame_zoom = max(1, math.ceil(min_height / h))
    height = h * frame_zoom
    overview = panels[-1][1].repeat(frame_zoom, axis=0).repeat(frame_zoom, axis=1).copy()
    thickness = max(2, height // 150)
    corner = (x * frame_zoom, y * frame_zoom)
    far_corner = ((x + crop_size) * frame_zoom - 1, (y + crop_size) * frame_zoom - 1)
    cv2.rectangle(overview, corner, far_corner, _BOX_COLOUR, thickness)

    # Each zoomed crop is as tall as the enlarged frame (integer factor, nearest neighbour).
    crop_zoom = max(1, height // crop_size)
    columns = [_labelled(overview, frame_label)]
    for label, image in panels:
        patch = image[y : y + crop_size, x : x + crop_size]
        patch = patch.repeat(crop_zoom, axis=0).repeat(crop_zoom, axis=1)
        columns.append(_labelled(patch, label))

    total_height = max(column.shape[0] for column in columns)
    parts = []
    for i, column in enumerate(columns):
        pad = total_height - column.shape[0]
        parts.append(np.pad(column, ((0, pad), (0, 0), (0, 0)), constant_values=_BACKGROUND))
        if i < len(columns) - 1:
            parts.append(np.full((total_height, _GAP, 3), _BACKGROUND, np.uint8))
    figure = np.concatenate(parts, axis=1)
    return np.pad(figure, ((_GAP, _GAP), (_GAP, _GAP), (0, 0)), constant_values=_BACKGROUND)


def save_side_by_side(path: str | Path, panels: Sequence[tuple[str, np.ndarray]], **kwargs) -> np.ndarray:
    """Build :func:`side_by_side` and write it as an image (PNG recommended).

    Args:
        path: destination file; parent folders are created.
        panels: as :func:`side_by_side`.
        **kwargs: passed on to :func:`side_by_side`.

    Returns:
        The figure that was written.
    """
    figure = side_by_side(panels, **kwargs)
    write_image(path, figure)
    return figure
