"""Reading and writing video frames stored as image files.

Every frame that enters the package goes through :func:`read_image`, so there is one place that
decides what a valid frame is: an 8-bit, 3-channel RGB image. Anything else (a missing or corrupt
file, a truncated PNG, a grey-scale, RGBA or 16-bit frame) raises one
:class:`~lgfn.errors.InputDataError` that names the file and says what was expected. Frames are
rejected rather than converted because the evaluation protocol scores RGB frames; silently turning a
grey or 16-bit frame into 8-bit RGB would give numbers that do not mean what they claim.

Decoding uses Pillow, whose loader is strict about truncated files (OpenCV's PNG decoder reports
those only as a warning on stderr).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from lgfn.errors import InputDataError

#: File name extensions (lower case) recognised as frames.
FRAME_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# In a PNG file the IHDR chunk comes first: 8-byte signature, 4-byte length, b"IHDR", width (4),
# height (4), then one byte of bit depth and one of colour type.
_PNG_BIT_DEPTH_OFFSET = 24
_PNG_COLOUR_TYPES = {0: "grey-scale", 2: "RGB", 3: "palette", 4: "grey-scale with alpha", 6: "RGBA"}

# Pillow modes that are grey-scale or carry alpha, with the words used in error messages.
_MODE_NAMES = {
    "1": "1-bit black-and-white",
    "L": "grey-scale",
    "LA": "grey-scale with alpha",
    "La": "grey-scale with alpha",
    "I": "32-bit integer grey-scale",
    "I;16": "16-bit grey-scale",
    "I;16B": "16-bit grey-scale",
    "I;16L": "16-bit grey-scale",
    "F": "32-bit float grey-scale",
    "RGBA": "RGBA (4 channels)",
    "RGBa": "RGBA (4 channels)",
    "CMYK": "CMYK (4 channels)",
    "YCbCr": "YCbCr",
    "LAB": "Lab",
    "HSV": "HSV",
}


def list_frames(folder: str | Path) -> list[Path]:
    """The frame files of one clip folder, sorted by file name.

    Args:
        folder: a folder holding one clip as image files (``.png``, ``.jpg``, ``.jpeg`` or ``.bmp``,
            any letter case); other files are ignored. Names must sort in frame order (zero-padded
            numbers such as ``00000000.png`` or ``im1.png .. im7.png``).

    Returns:
        The frame paths in name order.

    Raises:
        InputDataError: the folder does not exist, is not a folder or holds no frame files.
    """
    folder = Path(folder)
    if not folder.exists():
        raise InputDataError(f"clip folder not found: {folder}")
    if not folder.is_dir():
        raise InputDataError(f"expected a folder of frames, got a file: {folder}")
    frames = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in FRAME_EXTENSIONS)
    if not frames:
        raise InputDataError(f"no frames in {folder}: expected image files ({', '.join(FRAME_EXTENSIONS)})")
    return frames


def read_image(path: str | Path) -> np.ndarray:
    """Read one frame as 8-bit RGB.

    Palette PNGs without transparency are expanded to RGB (they are colour images stored
    compactly); every other non-RGB frame is rejected.

    Args:
        path: an image file (PNG, JPEG or BMP).

    Returns:
        The frame, ``(h, w, 3)`` uint8 RGB.

    Raises:
        InputDataError: the file is missing, cannot be decoded, is truncated, claims more pixels
            than Pillow decodes (``Image.MAX_IMAGE_PIXELS``, against decompression bombs), or is
            not an 8-bit 3-channel RGB image (grey-scale, RGBA, 16-bit, ...).
    """
    path = Path(path)
    if not path.is_file():
        raise InputDataError(f"frame not found: {path}")
    data = path.read_bytes()
    if data.startswith(_PNG_SIGNATURE) and len(data) > _PNG_BIT_DEPTH_OFFSET + 1:
        # Pillow decodes 16-bit RGB PNGs to 8-bit RGB without saying so; read the depth ourselves.
        bit_depth = data[_PNG_BIT_DEPTH_OFFSET]
        if bit_depth == 16:
            colour = _PNG_COLOUR_TYPES.get(data[_PNG_BIT_DEPTH_OFFSET + 1], "unknown colour type")
            raise InputDataError(f"{path}: expected an 8-bit RGB image, got a 16-bit {colour} PNG")
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            mode = image.mode
            if mode == "P" and "transparency" not in image.info:
                image = image.convert("RGB")
                mode = "RGB"
            if mode != "RGB":
                kind = _MODE_NAMES.get(mode, f"mode {mode}")
                raise InputDataError(f"{path}: expected a 3-channel RGB image, got {kind}")
            array = np.asarray(image, dtype=np.uint8)
    except UnidentifiedImageError:
        raise InputDataError(f"{path}: not a readable image file (expected PNG, JPEG or BMP)") from None
    except Image.DecompressionBombError as exc:  # a header claiming billions of pixels
        raise InputDataError(f"{path}: refused to decode, the image is too large ({exc})") from None
    except (OSError, SyntaxError, ValueError) as exc:
        # Pillow reports truncated or damaged data as OSError / SyntaxError (bad PNG chunks).
        raise InputDataError(f"{path}: corrupt or truncated image file ({exc})") from None
    # Pillow may hand back a read-only view of its buffer; callers are free to modify frames.
    return np.array(array, copy=True)


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
        image: ``(h, w, 3)`` uint8 RGB.

    Raises:
        ValueError: ``image`` is not an ``(h, w, 3)`` uint8 array.
    """
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (h, w, 3) uint8 RGB image, got {image.dtype} {image.shape}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(image)).save(path)
