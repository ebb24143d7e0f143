"""Which output names are videos, and which of our codecs each video container holds.

An output whose name ends in a suffix of :data:`OUTPUT_CONTAINERS` is a video file in that
container; a name that looks like a video (:data:`VIDEO_LOOKING_SUFFIXES`) but is not one of them is
refused, never taken for a folder; any other name is a folder of PNG frames. Each container holds the
codecs listed for it (:data:`~lgfn.media.segments.CODECS` keys): a pair outside the table is refused
before any work, not when the finished segments are joined.
"""

from __future__ import annotations

import os
from pathlib import Path

from lgfn.errors import ConfigError
from lgfn.media.sources import VIDEO_EXTENSIONS

#: Video containers an output can be written in (suffix, lower case), and the codecs each holds.
OUTPUT_CONTAINERS = {
    ".mp4": ("h264", "h265", "ffv1"),
    ".m4v": ("h264",),  # Apple's MP4 variant
    ".mkv": ("h264", "h265", "ffv1"),
    ".mov": ("h264", "h265"),
    ".avi": ("h264", "ffv1"),
    ".ts": ("h264", "h265"),  # MPEG transport stream
}
#: Suffixes of video and animation files: an output so named is a video or an error, never a folder.
VIDEO_LOOKING_SUFFIXES = frozenset(
    {*OUTPUT_CONTAINERS, *VIDEO_EXTENSIONS}
    | {".webm", ".wmv", ".asf", ".mpg", ".mpeg", ".m2v", ".vob", ".m2ts", ".mts", ".gif", ".apng"}
    | {".flv", ".f4v", ".ogv", ".ogg", ".3gp", ".3g2", ".mxf", ".nut", ".rm", ".rmvb", ".divx", ".dv"}
    | {".y4m", ".yuv", ".h264", ".264", ".h265", ".265", ".hevc", ".ivf", ".mjpeg", ".mjpg", ".qt"}
)
#: Bitstream filters that turn the H.264/H.265 packets of an MP4 segment into the start-code form a
#: container needs when it does not convert them itself (AVI; MPEG-TS inserts the filter on its own).
ANNEX_B_FILTERS = {("avi", "h264"): "h264_mp4toannexb"}


def is_video_output(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a video output (else a folder of PNG frames); see :func:`check_output_name`."""
    return Path(path).suffix.lower() in OUTPUT_CONTAINERS


def check_output_name(path: str | os.PathLike, codec: str) -> None:
    """Refuse a video-looking name that is not a container we write, or one that cannot hold ``codec``.

    Raises:
        ConfigError: naming the suffix and what is accepted.
    """
    suffix = Path(path).suffix.lower()
    accepted = " ".join(OUTPUT_CONTAINERS)
    if suffix in VIDEO_LOOKING_SUFFIXES and suffix not in OUTPUT_CONTAINERS:
        raise ConfigError(
            f"output {path}: lgfn upscale does not write {suffix} video; a video output ends in one of "
            f"{accepted}, and a name without a video suffix is a folder of PNG frames"
        )
    holds = OUTPUT_CONTAINERS.get(suffix)
    if holds is not None and codec not in holds:
        takes = " ".join(s for s, codecs in OUTPUT_CONTAINERS.items() if codec in codecs)
        raise ConfigError(f"output {path}: {suffix} cannot hold --codec {codec}; use one of {takes}")


def output_name_for(stem: str, suffix: str, codec: str) -> str:
    """The output file name of an input video ``stem + suffix`` among several: its own container when
    that holds ``codec``, else ``.mkv`` (which holds every codec)."""
    suffix = suffix.lower()
    return stem + (suffix if codec in OUTPUT_CONTAINERS.get(suffix, ()) else ".mkv")
