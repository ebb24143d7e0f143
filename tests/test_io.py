"""Frame reading: valid frames round-trip exactly; every kind of bad frame gives one clear error."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from lgfn.data.io import list_frames, read_clip, read_image, write_image
from lgfn.errors import InputDataError
from tests.helpers import write_png_claiming


def _random_rgb(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_write_then_read_png_is_lossless(tmp_path: Path) -> None:
    image = _random_rgb(13, 17)
    write_image(tmp_path / "a" / "b" / "frame.png", image)
    back = read_image(tmp_path / "a" / "b" / "frame.png")
    assert back.dtype == np.uint8 and back.shape == (13, 17, 3)
    np.testing.assert_array_equal(back, image)
    back[0, 0] = 0  # the returned frame is writable


def test_read_gives_rgb_order_as_another_decoder_sees_it(tmp_path: Path) -> None:
    image = _random_rgb(8, 9, seed=1)
    # OpenCV stores BGR: write with it and check read_image returns the channels in RGB order.
    cv2.imwrite(str(tmp_path / "bgr.png"), image[..., ::-1])
    np.testing.assert_array_equal(read_image(tmp_path / "bgr.png"), image)


def test_bmp_and_jpeg_are_read(tmp_path: Path) -> None:
    image = _random_rgb(16, 16, seed=2)
    Image.fromarray(image).save(tmp_path / "f.bmp")
    np.testing.assert_array_equal(read_image(tmp_path / "f.bmp"), image)
    flat = np.full((16, 16, 3), (200, 30, 90), dtype=np.uint8)
    Image.fromarray(flat).save(tmp_path / "f.jpg", quality=95)
    got = read_image(tmp_path / "f.jpg")
    assert got.shape == (16, 16, 3)
    assert np.abs(got.astype(int) - flat).max() <= 3  # lossy, but a flat colour survives


def test_palette_png_is_expanded_to_rgb(tmp_path: Path) -> None:
    image = np.zeros((4, 6, 3), dtype=np.uint8)
    image[:, 3:] = (10, 200, 40)
    Image.fromarray(image).convert("P", palette=Image.Palette.ADAPTIVE, colors=4).save(tmp_path / "p.png")
    np.testing.assert_array_equal(read_image(tmp_path / "p.png"), image)


def test_missing_frame(tmp_path: Path) -> None:
    with pytest.raises(InputDataError, match=r"frame not found: .*nope\.png"):
        read_image(tmp_path / "nope.png")


def test_not_an_image(tmp_path: Path) -> None:
    (tmp_path / "x.png").write_bytes(b"this is not an image")
    with pytest.raises(InputDataError, match=r"x\.png: not a readable image"):
        read_image(tmp_path / "x.png")


@pytest.mark.parametrize("fraction", [0.3, 0.8, 0.99])
def test_truncated_png_is_detected(tmp_path: Path, fraction: float) -> None:
    buffer = io.BytesIO()
    Image.fromarray(_random_rgb(64, 64, seed=3)).save(buffer, format="PNG")
    data = buffer.getvalue()
    (tmp_path / "t.png").write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(InputDataError, match=r"t\.png: corrupt or truncated"):
        read_image(tmp_path / "t.png")


def test_truncated_jpeg_is_detected(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    Image.fromarray(_random_rgb(64, 64, seed=4)).save(buffer, format="JPEG")
    data = buffer.getvalue()
    (tmp_path / "t.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputDataError, match=r"t\.jpg: corrupt or truncated"):
        read_image(tmp_path / "t.jpg")


@pytest.mark.parametrize(
    ("array", "expected"),
    [
        (np.zeros((5, 5), np.uint8), "grey-scale"),
        (np.zeros((5, 5, 4), np.uint8), "RGBA"),
        (np.zeros((5, 5), np.uint16), "16-bit grey-scale"),
        (np.zeros((5, 5, 3), np.uint16), "16-bit RGB PNG"),
    ],
)
def test_non_rgb_frames_are_rejected_with_what_was_expected(
    tmp_path: Path, array: np.ndarray, expected: str
) -> None:
    cv2.imwrite(str(tmp_path / "odd.png"), array)
    pattern = r"odd\.png: expected (a 3-channel|an 8-bit) RGB image, got"
    with pytest.raises(InputDataError, match=pattern) as info:
        read_image(tmp_path / "odd.png")
    assert expected in str(info.value)


def test_list_frames_sorts_and_filters(tmp_path: Path) -> None:
    for name in ["b.png", "a.PNG", "c.jpg", "d.jpeg", "e.bmp", "notes.txt"]:
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "sub.png").mkdir()
    names = [p.name for p in list_frames(tmp_path)]
    assert names == ["a.PNG", "b.png", "c.jpg", "d.jpeg", "e.bmp"]


def test_list_frames_errors(tmp_path: Path) -> None:
    with pytest.raises(InputDataError, match=r"clip folder not found: .*missing"):
        list_frames(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no frames")
    with pytest.raises(InputDataError, match=r"no frames in .*empty"):
        list_frames(tmp_path / "empty")
    (tmp_path / "file.png").write_bytes(b"")
    with pytest.raises(InputDataError, match="expected a folder"):
        list_frames(tmp_path / "file.png")


def test_read_clip_checks_sizes(tmp_path: Path) -> None:
    write_image(tmp_path / "0.png", _random_rgb(8, 10))
    write_image(tmp_path / "1.png", _random_rgb(8, 10, seed=5))
    write_image(tmp_path / "2.png", _random_rgb(8, 12))
    frames = read_clip(list_frames(tmp_path)[:2])
    assert len(frames) == 2 and all(f.shape == (8, 10, 3) for f in frames)
    with pytest.raises(InputDataError, match=r"2\.png: frame size 12x8 differs .*0\.png \(10x8\)"):
        read_clip(list_frames(tmp_path))
    with pytest.raises(InputDataError, match="at least one frame"):
        read_clip([])


def test_write_image_rejects_wrong_arrays(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="uint8"):
        write_image(tmp_path / "f.png", np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError, match="uint8"):
        write_image(tmp_path / "f.png", np.zeros((4, 4), np.uint8))


def test_a_header_claiming_ten_billion_pixels_is_one_input_error(tmp_path: Path) -> None:
    write_png_claiming(tmp_path / "bomb.png", 100_000, 100_000)
    with pytest.raises(InputDataError, match=r"bomb\.png: refused to decode, the image is too large"):
        read_image(tmp_path / "bomb.png")
