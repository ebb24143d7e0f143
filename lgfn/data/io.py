"""Reading and writing video frames stored as image files.

Frames are listed by :func:`list_frames` (numbered names in numeric order) and enter the package
through one of two readers:

- :func:`read_image`, for the benchmarks and training: an 8-bit, 3-channel RGB image. Anything else
  (a missing or corrupt file, a truncated PNG, a grey-scale, RGBA or 16-bit frame) raises one
  :class:`~lgfn.errors.InputDataError` that names the file and says what was expected. Such frames
  are rejected rather than converted because the evaluation protocol scores 8-bit RGB frames;
  silently turning a grey or 16-bit frame into 8-bit RGB would give numbers that do not mean what
  they claim. :func:`check_rgb8` finds those frames from their headers, before any work.
- :func:`read_frame`, for ``lgfn upscale``: also grey-scale and 16-bit frames (film scans,
  scientific video), kept as they are: ``(h, w, 3)`` RGB or ``(h, w, 1)`` grey, ``uint8`` or
  ``uint16``. :func:`write_image` writes all of these back (16 bits and grey in PNG and TIFF).

Decoding uses Pillow, whose loader is strict about truncated files (OpenCV's PNG decoder reports
those only as a warning on stderr); Pillow decodes 16-bit RGB to 8 bits, so those pixels come from
OpenCV once Pillow has checked the file whole.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from lgfn.errors import InputDataError

#: File name extensions (lower case) recognised as frames.
FRAME_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# In a PNG file the IHDR chunk comes first: 8-byte signature, 4-byte length, b"IHDR", width (4),
# height (4), then one byte of bit depth and one of colour type.
_PNG_BIT_DEPTH_OFFSET = 24
# ... followed by the colour type: bit depth 8, colour type 2 is 8-bit RGB.
_PNG_RGB8 = bytes([8, 2])
# TIFF's BitsPerSample tag.
_TIFF_BITS_PER_SAMPLE = 258
# Pillow modes that hold grey-scale frames read as one channel, and their bit depth.
_GREY_MODES = {"1": 8, "L": 8, "I;16": 16, "I;16B": 16, "I;16L": 16, "I;16N": 16}

# Pillow modes that are neither RGB nor grey-scale, with the words used in error messages.
_MODE_NAMES = {
    "LA": "grey-scale with alpha",
    "La": "grey-scale with alpha",
    "PA": "palette with alpha",
    "P": "palette with transparency",
    "I": "32-bit integer grey-scale",
    "F": "32-bit float grey-scale",
    "RGBA": "RGBA (4 channels)",
    "RGBa": "RGBA (4 channels)",
    "CMYK": "CMYK (4 channels)",
    "YCbCr": "YCbCr",
    "LAB": "Lab",
    "HSV": "HSV",
}
_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple:
    """Sort key that orders numbered names by their numbers: ``2.png`` before ``10.png``.

    Runs of digits compare as numbers and the text between them as text; the name itself breaks
    ties (``01.png`` and ``1.png``).
    """
    parts = _DIGITS.split(name)  # text at even positions, digit runs at odd ones: no str meets an int
    return tuple(int(part) if i % 2 else part for i, part in enumerate(parts)), name


def list_frames(folder: str | Path) -> list[Path]:
    """The frame files of one clip folder, in frame order.

    Args:
        folder: a folder holding one clip as image files (``.png .jpg .jpeg .bmp .tif .tiff``, any
            letter case); other files and hidden ones (``.name``) are ignored. Frames are ordered by
            :func:`natural_key`: ``1.png, 2.png, ..., 10.png``, ``im1.png .. im7.png`` and
            zero-padded ``00000000.png ...`` all come in number order.

    Returns:
        The frame paths in frame order.

    Raises:
        InputDataError: the folder does not exist, is not a folder or holds no frame files, or two
            frame files share a name but for the extension (``0001.jpg`` and ``0001.png``: which one
            is the frame is not clear).
    """
    folder = Path(folder)
    if not folder.exists():
        raise InputDataError(f"clip folder not found: {folder}")
    if not folder.is_dir():
        raise InputDataError(f"expected a folder of frames, got a file: {folder}")
    frames = [
        p
        for p in folder.iterdir()
        if p.suffix.lower() in FRAME_EXTENSIONS and not p.name.startswith(".") and p.is_file()
    ]
    if not frames:
        raise InputDataError(f"no frames in {folder}: expected image files ({', '.join(FRAME_EXTENSIONS)})")
    frames.sort(key=lambda p: natural_key(p.name))
    _refuse_same_stem(frames)
    return frames


def list_clip_folders(root: str | Path) -> list[Path]:
    """The sub-folders of ``root`` (one clip each), in :func:`natural_key` order, hidden ones left out
    (such as the ``.NAME.partial`` work folders ``lgfn upscale`` keeps beside an output)."""
    folders = [p for p in Path(root).iterdir() if not p.name.startswith(".") and p.is_dir()]
    return sorted(folders, key=lambda p: natural_key(p.name))


def _refuse_same_stem(frames: list[Path]) -> None:
    seen: dict[str, Path] = {}
    for path in frames:
        other = seen.setdefault(path.stem, path)
        if other is not path:
            raise InputDataError(
                f"{other} and {path} are both frames named {path.stem!r} in {path.parent}; expected one "
                "file per frame: move one of them out of the folder"
            )


@dataclass(frozen=True)
class FrameFormat:
    """What a frame file holds, as its header says.

    Attributes:
        kind: its description in messages (``"8-bit RGB"``, ``"16-bit grey-scale"``, ``"RGBA (4 channels)"``).
        channels: 3 for RGB, 1 for grey-scale, 0 for what is neither (alpha, CMYK, float...).
        bit_depth: bits per channel, 8 or 16.
        size: ``(w, h)`` in pixels.
    """

    kind: str
    channels: int
    bit_depth: int
    size: tuple[int, int]


def frame_format(path: str | Path) -> FrameFormat:
    """The format of a frame file, from its header (no pixel is decoded).

    Raises:
        InputDataError: the file is missing, is no readable image or claims too many pixels.
    """
    path = _existing(Path(path))
    with _pillow_errors(path), path.open("rb") as file:
        file_head = file.read(_PNG_BIT_DEPTH_OFFSET + 1)
        file.seek(0)
        with Image.open(file) as image:
            return _format_of(image, file_head)


def check_rgb8(paths: Sequence[str | Path]) -> None:
    """Check from their headers that frames are 8-bit RGB, as :func:`read_image` requires: a
    dataset with a grey or 16-bit frame is refused before any work, not part-way.

    Raises:
        InputDataError: a readable frame is not 8-bit RGB (see :func:`read_image`); a missing or
            damaged one is left for :func:`read_image` to report.
    """
    for path in map(Path, paths):
        try:
            with path.open("rb") as file:
                head = file.read(_PNG_BIT_DEPTH_OFFSET + 2)
        except OSError:
            head = b""  # frame_format says what is wrong
        # The usual case, an 8-bit RGB PNG, from its first bytes (a tenth of the time Pillow takes).
        if head.startswith(_PNG_SIGNATURE) and head[_PNG_BIT_DEPTH_OFFSET:] == _PNG_RGB8:
            continue
        try:
            fmt = frame_format(path)
        except InputDataError:
            continue  # missing or damaged: read_image says so, with its reason, when it is reached
        _require_rgb8(path, fmt)


def read_image(path: str | Path) -> np.ndarray:
    """Read one frame as 8-bit RGB.

    Palette PNGs without transparency are expanded to RGB (they are colour images stored
    compactly); every other non-RGB frame is rejected.

    Args:
        path: an image file (PNG, JPEG, BMP or TIFF).

    Returns:
        The frame, ``(h, w, 3)`` uint8 RGB.

    Raises:
        InputDataError: the file is missing, cannot be decoded, is truncated, claims more pixels
            than Pillow decodes (``Image.MAX_IMAGE_PIXELS``, against decompression bombs), or is
            not an 8-bit 3-channel RGB image (grey-scale, RGBA, 16-bit, ...).
    """
    return _read(Path(path), _require_rgb8)


def read_frame(path: str | Path) -> np.ndarray:
    """Read one frame as it is stored: RGB or grey-scale, 8 or 16 bits per channel.

    Args:
        path: an image file (PNG, JPEG, BMP or TIFF).

    Returns:
        ``(h, w, 3)`` RGB or ``(h, w, 1)`` grey, ``uint8`` or ``uint16`` (16-bit PNG and TIFF).

    Raises:
        InputDataError: as :func:`read_image`, for a frame that is neither RGB nor grey-scale
            (alpha, CMYK, 32-bit or float samples).
    """
    return _read(Path(path), _require_rgb_or_grey)


def _require_rgb8(path: Path, fmt: FrameFormat) -> None:
    if fmt.channels == 3 and fmt.bit_depth == 8:
        return
    expected = "an 8-bit RGB image" if fmt.channels == 3 else "a 3-channel RGB image"
    raise InputDataError(
        f"{path}: expected {expected}, got {'a ' if fmt.channels == 3 else ''}{fmt.kind} (the benchmarks and "
        "training read 8-bit RGB frames; lgfn upscale reads grey and 16-bit frames too)"
    )


def _require_rgb_or_grey(path: Path, fmt: FrameFormat) -> None:
    if fmt.channels == 0:
        raise InputDataError(
            f"{path}: expected an RGB or grey-scale image of 8 or 16 bits per channel, got {fmt.kind}"
        )


@contextlib.contextmanager
def _pillow_errors(path: Path) -> Iterator[None]:
    """Pillow's errors on reading ``path`` as one :class:`InputDataError` that names it."""
    try:
        yield
    except UnidentifiedImageError:
        raise InputDataError(f"{path}: not a readable image file (expected PNG, JPEG, BMP or TIFF)") from None
    except Image.DecompressionBombError as exc:  # a header claiming billions of pixels
        raise InputDataError(f"{path}: refused to decode, the image is too large ({exc})") from None
    except (OSError, SyntaxError, ValueError) as exc:
        # Pillow reports truncated or damaged data as OSError / SyntaxError (bad PNG chunks).
        raise InputDataError(f"{path}: corrupt or truncated image file ({exc})") from None


def _existing(path: Path) -> Path:
    if not path.is_file():
        raise InputDataError(f"frame not found: {path}")
    return path


def _format_of(image: Image.Image, file_head: bytes) -> FrameFormat:
    """The :class:`FrameFormat` of an opened image whose file begins with ``file_head``."""
    mode, size = image.mode, image.size
    if mode == "RGB":
        depth = _stated_depth(image, file_head)
        return FrameFormat(f"16-bit RGB {image.format}" if depth == 16 else "8-bit RGB", 3, depth, size)
    if mode == "P" and "transparency" not in image.info:
        return FrameFormat("8-bit RGB", 3, 8, size)  # a palette of colours
    if mode in _GREY_MODES:
        depth = _GREY_MODES[mode]
        return FrameFormat("grey-scale" if depth == 8 else "16-bit grey-scale", 1, depth, size)
    return FrameFormat(_MODE_NAMES.get(mode, f"mode {mode}"), 0, 8, size)


def _stated_depth(image: Image.Image, file_head: bytes) -> int:
    """Bits per channel of an RGB image as its file states them: Pillow decodes 16-bit RGB PNG and
    TIFF to 8 bits and calls them ``"RGB"`` like the rest."""
    if file_head.startswith(_PNG_SIGNATURE) and len(file_head) > _PNG_BIT_DEPTH_OFFSET:
        return 16 if file_head[_PNG_BIT_DEPTH_OFFSET] == 16 else 8
    if image.format == "TIFF":
        bits = image.tag_v2.get(_TIFF_BITS_PER_SAMPLE, 8)
        return 16 if max(bits if isinstance(bits, tuple) else (bits,)) == 16 else 8
    return 8


def _read(path: Path, require: Callable[[Path, FrameFormat], None]) -> np.ndarray:
    """Decode ``path`` whole once ``require(path, format)`` accepts its header."""
    data = _existing(path).read_bytes()
    with _pillow_errors(path), Image.open(io.BytesIO(data)) as image:
        fmt = _format_of(image, data[: _PNG_BIT_DEPTH_OFFSET + 1])
        require(path, fmt)
        image.load()  # decodes fully: a truncated or damaged file fails here
        if fmt.channels == 3 and fmt.bit_depth == 16:
            array = _decode_rgb16(data, path, image.size)
        elif image.mode in ("P", "1"):
            array = np.asarray(image.convert("RGB" if image.mode == "P" else "L"))
        else:
            array = np.asarray(image)
    if array.ndim == 2:
        array = array[..., None]  # grey: one channel
    # Native byte order and a writable copy (Pillow may hand back a read-only view of its buffer).
    return np.array(array, dtype=np.uint16 if fmt.bit_depth == 16 else np.uint8, copy=True)


def _decode_rgb16(data: bytes, path: Path, size: tuple[int, int]) -> np.ndarray:
    """The 16-bit pixels of an RGB PNG or TIFF that Pillow has checked whole, as RGB."""
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if bgr is None or bgr.dtype != np.uint16 or bgr.shape != (size[1], size[0], 3):
        got = "nothing" if bgr is None else f"{bgr.dtype} {bgr.shape}"
        raise InputDataError(f"{path}: cannot decode its 16-bit RGB pixels (the decoder gave {got})")
    return bgr[..., ::-1]


def read_clip(paths: Sequence[str | Path]) -> list[np.ndarray]:
    """Read the frames of one clip and check they all have the same size.

    Args:
        paths: frame files in frame order (e.g. from :func:`list_frames`).

    Returns:
        The frames, each ``(h, w, 3)`` uint8 RGB, all of the same ``h, w``.

    Raises:
        InputDataError: ``paths`` is empty, a frame cannot be read (see :func:`read_image`) or a
            frame's size differs from the first frame's.
    """
    if len(paths) == 0:
        raise InputDataError("expected at least one frame, got an empty list of frame files")
    frames: list[np.ndarray] = []
    for path in paths:
        frame = read_image(path)
        if frames and frame.shape != frames[0].shape:
            first_h, first_w = frames[0].shape[:2]
            h, w = frame.shape[:2]
            raise InputDataError(
                f"{path}: frame size {w}x{h} differs from the clip's first frame {paths[0]} "
                f"({first_w}x{first_h}); expected every frame of a clip to have the same size"
            )
        frames.append(frame)
    return frames


def write_image(path: str | Path, image: np.ndarray) -> None:
    """Write one frame as an image file, creating the parent folders.

    Args:
        path: destination; the format follows the extension (PNG recommended: lossless).
        image: ``(h, w, 3)`` RGB or ``(h, w, 1)`` grey, ``uint8``, or ``uint16`` for a PNG or TIFF
            (which keep the 16 bits).

    Raises:
        ValueError: ``image`` is not such an array, or is 16-bit for a format that holds 8 bits.
    """
    path = Path(path)
    if image.dtype not in (np.uint8, np.uint16) or image.ndim != 3 or image.shape[2] not in (1, 3):
        raise ValueError(
            f"expected an (h, w, 3) or (h, w, 1) uint8 or uint16 image, got {image.dtype} {image.shape}"
        )
    if image.dtype == np.uint16 and path.suffix.lower() not in (".png", ".tif", ".tiff"):
        raise ValueError(f"{path}: 16-bit frames are written as PNG or TIFF, not {path.suffix}")
    path.parent.mkdir(parents=True, exist_ok=True)
    if image.dtype == np.uint16 and image.shape[2] == 3:  # Pillow holds 16-bit grey only
        ok, data = cv2.imencode(path.suffix, np.ascontiguousarray(image[..., ::-1]))
        if not ok:
            raise OSError(f"cannot encode {path}")
        path.write_bytes(data.tobytes())
        return
    Image.fromarray(np.ascontiguousarray(image[..., 0] if image.shape[2] == 1 else image)).save(path)
