"""Side-by-side figures: the crop finder and the layout of the zoomed panels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lgfn.data.io import read_image
from lgfn.visualize import choose_crop, save_side_by_side, side_by_side


def _flat_with_texture(y: int, x: int, size: int) -> np.ndarray:
    image = np.full((64, 80, 3), 120, np.uint8)
    rng = np.random.default_rng(0)
    image[y : y + size, x : x + size] = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    return image


def test_choose_crop_finds_the_textured_square() -> None:
    assert choose_crop(_flat_with_texture(20, 30, 16), 16) == (20, 30)
    assert choose_crop(_flat_with_texture(0, 64, 16), 16) == (0, 64)  # touching the right edge
    with pytest.raises(ValueError, match="does not fit"):
        choose_crop(_flat_with_texture(0, 0, 16), 65)


def test_side_by_side_layout(tmp_path: Path) -> None:
    gt = _flat_with_texture(20, 30, 16)
    method = np.zeros_like(gt)
    figure = save_side_by_side(
        tmp_path / "fig.png",
        [("Method\n1.00/0.1000", method), ("Ground truth", gt)],
        frame_label="clip, frame 3",
        crop_size=16,
    )
    np.testing.assert_array_equal(read_image(tmp_path / "fig.png"), figure)
    # The whole 64-row frame is enlarged x5 (to >= 288 rows); the 16-pixel crop is zoomed x20 to 320 rows.
    margin, gap = 8, 8
    assert figure.shape[0] > 320
    assert figure.shape[1] == 2 * margin + 80 * 5 + gap + 320 + gap + 320
    overview = figure[margin : margin + 320, margin : margin + 400]
    np.testing.assert_array_equal(overview[0, 0], gt[0, 0])
    assert (overview[20 * 5, 30 * 5 + 40] == (230, 30, 30)).all()  # top edge of the red box
    method_panel = figure[margin : margin + 320, margin + 400 + gap : margin + 400 + gap + 320]
    assert (method_panel == 0).all()
    gt_panel = figure[margin : margin + 320, margin + 400 + 2 * gap + 320 :][:, :320]
    # Nearest-neighbour zoom: every 20x20 block is one pixel of the crop at (20, 30).
    np.testing.assert_array_equal(gt_panel[::20, ::20], gt[20:36, 30:46])
    np.testing.assert_array_equal(gt_panel[19::20, 19::20], gt[20:36, 30:46])
    # Labels: dark text pixels in the white strip under each panel.
    assert (figure[margin + 320 :, margin + 400 + gap : margin + 400 + gap + 320] < 100).any()


def test_side_by_side_with_explicit_crop_and_errors() -> None:
    gt = _flat_with_texture(20, 30, 16)
    figure = side_by_side([("GT", gt)], crop=(0, 0), crop_size=32, min_height=64)
    assert figure[8:72, 8 + 80 + 8 :][:64, :64].shape == (64, 64, 3)
    np.testing.assert_array_equal(figure[8:72, 96:160][::2, ::2], gt[:32, :32])
    with pytest.raises(ValueError, match="expected uint8"):
        side_by_side([("a", gt[:32]), ("GT", gt)])
    with pytest.raises(ValueError, match="does not fit"):
        side_by_side([("GT", gt)], crop=(60, 0), crop_size=16)


def test_choose_crop_goes_where_the_methods_differ_most() -> None:
    """Not to the ground truth's most detailed square (strong texture, top left) but to the corner
    where the second method restores what the first (the baseline) loses (faint texture, bottom
    right), which is what the picture is for."""
    gt = _flat_with_texture(0, 0, 16)
    rng = np.random.default_rng(1)
    gt[44:64, 60:80] = rng.integers(100, 140, (20, 20, 3), dtype=np.uint8)
    blurred, restored = gt.copy(), gt.copy()
    blurred[44:64, 60:80] = 120
    assert choose_crop(gt, 16) == (0, 0)
    y, x = choose_crop(gt, 16, [blurred, restored])
    assert 44 <= y <= 48 and 60 <= x <= 64, (y, x)  # the whole square inside the restored corner
    assert choose_crop(gt, 16, [restored, blurred]) != (y, x)  # a loss on the baseline is no gain

    panels = [("Bicubic", blurred), ("LGFN", restored), ("GT", gt)]
    figure = side_by_side(panels, crop_size=16, min_height=64)
    # The ground-truth overview (1x, 64 rows) shows the red box at the chosen corner, not at (0, 0).
    overview = figure[8:72, 8:88]
    assert (overview[y, x + 8] == (230, 30, 30)).all() and not (overview[0, 8] == (230, 30, 30)).all()
