"""Frames for judging an upscale by eye: the bicubic baseline and another upscaler's result in one
frame, labelled.

:class:`CompareUpscaler` is an :class:`~lgfn.inference.Upscaler` that runs a wrapped upscaler (LGFN)
and the bicubic baseline of the same scale on the same frames and composes each output frame in one
of the :data:`LAYOUTS`:

- ``split``: one frame at the output size, bicubic left of a fixed vertical divider at the middle,
  the wrapped upscaler right of it;
- ``wipe``: the same with a moving divider: it starts at the left edge and sweeps to the right edge
  and back every :data:`WIPE_SECONDS` seconds (``round(WIPE_SECONDS * fps)`` frames), easing at the
  edges: at output frame ``n`` of a period of ``p`` frames it stands at the fraction
  ``(1 - cos(2 pi n / p)) / 2`` of the width;
- ``side-by-side``: both whole frames at the output size, bicubic left, with a thin gap between.

Each part carries its name in a dark box at its top, sized by the frame's height. Where the divider
stands depends only on the output frame's index, so a resumed run writes the frames a whole run does.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence

import cv2
import numpy as np
import torch

from lgfn.data.degradations import bicubic_upscale
from lgfn.inference.upscaler import Upscaler

#: The ways to compose a comparison frame (see the module docstring).
LAYOUTS = ("split", "wipe", "side-by-side")
#: Seconds the ``wipe`` divider takes to cross the frame and come back.
WIPE_SECONDS = 4.0
#: The baseline's label.
BICUBIC_LABEL = "bicubic"

_FONT = cv2.FONT_HERSHEY_SIMPLEX
#: Hershey Simplex's cap height at font scale 1, in pixels.
_FONT_HEIGHT = 22
#: Label letters this fraction of the frame's height tall, and never fewer pixels than the minimum.
_LABEL_FRACTION = 1 / 28
_MIN_LABEL_PIXELS = 10
#: What is left of the picture's brightness under a label's box.
_BOX_SHADE = 0.3


def rule_width(height: int) -> int:
    """Pixels of the divider (``split``, ``wipe``) and of the gap (``side-by-side``) in frames of
    ``height``: even, so that an even width stays even (H.264), 2 up to 810 pixels high."""
    return 2 * max(1, round(height / 540))


def label_box(height: int, text: str) -> tuple[int, int]:
    """``(w, h)``: the pixels the label ``text`` covers, from the corner of its part, in frames of
    ``height`` (its box, with the margin to the frame's edge)."""
    scale, thickness, pad = _label_style(height)
    (w, h), baseline = cv2.getTextSize(text, _FONT, scale, thickness)
    return w + 3 * pad, h + baseline + 3 * pad


def wipe_fraction(index: int, period: int) -> float:
    """Where the ``wipe`` divider stands at output frame ``index``, as a fraction of the width (0: the
    left edge), with a sweep across and back every ``period`` frames."""
    return (1.0 - math.cos(2.0 * math.pi * (index % period) / period)) / 2.0


def wipe_period(fps: float) -> int:
    """Frames of one ``wipe`` sweep across and back at ``fps`` frames a second (at least 2)."""
    return max(2, round(WIPE_SECONDS * float(fps)))


class CompareUpscaler:
    """An upscaler whose frames show the bicubic baseline and ``upscaler``'s result together.

    Both see the same frames, read once: the wrapped upscaler streams them and the baseline upscales
    each centre frame when the wrapped upscaler yields its output, so memory holds the wrapped
    upscaler's window of frames and a few more.

    Args:
        upscaler: the upscaler to judge (LGFN), any :class:`~lgfn.inference.Upscaler`.
        layout: one of :data:`LAYOUTS`.
        label: ``upscaler``'s label.
        first: the input frame that is output frame 0 (``--start``): the wipe starts from there.
        period: frames of one ``wipe`` sweep across and back (:func:`wipe_period`).
    """

    def __init__(
        self, upscaler: Upscaler, layout: str, label: str = "LGFN", first: int = 0, period: int = 100
    ) -> None:
        if layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
        if period < 2:
            raise ValueError(f"the wipe's period must be at least 2 frames, got {period}")
        self.upscaler = upscaler
        self.layout = layout
        self.label = label
        self.first = first
        self.period = period

    @property
    def scale(self) -> int:
        return self.upscaler.scale

    @property
    def num_frames(self) -> int:
        return self.upscaler.num_frames

    @property
    def device(self) -> torch.device:
        return self.upscaler.device

    def upscale_clip(
        self, frames: Sequence[np.ndarray], indices: Sequence[int] | None = None
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(index, comparison)`` for each of ``indices`` (default: every frame) of a whole clip."""
        for index, sr in self.upscaler.upscale_clip(frames, indices):
            yield index, self.compose(index - self.first, bicubic_upscale(frames[index], self.scale), sr)

    def stream(self, frames: Iterable[np.ndarray], start: int = 0) -> Iterator[np.ndarray]:
        """Yield the comparison frame of every frame of a stream from index ``start`` on, in order."""
        held: dict[int, np.ndarray] = {}  # frames read whose output has not been yielded yet

        def read() -> Iterator[np.ndarray]:
            for index, frame in enumerate(frames):
                if index >= start:
                    held[index] = frame
                yield frame

        for index, sr in enumerate(self.upscaler.stream(read(), start), start):
            lr = held.pop(index)
            yield self.compose(index - self.first, bicubic_upscale(lr, self.scale), sr)

    def compose(self, index: int, bicubic: np.ndarray, sr: np.ndarray) -> np.ndarray:
        """The comparison frame of output frame ``index`` from the two upscalings ``(H, W, c)``.

        Returns:
            ``(H, W, c)`` (``split``, ``wipe``) or ``(H, 2W + g, c)`` (``side-by-side``, ``g`` =
            :func:`rule_width`), of the frames' type.
        """
        height, width = sr.shape[:2]
        rule = rule_width(height)
        white = np.iinfo(sr.dtype).max
        if self.layout == "side-by-side":
            gap = np.full((height, rule, sr.shape[2]), white, sr.dtype)
            frame = np.concatenate([bicubic, gap, sr], axis=1)
            _draw_label(frame, BICUBIC_LABEL, 0, width)
            _draw_label(frame, self.label, width + rule, frame.shape[1])
            return frame
        fraction = 0.5 if self.layout == "split" else wipe_fraction(index, self.period)
        divider = round(fraction * width)
        frame = sr.copy()
        frame[:, :divider] = bicubic[:, :divider]
        _draw_label(frame, BICUBIC_LABEL, 0, divider)
        _draw_label(frame, self.label, divider, width, right_aligned=True)
        frame[:, max(divider - rule // 2, 0) : divider + rule // 2] = white
        return frame


def _label_style(height: int) -> tuple[float, int, int]:
    """``(font scale, stroke thickness, padding)`` of labels in frames ``height`` pixels high."""
    letters = max(_MIN_LABEL_PIXELS, height * _LABEL_FRACTION)
    return letters / _FONT_HEIGHT, max(1, round(letters / 10)), max(2, round(letters * 0.4))


def _draw_label(frame: np.ndarray, text: str, left: int, right: int, right_aligned: bool = False) -> None:
    """Write ``text`` white on a dark box at the top of columns ``left:right`` of ``frame`` (in place),
    at the part's left corner or (``right_aligned``) its right one; cut off where the part ends."""
    if right <= left:
        return
    height = frame.shape[0]
    scale, thickness, pad = _label_style(height)
    box_w, box_h = label_box(height, text)
    x0 = right - box_w if right_aligned else left
    # The letters as coverage in [0, 1] over the whole label (OpenCV draws text on 8-bit images only),
    # then blended into the part's columns of it: any frame type, any channels.
    letters = np.zeros((box_h, box_w), np.uint8)
    (_, text_h), _ = cv2.getTextSize(text, _FONT, scale, thickness)
    cv2.putText(letters, text, (2 * pad, 2 * pad + text_h), _FONT, scale, 255, thickness, cv2.LINE_AA)
    cover = np.zeros((box_h, box_w, 1))
    cover[pad : box_h - pad, pad : box_w - pad] = 1.0 - _BOX_SHADE
    alpha = letters[..., None] / 255.0
    inside = slice(max(x0, left), min(x0 + box_w, right))
    columns = slice(inside.start - x0, inside.stop - x0)
    rows = min(box_h, height)
    region = frame[:rows, inside].astype(np.float64)
    shade, alpha = cover[:rows, columns], alpha[:rows, columns]
    region = region * (1.0 - shade)  # the dark box
    region = region * (1.0 - alpha) + np.iinfo(frame.dtype).max * alpha  # white letters over it
    frame[:rows, inside] = np.round(region).astype(frame.dtype)
