"""The colour rule of the project's videos, in ITU-T H.273 matrix codes (FFmpeg's ``AVCOL_SPC_*`` and
VapourSynth's ``_Matrix`` use the same numbers), with no video library imported: ``lgfn upscale``
(:mod:`lgfn.media.ffmpeg`) and the VapourSynth filter (:mod:`lgfn.vapoursynth.filter`) both follow it.

- A video that declares no matrix is read as BT.601 (:data:`UNTAGGED_MATRIX`, FFmpeg's default).
- A video written, or an untagged clip given back, uses BT.709 from :data:`HD_HEIGHT` lines up (what
  players assume of HD video whatever it says) and BT.601 below, as SD video (:func:`output_matrix_code`).
"""

from __future__ import annotations

#: H.273 MatrixCoefficients: BT.709, and BT.601 as SMPTE 170M (the 525-line form FFmpeg tags).
BT709, BT601 = 1, 6
#: The matrix a video that declares none is read with.
UNTAGGED_MATRIX = BT601
#: Output height from which videos are written with the BT.709 matrix; smaller ones get BT.601.
HD_HEIGHT = 720


def output_matrix_code(height: int) -> int:
    """The H.273 matrix code of a video written ``height`` lines high."""
    return BT709 if height >= HD_HEIGHT else BT601
