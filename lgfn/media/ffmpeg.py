"""FFmpeg as the readers and writers use it through PyAV: colour conversion and error text.

Colour: video frames are converted to RGB with the matrix the file declares (BT.601 when it
declares none, FFmpeg's default); written videos use the BT.709 matrix from 720 lines up (HD) and
BT.601 below, limited range, and say so in the stream's metadata so players convert them back the
same way.
"""

from __future__ import annotations

import av
import numpy as np
from av.video.reformatter import ColorRange, Colorspace, Interpolation

from lgfn.colour import BT709, output_matrix_code

# FFmpeg's code for limited ("MPEG") range.
_AVCOL_RANGE_MPEG = 1

# swscale's default YUV <-> RGB path trades precision for speed (flat colours come back up to 3 levels
# off after a round trip); accurate rounding with full horizontal chroma interpolation halves the
# error, for a few milliseconds per 720p frame.
SWS_FLAGS = Interpolation.BICUBIC | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT


def output_matrix(height: int) -> tuple[Colorspace, int]:
    """The YUV matrix for an output ``height`` lines high (:func:`lgfn.colour.output_matrix_code`).

    Returns:
        swscale's name for the matrix and FFmpeg's code for it in the stream's metadata.
    """
    code = output_matrix_code(height)
    return (Colorspace.ITU709 if code == BT709 else Colorspace.ITU601), code


def encode_colour(frame: np.ndarray, pix_fmt: str) -> av.VideoFrame:
    """An RGB frame converted to an encoder's pixel format.

    Args:
        frame: ``(h, w, 3)`` uint8 RGB, C-contiguous.
        pix_fmt: ``yuv420p`` (limited range, the matrix :func:`output_matrix` gives for ``h``) or an
            RGB format such as ``bgr0`` (a lossless reordering of the channels).
    """
    picture = av.VideoFrame.from_ndarray(frame, format="rgb24")
    if pix_fmt == "yuv420p":
        return picture.reformat(
            format="yuv420p",
            dst_colorspace=output_matrix(frame.shape[0])[0],
            dst_color_range=ColorRange.MPEG,
            interpolation=SWS_FLAGS,
        )
    return picture.reformat(format=pix_fmt)


def declare_colour(stream: av.VideoStream, pix_fmt: str, height: int) -> None:
    """Record in a YUV stream's metadata the matrix and range :func:`encode_colour` converts with."""
    if pix_fmt.startswith("yuv"):
        stream.codec_context.colorspace = output_matrix(height)[1]
        stream.codec_context.color_range = _AVCOL_RANGE_MPEG


def av_message(exc: Exception) -> str:
    """The readable part of a PyAV error (its ``strerror``), without the errno and the path."""
    return getattr(exc, "strerror", None) or str(exc)
