"""Reading frames: video files and folders of frames, one frame at a time.

A :class:`FrameSource` yields the frames of a video file (``.mp4 .mkv .mov .avi .webm``, decoded with
PyAV/FFmpeg) or of a folder of image frames, in order, as ``(h, w, 3)`` uint8 RGB arrays (a folder of
grey or 16-bit frames: as they are stored, see :class:`FrameFolderSource`), without ever holding the
whole clip in memory. :func:`open_source` probes the input first (it decodes the
first frame of a video, checks every frame size in a folder) so that a bad input fails before any
work is done. Only the first video stream of a file is read as frames (a cover picture listed before
it is skipped); its colour matrix is the one the file declares (see :mod:`lgfn.media.ffmpeg`).

Orientation: a video whose display matrix rotates it (portrait phone video) is read turned upright,
as players show it, in quarter turns (mirroring is not applied). Non-square pixels (DVD video) are
reported by the source (``sample_aspect_ratio``) for a video output to record.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from lgfn.data.io import FRAME_EXTENSIONS, frame_format, list_frames, read_frame
from lgfn.errors import InputDataError
from lgfn.media.ffmpeg import SWS_FLAGS, av_message
from lgfn.media.timing import parse_fps

logger = logging.getLogger(__name__)

#: Extensions (lower case) read as video files.
VIDEO_EXTENSIONS = (".mp4", ".mkv", ".mov", ".avi", ".webm")
#: Frame rate given to a folder of frames, which records none (override with ``fps=``).
DEFAULT_FOLDER_FPS = Fraction(25)
# Matroska's per-track duration tag, e.g. "00:00:01.600000000".
_DURATION_TAG = re.compile(r"(\d+):(\d\d):(\d\d(?:\.\d+)?)")


class FrameSource(ABC):
    """Frames of one clip, read in order one at a time; iterate it to get them.

    Iterating again starts again from the first frame. Make one with :func:`open_source`.

    Attributes:
        path: the video file or frame folder.
        fps: frames per second (exact for video files; :data:`DEFAULT_FOLDER_FPS` or the given
            rate for a folder).
        size: ``(w, h)`` of every frame, in pixels.
        num_frames: number of frames; the header's count for videos whose header counts them,
            else the frames the file holds (counted from its packets), exact for a folder.
    """

    def __init__(self, path: Path, fps: Fraction, size: tuple[int, int], num_frames: int | None) -> None:
        self.path = path
        self.fps = fps
        self.size = size
        self.num_frames = num_frames

    @abstractmethod
    def __iter__(self) -> Iterator[np.ndarray]:
        """Yield every frame, ``(h, w, 3)`` uint8 RGB, in display order."""

    def _check_size(self, frame: np.ndarray, where: str) -> None:
        h, w = frame.shape[:2]
        if (w, h) != self.size:
            raise InputDataError(
                f"{where}: frame size {w}x{h} differs from the first frame's {self.size[0]}x{self.size[1]}; "
                "expected every frame to have the same size"
            )

    def __repr__(self) -> str:
        w, h = self.size
        name = type(self).__name__
        return f"{name}({str(self.path)!r}, {w}x{h}, fps={self.fps}, num_frames={self.num_frames})"


class VideoFileSource(FrameSource):
    """The frames of a video file's video stream (the first that is not a cover picture), decoded by
    FFmpeg as they are needed.

    Attributes:
        start_time: presentation time of the first frame, in seconds (where the file's clock stands
            when the video begins; audio is placed against it).
        stream_fps: the frame rate the file states (``fps`` differs when another one was given).
        audio_streams: number of audio streams in the file.
        subtitle_streams: number of subtitle streams in the file.
        sample_aspect_ratio: the shape of a pixel (width / height) when it is not square, as on
            DVD video (e.g. 32/27 for 16:9 720x480), else ``None``.
        stated_frames: the number of frames the container's header counts (MP4 and MOV do; for a
            Matroska file whose frames end well before the duration it states, that duration's
            frames), or ``None`` when it counts none and ``num_frames`` counts the frames the file
            holds. A truncated file can state more frames than it holds: iterating then ends early.
    """

    def __init__(
        self,
        path: Path,
        fps: Fraction,
        size: tuple[int, int],
        num_frames: int | None,
        start_time: Fraction = Fraction(0),
        stream_fps: Fraction | None = None,
        audio_streams: int = 0,
        sample_aspect_ratio: Fraction | None = None,
        subtitle_streams: int = 0,
        stated_frames: int | None = None,
    ) -> None:
        super().__init__(path, fps, size, num_frames)
        self.stated_frames = stated_frames
        self.start_time = start_time
        self.stream_fps = stream_fps
        self.audio_streams = audio_streams
        self.subtitle_streams = subtitle_streams
        self.sample_aspect_ratio = sample_aspect_ratio

    def __iter__(self) -> Iterator[np.ndarray]:
        index = 0
        try:
            with av.open(str(self.path)) as container:
                stream = _picture_stream(container.streams.video)
                stream.thread_type = "AUTO"  # frame- and slice-threaded decoding
                for frame in container.decode(stream):
                    image = frame.to_ndarray(
                        format="rgb24", interpolation=SWS_FLAGS, src_color_range=frame.color_range or None
                    )
                    turns = _quarter_turns(frame.rotation)
                    if turns:
                        image = np.ascontiguousarray(np.rot90(image, turns))  # as players show it
                    self._check_size(image, f"{self.path} frame {index}")
                    yield image
                    index += 1
        except av.FFmpegError as exc:
            raise InputDataError(
                f"{self.path}: cannot decode frame {index} ({av_message(exc)}); the file may be damaged"
            ) from None


class FrameFolderSource(FrameSource):
    """The frames of a folder of images, in number order of their names (see
    :func:`lgfn.data.io.list_frames`), as they are stored: RGB ``(h, w, 3)`` or grey ``(h, w, 1)``,
    ``uint8`` or ``uint16`` (:func:`lgfn.data.io.read_frame`), every frame in the first one's format.

    Args:
        frames: the frame files, in order.
    """

    def __init__(self, path: Path, fps: Fraction, size: tuple[int, int], frames: list[Path]) -> None:
        super().__init__(path, fps, size, len(frames))
        self.frames = frames

    def __iter__(self) -> Iterator[np.ndarray]:
        first = None
        for frame_path in self.frames:
            image = read_frame(frame_path)
            self._check_size(image, str(frame_path))
            if first is not None and (image.dtype, image.shape[2]) != first:
                raise InputDataError(f"{frame_path}: the frame's format changed since the folder was opened")
            first = image.dtype, image.shape[2]
            yield image


def open_source(path: str | os.PathLike, fps: str | float | Fraction | None = None) -> FrameSource:
    """Open a video file or a folder of frames for reading, checking that it holds frames.

    Args:
        path: a video file (``.mp4 .mkv .mov .avi .webm``, or anything FFmpeg reads) or a folder of
            ``.png .jpg .jpeg .bmp .tif .tiff`` frames, numbered names in number order
            (:func:`lgfn.data.io.list_frames`).
        fps: frame rate to use instead of the input's own (a folder has none and gets
            :data:`DEFAULT_FOLDER_FPS`); ``"30000/1001"``, ``29.97``, ``25`` or a Fraction.

    Returns:
        A :class:`FrameSource`; iterate it for ``(h, w, 3)`` uint8 RGB frames.

    Raises:
        InputDataError: the path does not exist, is a single image, cannot be decoded, has no
            video stream, has no frames, or (a folder) holds frames of different sizes.
    """
    path = Path(path)
    override = None if fps is None else parse_fps(fps)
    if not path.exists():
        raise InputDataError(f"input not found: {path}")
    if path.is_dir():
        return _open_folder(path, override or DEFAULT_FOLDER_FPS)
    if path.suffix.lower() in FRAME_EXTENSIONS:
        raise InputDataError(
            f"{path} is a single image; pass the folder that holds the clip's frames, or a video file"
        )
    return _open_video(path, override)


def _open_folder(path: Path, fps: Fraction) -> FrameFolderSource:
    frames = list_frames(path)
    first = read_frame(frames[0])  # decodes fully: a bad first frame is reported now
    first_format = frame_format(frames[0])
    w, h = first_format.size
    # A frame of another size or format would stop the run part-way; headers tell them cheaply.
    for frame_path in frames[1:]:
        fmt = frame_format(frame_path)
        if fmt.size != (w, h):
            raise InputDataError(
                f"{frame_path}: frame size {fmt.size[0]}x{fmt.size[1]} differs from the first frame "
                f"{frames[0].name} ({w}x{h}); expected every frame of a clip to have the same size"
            )
        if (fmt.channels, fmt.bit_depth) != (first_format.channels, first_format.bit_depth):
            raise InputDataError(
                f"{frame_path}: a {fmt.kind} frame, but the first frame {frames[0].name} is "
                f"{first_format.kind}; expected every frame of a clip in one format"
            )
    if first.dtype != np.uint8 or first.shape[2] != 3:
        grey = ", the network seeing grey as three equal channels," if first_format.channels == 1 else ""
        logger.info(
            "%s holds %s frames: they are upscaled in floating point%s and a folder of PNG frames "
            "gets them back in that format",
            path, first_format.kind, grey,
        )  # fmt: skip
    return FrameFolderSource(path, fps, (w, h), frames)


def _open_video(path: Path, fps: Fraction | None) -> VideoFileSource:
    try:
        container = av.open(str(path))
    except av.FFmpegError as exc:
        raise InputDataError(f"{path}: not a readable video file ({av_message(exc)})") from None
    with container:
        stream, first = _first_frame(container, path)
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        override = fps
        if fps is None:
            if not rate:
                raise InputDataError(f"{path}: the video does not state its frame rate; give one with --fps")
            fps = Fraction(rate)
        start_time = Fraction(0)
        if first.pts is not None and first.time_base is not None:
            start_time = Fraction(first.pts * first.time_base)
        size = (first.width, first.height)
        turns = _quarter_turns(first.rotation, path)
        if turns:
            logger.info(
                "%s is shown turned by %d degrees: its frames are read turned upright", path, 90 * turns
            )
            if turns % 2:
                size = size[::-1]
        times = _frame_times(path, stream.index)
        num_frames, stated = _counts(path, container, stream, rate, times)
        if override is None:
            _say_if_variable_rate(path, times, fps)
        return VideoFileSource(
            path,
            fps,
            size,
            num_frames,
            start_time=start_time,
            stream_fps=Fraction(rate) if rate else None,
            audio_streams=len(container.streams.audio),
            subtitle_streams=len(container.streams.subtitles),
            sample_aspect_ratio=_pixel_shape(stream.sample_aspect_ratio, turns),
            stated_frames=stated,
        )


def _first_frame(
    container: av.container.InputContainer, path: Path
) -> tuple[av.video.stream.VideoStream, av.VideoFrame]:
    """The video stream of an open file and its first frame, decoded: a bad file fails here."""
    stream = _picture_stream(container.streams.video)
    if stream is None:
        raise InputDataError(f"{path}: has no video stream (expected a video file or a folder of frames)")
    try:
        first = next(container.decode(stream), None)
    except av.FFmpegError as exc:
        raise InputDataError(f"{path}: cannot decode the first frame ({av_message(exc)})") from None
    if first is None:
        raise InputDataError(f"{path}: the video stream has no frames")
    return stream, first


def _frame_times(path: Path, index: int) -> list[float]:
    """The presentation time (seconds) of every frame stream ``index`` of the file holds, in display
    order, from its packets: the file is read once, nothing is decoded (about a second a GB)."""
    times = []
    with av.open(str(path)) as container:
        stream = container.streams[index]
        if stream.time_base is None:
            return times
        seconds = float(stream.time_base)
        try:
            for packet in container.demux(stream):
                stamp = packet.dts if packet.pts is None else packet.pts
                if stamp is not None:  # None: the demuxer's flush packet
                    times.append(stamp * seconds)
        except av.FFmpegError:
            pass  # a damaged tail: the frames before it are what the file holds
    return sorted(times)


def _counts(
    path: Path,
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    rate: Fraction | None,
    times: list[float],
) -> tuple[int | None, int | None]:
    """``(num_frames, stated_frames)``: the header's count where it has one (MP4, MOV); else the
    frames the file holds, unless they end well before where the header says the video ends, as in
    a truncated Matroska file: then the frames up to there, given as stated so that reading fewer
    is reported (``lgfn upscale --accept-short``)."""
    if stream.frames:
        return stream.frames, stream.frames
    end = _stated_end(container, stream)
    if not times or not end or not rate:
        return len(times) or None, None
    period = 1 / float(rate)
    seconds, held = end - times[0], times[-1] - times[0] + period
    if held < seconds - max(2 * period, seconds / 20):  # a rounded duration is not a lost tail
        stated = round(seconds * float(rate))
        logger.warning(
            "%s states %.3f s of video (%d frames at %s fps) but holds %d frames (%.3f s); the file "
            "may be truncated",
            path, seconds, stated, rate, len(times), held,
        )  # fmt: skip
        return stated, stated
    return len(times), None


def _stated_end(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float | None:
    """Where the header says the video ends, in seconds of the file's clock (Matroska keeps it in a
    ``DURATION`` tag, the time its last frame ends)."""
    if stream.duration is not None and stream.time_base is not None:
        return float((stream.start_time or 0) * stream.time_base + stream.duration * stream.time_base)
    tag = _DURATION_TAG.fullmatch(stream.metadata.get("DURATION", ""))
    if tag:
        hours, minutes, seconds = tag.groups()
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    if container.duration is not None:
        return ((container.start_time or 0) + container.duration) / av.time_base
    return None


def _say_if_variable_rate(path: Path, times: list[float], fps: Fraction) -> None:
    """Warn when writing the frames at the constant ``fps`` moves them by more than half a frame from
    their times in the file (a variable-frame-rate video): the output's sound would drift as much."""
    if len(times) < 2:
        return
    period = 1 / float(fps)
    drift = max(abs(i * period - (time - times[0])) for i, time in enumerate(times))
    if drift <= period / 2:
        return
    durations = [b - a for a, b in itertools.pairwise(times)]
    logger.warning(
        "%s has a variable frame rate (frames last %.0f to %.0f ms); its frames are read without their "
        "times, and a video output plays them at a constant %.4g fps: they span %.2f s there against "
        "%.2f s in the input, up to %.2f s from their times (the sound and subtitles carried along "
        "drift as much against the picture)",
        path, 1000 * min(durations), 1000 * max(durations), fps, (len(times) - 1) / fps,
        times[-1] - times[0], drift,
    )  # fmt: skip


def _picture_stream(streams: Sequence[av.video.stream.VideoStream]) -> av.video.stream.VideoStream | None:
    """The stream holding the video: the first that is not a cover picture (``attached_pic``), which
    some files list before it; the first of all when every one is marked so."""
    for stream in streams:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    return streams[0] if streams else None


def _pixel_shape(ratio: Fraction | None, turns: int) -> Fraction | None:
    """A non-square pixel's width / height once the frame is turned upright; ``None`` for square."""
    if not ratio or ratio == 1:
        return None
    return Fraction(1, 1) / ratio if turns % 2 else Fraction(ratio)


def _quarter_turns(rotation: float | None, path: Path | None = None) -> int:
    """Counter-clockwise quarter turns that show a frame upright, from its display matrix's rotation
    (``VideoFrame.rotation``, degrees counter-clockwise, as phones record portrait video)."""
    if not rotation:
        return 0
    if rotation % 90:
        if path is not None:
            logger.warning(
                "%s asks for a %g degree rotation; only multiples of 90 are applied", path, rotation
            )
        return 0
    return round(rotation / 90) % 4


def read_video_frames(
    path: str | os.PathLike, max_frames: int | None = None, start: int = 0
) -> list[np.ndarray]:
    """Read frames of a video file or frame folder into memory.

    Args:
        path: anything :func:`open_source` opens.
        max_frames: read at most this many frames (default: to the end).
        start: index of the first frame to return; earlier frames are decoded and dropped.

    Returns:
        The frames, each ``(h, w, 3)`` uint8 RGB.

    Raises:
        InputDataError: see :func:`open_source`; also when ``start`` is past the last frame.
    """
    if start < 0 or (max_frames is not None and max_frames < 1):
        raise ValueError(f"need start >= 0 and max_frames >= 1, got start={start}, max_frames={max_frames}")
    source = open_source(path)
    stop = None if max_frames is None else start + max_frames
    frames = list(itertools.islice(source, start, stop))
    if not frames:
        raise InputDataError(f"{path}: has no frames from index {start} on")
    return frames
