"""Frame reading: valid frames round-trip exactly; every kind of bad frame gives one clear error."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from lgfn.data.io import (
    check_rgb8,
    frame_format,
    list_frames,
    natural_key,
    read_clip,
    read_frame,
    read_image,
    write_image,
)
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


def test_numbered_names_are_listed_in_number_order(tmp_path: Path) -> None:
    for i in range(1, 13):
        (tmp_path / f"{i}.png").write_bytes(b"")
    assert [p.name for p in list_frames(tmp_path)] == [f"{i}.png" for i in range(1, 13)]
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for name in ["shot2_frame10.png", "shot10_frame1.png", "shot2_frame9.png", "im7.png", "im10.png"]:
        (mixed / name).write_bytes(b"")
    names = [p.name for p in list_frames(mixed)]
    assert names == ["im7.png", "im10.png", "shot2_frame9.png", "shot2_frame10.png", "shot10_frame1.png"]
    odd = ["x.png", "x.png2.png", "01.png", "1.png"]  # a name that is another's prefix; equal numbers
    assert sorted(odd, key=natural_key) == ["01.png", "1.png", "x.png", "x.png2.png"]


def test_hidden_files_are_not_frames(tmp_path: Path) -> None:
    for name in [".hidden.png", ".writing-00000001.png", "00000000.png", "00000001.png"]:
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in list_frames(tmp_path)] == ["00000000.png", "00000001.png"]


def test_two_files_for_one_frame_are_refused_naming_both(tmp_path: Path) -> None:
    for name in ["0001.png", "0002.jpg", "0002.png", "0003.png"]:
        (tmp_path / name).write_bytes(b"")
    with pytest.raises(InputDataError, match=r"0002\.jpg and .*0002\.png are both frames named '0002'"):
        list_frames(tmp_path)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
@pytest.mark.parametrize("shape", [(7, 9, 3), (7, 9, 1)], ids=["rgb", "grey"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_grey_and_16_bit_frames_are_read_as_stored(tmp_path: Path, suffix: str, shape, dtype) -> None:
    image = np.random.default_rng(6).integers(0, np.iinfo(dtype).max + 1, shape, dtype=dtype)
    write_image(tmp_path / f"f{suffix}", image)
    # Another decoder sees the same file: 16 bits, grey stored as one channel.
    other = cv2.imread(str(tmp_path / f"f{suffix}"), cv2.IMREAD_UNCHANGED)
    assert other.dtype == dtype and other.shape == (shape[:2] if shape[2] == 1 else shape)
    back = read_frame(tmp_path / f"f{suffix}")
    assert back.dtype == dtype and back.shape == shape
    np.testing.assert_array_equal(back, image)
    is_rgb8 = dtype == np.uint8 and shape[2] == 3
    assert frame_format(tmp_path / f"f{suffix}").channels == shape[2]
    if is_rgb8:
        check_rgb8([tmp_path / f"f{suffix}"])
    else:  # what the benchmarks and training refuse, found from the header
        with pytest.raises(InputDataError, match=r"expected (an 8-bit|a 3-channel) RGB image.*lgfn upscale"):
            check_rgb8([tmp_path / f"f{suffix}"])


def test_read_frame_refuses_alpha(tmp_path: Path) -> None:
    Image.fromarray(np.zeros((4, 4, 4), np.uint8)).save(tmp_path / "a.png")
    with pytest.raises(InputDataError, match=r"a\.png: expected an RGB or grey-scale image .*got RGBA"):
        read_frame(tmp_path / "a.png")


def test_a_truncated_16_bit_frame_is_detected(tmp_path: Path) -> None:
    write_image(tmp_path / "f.png", np.random.default_rng(7).integers(0, 65536, (64, 64, 3), dtype=np.uint16))
    data = (tmp_path / "f.png").read_bytes()
    (tmp_path / "f.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputDataError, match=r"f\.png: corrupt or truncated"):
        read_frame(tmp_path / "f.png")
