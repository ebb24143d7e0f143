"""Streaming video input and output: video files and folders of frames, read and written one frame at a time.

A :class:`FrameSource` yields the frames of a video file (``.mp4 .mkv .mov .avi .webm``, decoded with
PyAV/FFmpeg) or of a folder of image frames, in order, as ``(h, w, 3)`` uint8 RGB arrays, without
ever holding the whole clip in memory. :func:`open_source` probes the input first (it decodes the
first frame of a video, checks every frame size in a folder) so that a bad input fails before any
work is done.

A :class:`FrameSink` writes frames to a video file (H.264, ``yuv420p``) or to a folder of PNG frames
``00000000.png, 00000001.png, ...``. Output is atomic and work is not lost: frames go to a hidden
work folder beside the output (``.NAME.partial``), as PNG frames or as segments of
:data:`SEGMENT_FRAMES` encoded frames, each finished piece under its final name; the output is
assembled and moved to its name only when the sink closes after success. On an error or Ctrl-C the
output path is left as it was (the complete result or nothing) and the finished pieces stay in the
work folder, with the run's settings, for a later run to resume from.

Only the first video stream of a file is read as frames; a sink writes frames at one constant rate,
so a variable-frame-rate input comes out at its average rate. A video sink can carry a video file's
audio and subtitle streams along (:class:`TrackCopy`): copied as they are where the output container
holds their codec, audio re-encoded as AAC where it does not, timed so that they stay in sync with
the frames and cut where the frames end. Other streams (data, attachments) are not carried.

Colour: video frames are converted to RGB with the matrix the file declares (BT.601 when it
declares none, FFmpeg's default); written videos use the BT.709 matrix from 720 lines up (HD) and
BT.601 below, limited range, and say so in the stream's metadata so players convert them back the
same way.

Orientation: a video whose display matrix rotates it (portrait phone video) is read turned upright,
as players show it, in quarter turns (mirroring is not applied); outputs are written upright with no
rotation of their own. Non-square pixels (DVD video) are reported by the source and recorded in a
video output.
"""

from __future__ import annotations

import io
import itertools
import json
import logging
import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from fractions import Fraction
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any

import av
import numpy as np
from av.video.reformatter import ColorRange, Colorspace, Interpolation
from PIL import Image

from lgfn.data.io import FRAME_EXTENSIONS, list_frames, read_image, write_image
from lgfn.errors import InputDataError, LGFNError
from lgfn.files import settings_changes

logger = logging.getLogger(__name__)

#: Extensions (lower case) read as video files.
VIDEO_EXTENSIONS = (".mp4", ".mkv", ".mov", ".avi", ".webm")
#: Extensions (lower case) that can be written: containers that hold H.264.
VIDEO_OUTPUT_EXTENSIONS = (".mp4", ".mkv", ".mov", ".avi")
#: Frame rate given to a folder of frames, which records none (override with ``fps=``).
DEFAULT_FOLDER_FPS = Fraction(25)
#: x264 constant rate factor used unless another is given: visually close to lossless.
DEFAULT_CRF = 18
#: Video codecs a sink writes: FFmpeg encoder, pixel format, and the suffix of the segment files
#: (a container that holds the codec and keeps exact timestamps where it can).
CODECS = {
    "h264": ("libx264", "yuv420p", ".mp4"),  # everywhere; lossy at --crf
    "h265": ("libx265", "yuv420p", ".mp4"),  # HEVC: smaller for the same look, fewer players; lossy
    "ffv1": ("ffv1", "bgr0", ".mkv"),  # lossless RGB: the frames exactly, large files
}
DEFAULT_CODEC = "h264"

# FFmpeg's codes for the BT.709 and BT.601 matrices (AVCOL_SPC_BT709, AVCOL_SPC_SMPTE170M) and for
# limited ("MPEG") range.
_AVCOL_SPC_BT709 = 1
_AVCOL_SPC_SMPTE170M = 6
_AVCOL_RANGE_MPEG = 1
#: Output height from which videos are written with the BT.709 matrix (HD, what players assume of
#: HD video whatever it says); smaller ones get BT.601, as SD video.
HD_HEIGHT = 720


def _output_matrix(height: int) -> tuple[Colorspace, int]:
    """The YUV matrix for an output ``height`` lines high: swscale's name and FFmpeg's stream code."""
    if height >= HD_HEIGHT:
        return Colorspace.ITU709, _AVCOL_SPC_BT709
    return Colorspace.ITU601, _AVCOL_SPC_SMPTE170M


# swscale's default YUV <-> RGB path trades precision for speed (flat colours come back up to 3 levels
# off after a round trip); accurate rounding with full horizontal chroma interpolation halves the
# error, for a few milliseconds per 720p frame.
_SWS_FLAGS = Interpolation.BICUBIC | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT


def _av_message(exc: Exception) -> str:
    """The readable part of a PyAV error (its ``strerror``), without the errno and the path."""
    return getattr(exc, "strerror", None) or str(exc)


def parse_fps(value: str | float | Fraction) -> Fraction:
    """A frame rate as an exact fraction: ``"30000/1001"``, ``"29.97"``, ``25`` or a Fraction.

    Raises:
        LGFNError: the value is not a positive number.
    """
    try:
        # A float goes through its shortest decimal form: 29.97 means 2997/100, not the binary double.
        fps = Fraction(repr(value) if isinstance(value, float) else value)
    except (ValueError, ZeroDivisionError, TypeError):
        raise LGFNError(
            f"frame rate must be a positive number such as 25 or 30000/1001, got {value!r}"
        ) from None
    if fps <= 0:
        raise LGFNError(f"frame rate must be positive, got {value!r}")
    return fps


class FrameSource(ABC):
    """Frames of one clip, read in order one at a time; iterate it to get them.

    Iterating again starts again from the first frame. Make one with :func:`open_source`.

    Attributes:
        path: the video file or frame folder.
        fps: frames per second (exact for video files; :data:`DEFAULT_FOLDER_FPS` or the given
            rate for a folder).
        size: ``(w, h)`` of every frame, in pixels.
        num_frames: number of frames; exact for a folder and for videos whose header counts them,
            estimated from the duration otherwise, ``None`` when the file says nothing.
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
    ) -> None:
        super().__init__(path, fps, size, num_frames)
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
                        format="rgb24", interpolation=_SWS_FLAGS, src_color_range=frame.color_range or None
                    )
                    turns = _quarter_turns(frame.rotation)
                    if turns:
                        image = np.ascontiguousarray(np.rot90(image, turns))  # as players show it
                    self._check_size(image, f"{self.path} frame {index}")
                    yield image
                    index += 1
        except av.FFmpegError as exc:
            raise InputDataError(
                f"{self.path}: cannot decode frame {index} ({_av_message(exc)}); the file may be damaged"
            ) from None


class FrameFolderSource(FrameSource):
    """The frames of a folder of images, read in file-name order (see :func:`lgfn.data.io.list_frames`).

    Args:
        frames: the frame files, in order.
    """

    def __init__(self, path: Path, fps: Fraction, size: tuple[int, int], frames: list[Path]) -> None:
        super().__init__(path, fps, size, len(frames))
        self.frames = frames

    def __iter__(self) -> Iterator[np.ndarray]:
        for frame_path in self.frames:
            image = read_image(frame_path)
            self._check_size(image, str(frame_path))
            yield image


def open_source(path: str | os.PathLike, fps: str | float | Fraction | None = None) -> FrameSource:
    """Open a video file or a folder of frames for reading, checking that it holds frames.

    Args:
        path: a video file (``.mp4 .mkv .mov .avi .webm``, or anything FFmpeg reads) or a folder of
            ``.png/.jpg/.jpeg/.bmp`` frames whose names sort in frame order.
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
    first = read_image(frames[0])  # decodes fully: a bad first frame is reported now
    h, w = first.shape[:2]
    # A frame of another size would stop the run part-way; image headers give every size cheaply.
    for frame_path in frames[1:]:
        try:
            with Image.open(frame_path) as image:
                size = image.size
        except (OSError, SyntaxError, ValueError):  # what Pillow raises for a damaged header
            continue  # unreadable: read_image reports it, with its reason, when the frame is reached
        if size != (w, h):
            raise InputDataError(
                f"{frame_path}: frame size {size[0]}x{size[1]} differs from the first frame {frames[0].name} "
                f"({w}x{h}); expected every frame of a clip to have the same size"
            )
    return FrameFolderSource(path, fps, (w, h), frames)


def _open_video(path: Path, fps: Fraction | None) -> VideoFileSource:
    try:
        container = av.open(str(path))
    except av.FFmpegError as exc:
        raise InputDataError(f"{path}: not a readable video file ({_av_message(exc)})") from None
    with container:
        stream = _picture_stream(container.streams.video)
        if stream is None:
            raise InputDataError(f"{path}: has no video stream (expected a video file or a folder of frames)")
        try:
            first = next(container.decode(stream), None)
        except av.FFmpegError as exc:
            raise InputDataError(f"{path}: cannot decode the first frame ({_av_message(exc)})") from None
        if first is None:
            raise InputDataError(f"{path}: the video stream has no frames")
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        if fps is None:
            if not rate:
                raise InputDataError(f"{path}: the video does not state its frame rate; give one with --fps")
            fps = Fraction(rate)
        num_frames = stream.frames or None
        if num_frames is None and rate:
            # Containers such as Matroska do not count frames; the duration gives an estimate.
            if stream.duration is not None and stream.time_base is not None:
                seconds = stream.duration * stream.time_base
            elif container.duration is not None:
                seconds = Fraction(container.duration, av.time_base)
            else:
                seconds = None
            num_frames = round(seconds * Fraction(rate)) if seconds else None
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
        )


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


#: Bit rate of audio that has to be re-encoded (as AAC) because the output container cannot hold its codec.
AAC_BIT_RATE = 192_000
#: How far past the cut (in seconds) packets are still read: demuxed packets of different streams are
#: only roughly in time order, and reading on to the end of a long file would waste time.
_READ_AHEAD = Fraction(2)


class _Route:
    """One input audio or subtitle stream and the output stream its packets go to, copied or (audio
    only) re-encoded.

    Raises:
        ValueError: the output can hold the stream neither as it is nor (audio) as AAC.
    """

    def __init__(self, source: av.stream.Stream, output: av.container.OutputContainer) -> None:
        self.source = source
        self.copy = _container_can_hold(output.format.name, source)
        if self.copy:
            self.stream = output.add_stream_from_template(source)
        elif source.type == "audio":
            context = source.codec_context
            self.stream = output.add_stream("aac", rate=context.sample_rate)
            self.stream.layout = context.layout
            self.stream.bit_rate = AAC_BIT_RATE
        else:
            raise ValueError(f"{output.format.name} files cannot hold them (.mkv holds most kinds)")

    def describe(self) -> str:
        name = f"{self.source.type} {_codec_name(self.source)}"
        return f"{name} copied" if self.copy else f"{name} re-encoded as AAC"


def _codec_name(stream: av.stream.Stream) -> str:
    context = stream.codec_context
    return context.name if context is not None else "unknown codec"


def _container_can_hold(format_name: str, stream: av.stream.Stream) -> bool:
    """Whether a ``format_name`` container takes ``stream``'s packets as they are (tried in memory)."""
    probe = av.open(io.BytesIO(), mode="w", format=format_name)
    try:
        probe.add_stream_from_template(stream)
        probe.start_encoding()
        return True
    except (ValueError, av.FFmpegError):
        return False
    finally:
        try:
            probe.close()
        except (ValueError, av.FFmpegError):
            pass


class TrackCopy:
    """The audio and subtitle streams of a video file, carried into a video output with its frames.

    Each stream is copied packet by packet where the output container holds its codec. An audio
    stream that it does not hold (e.g. Opus in ``.mov`` or ``.avi``) is decoded and re-encoded as AAC
    (:data:`AAC_BIT_RATE`); a subtitle stream that it does not hold (SubRip or ASS text in ``.mp4``)
    is left out with a warning. The input's first video frame is time 0 of the output, as a
    :class:`VideoFileSink` writes it, so sound, subtitles and picture stay as they were in the input;
    what comes before that frame and after the output's last frame is dropped, in whole packets (an
    upscale stopped after N frames has N frames of sound), except that a subtitle cue showing at the
    first frame keeps the part of its time after it. AVI records no start time per stream, so
    there the sound can lead the picture by the part of a packet cut at the start (under one
    packet, typically 20-60 ms).

    A :class:`VideoFileSink` drives it while it joins its segments into the output: :meth:`attach`
    before the header, :meth:`mux_until` after each video packet (the tracks are interleaved with
    the picture), :meth:`finish` at the end.

    Args:
        source: the video file whose tracks are carried.
        skip: seconds of the source after its first frame that the output leaves out (an output
            that starts later in the video, ``lgfn upscale --start``).
        audio: carry the audio streams.
        subtitles: carry the subtitle streams.
    """

    def __init__(
        self,
        source: VideoFileSource,
        skip: Fraction = Fraction(0),
        audio: bool = True,
        subtitles: bool = True,
    ) -> None:
        self.path = source.path
        self.start_time = source.start_time + skip
        self.kinds = {kind for kind, wanted in (("audio", audio), ("subtitle", subtitles)) if wanted}
        self._input: av.container.InputContainer | None = None
        self._packets: Iterator[av.Packet] | None = None
        self._routes: dict[int, _Route] = {}
        self._held: av.Packet | None = None  # read, but later than the last cut

    @classmethod
    def of(
        cls, source: FrameSource, skip: Fraction = Fraction(0), audio: bool = True, subtitles: bool = True
    ) -> TrackCopy | None:
        """The tracks of ``source`` to carry, or ``None`` when it is no video file or has none of them."""
        if not isinstance(source, VideoFileSource):
            return None
        if not (audio and source.audio_streams) and not (subtitles and source.subtitle_streams):
            return None
        return cls(source, skip, audio, subtitles)

    def attach(self, output: av.container.OutputContainer) -> None:
        """Open the input and add an output stream for each stream carried (before any muxing)."""
        try:
            self._input = av.open(str(self.path))
        except av.FFmpegError as exc:
            raise InputDataError(
                f"{self.path}: cannot read its sound or subtitles ({_av_message(exc)})"
            ) from None
        for stream in self._input.streams:
            if stream.type not in self.kinds:
                continue
            try:
                self._routes[stream.index] = _Route(stream, output)
            except (ValueError, av.FFmpegError) as exc:
                logger.warning(
                    "%s stream %d (%s) of %s is left out: %s",
                    stream.type, stream.index, _codec_name(stream), self.path, _av_message(exc),
                )  # fmt: skip
        carried = [self._input.streams[index] for index in self._routes]
        self._packets = self._input.demux(carried) if carried else iter(())  # demux() alone reads all
        if self._routes:
            logger.info("carried: %s", ", ".join(route.describe() for route in self._routes.values()))

    def mux_until(self, output: av.container.OutputContainer, end: Fraction) -> None:
        """Write the packets that start before ``end`` seconds of output time."""
        while True:
            packet = self._held or self._next_packet()
            self._held = None
            if packet is None:
                return
            start = self._output_time(packet)
            if start >= end:
                self._held = packet
                return
            self._mux(output, packet, start)

    def finish(self, output: av.container.OutputContainer, end: Fraction) -> None:
        """Write the rest of the packets up to ``end`` seconds (the video's end); flush the encoders."""
        self.mux_until(output, end)
        # Packets of one stream may trail another's a little: look a short way past the cut.
        while (packet := self._held or self._next_packet()) is not None:
            self._held = None
            start = self._output_time(packet)
            if start >= end + _READ_AHEAD:
                break
            if start < end:
                self._mux(output, packet, start)
        for route in self._routes.values():
            if not route.copy:
                output.mux(route.stream.encode(None))
        self.close()

    def close(self) -> None:
        """Release the input file."""
        if self._input is not None:
            self._input.close()
            self._input = None

    def _next_packet(self) -> av.Packet | None:
        try:
            for packet in self._packets:
                if packet.pts is not None and packet.time_base is not None:  # not a demuxer's flush packet
                    return packet
        except av.FFmpegError as exc:
            raise InputDataError(
                f"{self.path}: cannot read its sound or subtitles ({_av_message(exc)})"
            ) from None
        return None

    def _output_time(self, packet: av.Packet) -> Fraction:
        return Fraction(packet.pts * packet.time_base) - self.start_time

    def _mux(self, output: av.container.OutputContainer, packet: av.Packet, start: Fraction) -> None:
        if start < 0:  # from before the first frame: dropped, but for the rest of a cue still showing
            shown = start + Fraction(packet.duration or 0) * packet.time_base
            if packet.stream.type != "subtitle" or shown <= 0:
                return
            cut = round(-start / packet.time_base)
            packet.pts += cut
            if packet.dts is not None:
                packet.dts += cut
            packet.duration -= cut
        route = self._routes[packet.stream.index]
        if route.copy:
            shift = round(self.start_time / packet.time_base)
            packet.pts -= shift
            if packet.dts is not None:
                packet.dts -= shift
            packet.stream = route.stream
            output.mux(packet)
            return
        try:
            frames = route.source.decode(packet)
        except av.FFmpegError as exc:
            logger.warning("%s: skipped undecodable audio (%s)", self.path, _av_message(exc))
            return
        for frame in frames:
            if frame.pts is not None and frame.time_base is not None:
                rate = frame.sample_rate
                frame.pts = round((Fraction(frame.pts * frame.time_base) - self.start_time) * rate)
                frame.time_base = Fraction(1, rate)
            output.mux(route.stream.encode(frame))


#: Frames per segment of a video output: the unit of work an interrupted run keeps (and of x264's
#: keyframe interval). At 15 s per frame (the paper's network on a 2-core CPU) that is 25 minutes.
SEGMENT_FRAMES = 100
#: The settings a work folder was made with, checked before it is resumed.
_JOB_FILE = "job.json"
#: Holds the process id of the run writing a work folder.
_LOCK_FILE = "lock"


def work_folder(path: str | os.PathLike) -> Path:
    """The hidden folder beside an output that holds its finished work until the output is complete."""
    path = Path(path)
    return path.parent / f".{path.name}.partial"


class FrameSink(ABC):
    """Writes frames to a work folder beside ``path`` that becomes the output when :meth:`close` succeeds.

    The work folder (:func:`work_folder`, ``.NAME.partial``) holds finished work, each piece written
    atomically: PNG frames for a folder output, segments of :data:`SEGMENT_FRAMES` frames for a video
    output. Leaving the ``with`` block normally assembles the output, moves it to ``path`` and removes
    the work folder. Leaving it by an exception (Ctrl-C included) drops the unfinished piece and
    leaves ``path`` as it was; finished pieces stay in the work folder, with the settings of the run,
    for a later run to continue from (``open_sink(..., resume=True)``, ``lgfn upscale --resume``).
    Make one with :func:`open_sink`.

    Args:
        path: the final output path.
        work: the work folder, created and locked by :func:`open_sink`.
        overwrite: replace an existing ``path`` on success.
        start: frames already finished in ``work`` (the first frame to write is ``start``).

    Attributes:
        resume_from: ``start``: the index of the first frame this sink is given.
        frames_written: frames finished so far, those of earlier runs included.
    """

    def __init__(self, path: Path, work: Path, overwrite: bool, start: int = 0) -> None:
        self.path = path
        self.work = work
        self.overwrite = overwrite
        self.resume_from = start
        self.frames_written = start
        self.size: tuple[int, int] | None = None  # (w, h) of the frames written by this sink
        self._finished = False

    def write(self, frame: np.ndarray) -> None:
        """Append one frame, ``(h, w, 3)`` uint8 RGB; every frame must have the size of the first."""
        if self._finished:
            raise RuntimeError(f"sink for {self.path} is already closed")
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"expected an (h, w, 3) uint8 RGB frame, got {frame.dtype} {frame.shape}")
        h, w = frame.shape[:2]
        if self.size is None:
            self.size = (w, h)
        elif self.size != (w, h):
            raise ValueError(
                f"frame {self.frames_written} is {w}x{h}, earlier frames are {self.size[0]}x{self.size[1]}"
            )
        self._write(frame)
        self.frames_written += 1

    @abstractmethod
    def _write(self, frame: np.ndarray) -> None: ...

    @abstractmethod
    def _assemble(self) -> Path:
        """Finish the last piece and build the complete output inside the work folder; return its path."""

    @abstractmethod
    def _drop_unfinished(self) -> None:
        """Release open files and delete the piece being written."""

    @abstractmethod
    def _finished_frames(self) -> int:
        """Frames in finished pieces of the work folder."""

    def close(self) -> None:
        """Assemble the output and move it to its final name (replacing the old one if allowed)."""
        if self._finished:
            return
        self._finished = True
        try:
            if self.frames_written == 0:
                raise LGFNError(f"no frames were written to {self.path}; nothing was saved")
            output = self._assemble()
            # The output gets the permissions a new file or folder would, whatever made it.
            _apply_umask(output, 0o777 if output.is_dir() else 0o666)
            _move_into_place(output, self.path, self.overwrite)
        except BaseException:
            self._keep_finished_work()
            raise
        shutil.rmtree(self.work, ignore_errors=True)

    def abort(self) -> None:
        """Stop without an output: the unfinished piece is dropped, finished ones stay for a resume."""
        if not self._finished:
            self._finished = True
            self._keep_finished_work()

    def _keep_finished_work(self) -> None:
        self._drop_unfinished()
        kept = self._finished_frames()
        if kept == 0:
            shutil.rmtree(self.work, ignore_errors=True)
            return
        (self.work / _LOCK_FILE).unlink(missing_ok=True)
        logger.warning(
            "%s is not complete; %d finished frame(s) are kept in %s: the same command with --resume "
            "continues from frame %d",
            self.path, kept, self.work, kept,
        )  # fmt: skip

    def __enter__(self) -> FrameSink:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def _segment_name(first: int, count: int, suffix: str) -> str:
    return f"frames_{first:08d}+{count:04d}{suffix}"


def _finished_segments(work: Path) -> list[tuple[int, int, Path]]:
    """``(first frame, frame count, file)`` of the contiguous finished segments from frame 0."""
    found = {}
    for file in work.glob("frames_*+*.*"):
        first, count = file.stem.removeprefix("frames_").split("+")
        found[int(first)] = (int(first), int(count), file)
    segments, frame = [], 0
    while frame in found:
        segments.append(found[frame])
        frame += found[frame][1]
    return segments


class VideoFileSink(FrameSink):
    """H.264 (libx264) in ``yuv420p``, at an exact rational frame rate.

    Frames are encoded in segments of :data:`SEGMENT_FRAMES` (files in the work folder, each
    starting with a keyframe); closing the sink joins the segments' packets into one stream in the
    output container, without decoding them again, and adds the audio and subtitles (:class:`TrackCopy`).

    H.264 and H.265 store colour at half resolution (``yuv420p``), so they need an even width and
    height: a frame with an odd side is padded by repeating its last row or column (the video is one
    pixel larger than the frames; FFV1 or a PNG folder keep the exact size). FFV1 stores the RGB
    frames losslessly.

    Args:
        fps: frame rate of the output.
        crf: x264/x265 constant rate factor, 0 .. 51; lower is better and larger (FFV1: unused).
        codec: a key of :data:`CODECS`.
        tracks: audio and subtitles to carry into the output along with the frames, or ``None``.
        sample_aspect_ratio: the pixel shape to record (non-square pixels of the input; super-resolution
            scales both sides alike, so it stays), or ``None`` for square pixels.
    """

    def __init__(
        self,
        path: Path,
        work: Path,
        overwrite: bool,
        fps: Fraction,
        crf: int,
        tracks: TrackCopy | None = None,
        start: int = 0,
        sample_aspect_ratio: Fraction | None = None,
        codec: str = DEFAULT_CODEC,
    ) -> None:
        super().__init__(path, work, overwrite, start)
        self.fps = fps
        self.crf = crf
        self.encoder, self.pix_fmt, self.segment_suffix = CODECS[codec]
        self.tracks = tracks
        self.sample_aspect_ratio = sample_aspect_ratio
        self._container: av.container.OutputContainer | None = None
        self._stream: av.VideoStream | None = None
        self._segment: Path | None = None  # the segment being written (a hidden name until finished)
        self._segment_first = start
        self._padding_logged = False

    def _open_segment(self, width: int, height: int) -> None:
        self._segment_first = self.frames_written
        self._segment = self.work / f".writing-{self.frames_written:08d}{self.segment_suffix}"
        try:
            self._container = av.open(str(self._segment), mode="w")
            stream = self._container.add_stream(self.encoder, rate=self.fps)
        except av.FFmpegError as exc:
            raise LGFNError(f"cannot create video {self.path} ({_av_message(exc)})") from None
        stream.width = width
        stream.height = height
        stream.pix_fmt = self.pix_fmt
        if self.encoder == "libx264":
            stream.options = {"crf": str(self.crf)}
        elif self.encoder == "libx265":
            stream.options = {"crf": str(self.crf), "x265-params": "log-level=error"}
        if self.pix_fmt.startswith("yuv"):
            stream.codec_context.colorspace = _output_matrix(height)[1]
            stream.codec_context.color_range = _AVCOL_RANGE_MPEG
        if self.sample_aspect_ratio is not None:
            stream.codec_context.sample_aspect_ratio = self.sample_aspect_ratio
        self._stream = stream

    def _finish_segment(self) -> None:
        self._container.mux(self._stream.encode(None))  # flush the frames x264 holds back
        self._container.close()
        count = self.frames_written - self._segment_first
        os.rename(self._segment, self.work / _segment_name(self._segment_first, count, self.segment_suffix))
        self._container = self._stream = self._segment = None

    def write(self, frame: np.ndarray) -> None:
        super().write(frame)
        if self.frames_written - self._segment_first == SEGMENT_FRAMES:
            self._finish_segment()

    def _write(self, frame: np.ndarray) -> None:
        h, w = frame.shape[:2]
        subsampled = self.pix_fmt == "yuv420p"
        pad_h, pad_w = (h % 2, w % 2) if subsampled else (0, 0)
        if (pad_h or pad_w) and not self._padding_logged:
            logger.warning(
                "frames are %dx%d; %s needs even sizes, so %s is padded to %dx%d by repeating the "
                "last row/column (--codec ffv1 or a folder of PNG frames keep the exact size)",
                w, h, self.encoder, self.path, w + pad_w, h + pad_h,
            )  # fmt: skip
            self._padding_logged = True
        if self._container is None:
            self._open_segment(w + pad_w, h + pad_h)
        if pad_h or pad_w:
            frame = np.pad(frame, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
        picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        if subsampled:
            picture = picture.reformat(
                format="yuv420p",
                dst_colorspace=_output_matrix(frame.shape[0])[0],
                dst_color_range=ColorRange.MPEG,
                interpolation=_SWS_FLAGS,
            )
        else:
            picture = picture.reformat(format=self.pix_fmt)  # a lossless reordering of the channels
        picture.pts = self.frames_written - self._segment_first
        picture.time_base = 1 / self.fps
        self._container.mux(self._stream.encode(picture))

    def _assemble(self) -> Path:
        if self._container is not None:
            self._finish_segment()
        segments = _finished_segments(self.work)
        output = self.work / f"output{self.path.suffix}"
        frame_time = 1 / self.fps
        try:
            container = av.open(str(output), mode="w")
        except av.FFmpegError as exc:
            raise LGFNError(f"cannot create video {self.path} ({_av_message(exc)})") from None
        with container:
            with av.open(str(segments[0][2])) as first:
                stream = container.add_stream_from_template(first.streams.video[0])
            stream.time_base = frame_time
            if self.tracks is not None:
                self.tracks.attach(container)
            try:
                container.start_encoding()  # the header: every stream is known now
            except (ValueError, av.FFmpegError) as exc:
                hint = "; --no-audio and --no-subtitles leave those out" if self.tracks is not None else ""
                raise LGFNError(f"cannot create video {self.path} ({_av_message(exc)}){hint}") from None
            for first_frame, _, file in segments:
                with av.open(str(file)) as segment:
                    for packet in segment.demux(segment.streams.video[0]):
                        if packet.dts is None:
                            continue  # the demuxer's flush packet
                        # Timestamps in frames: the segment's, shifted to where it starts.
                        to_frames = packet.time_base / frame_time
                        packet.pts = first_frame + round(packet.pts * to_frames)
                        packet.dts = first_frame + round(packet.dts * to_frames)
                        packet.time_base, packet.duration = frame_time, 1
                        packet.stream = stream
                        decoded_by = (packet.dts + 1) * frame_time  # before mux() rescales the packet
                        container.mux(packet)
                        if self.tracks is not None:
                            self.tracks.mux_until(container, decoded_by)
            if self.tracks is not None:
                self.tracks.finish(container, self.frames_written * frame_time)
        return output

    def _drop_unfinished(self) -> None:
        if self.tracks is not None:
            self.tracks.close()
        if self._container is not None:
            try:
                self._container.close()
            except (av.FFmpegError, ValueError):
                pass  # the file is deleted next; a failure to finish it does not matter
        if self._segment is not None:
            self._segment.unlink(missing_ok=True)
        (self.work / f"output{self.path.suffix}").unlink(missing_ok=True)

    def _finished_frames(self) -> int:
        return _segment_frames(self.work)


class FrameFolderSink(FrameSink):
    """A folder of PNG frames named ``00000000.png, 00000001.png, ...`` (lossless, exact size)."""

    def _write(self, frame: np.ndarray) -> None:
        name = f"{self.frames_written:08d}.png"
        writing = self.work / "frames" / f".writing-{name}"
        write_image(writing, frame)
        os.rename(writing, writing.with_name(name))  # a frame under its name is a whole frame

    def _assemble(self) -> Path:
        return self.work / "frames"

    def _drop_unfinished(self) -> None:
        for unfinished in (self.work / "frames").glob(".writing-*"):
            unfinished.unlink(missing_ok=True)

    def _finished_frames(self) -> int:
        return _folder_frames(self.work)


def _apply_umask(path: Path, mode: int) -> None:
    """Give ``path`` the permissions ``mode`` limited by the process umask, as ``open``/``mkdir`` would."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, mode & ~umask)


def _move_into_place(temporary: Path, path: Path, overwrite: bool) -> None:
    """Rename the finished ``temporary`` to ``path``, replacing an existing ``path`` only if ``overwrite``."""
    if not os.path.lexists(path):
        os.rename(temporary, path)
        return
    if not overwrite:
        raise LGFNError(f"output {path} appeared while writing; pass --overwrite to replace it")
    if temporary.is_file() and path.is_file():
        os.replace(temporary, path)  # atomic: readers see the old or the new file, never neither
        return
    # A folder cannot be swapped atomically: move the old one aside first, delete it afterwards.
    old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
    aside = old / path.name
    os.rename(path, aside)
    try:
        os.rename(temporary, path)
    except BaseException:
        os.rename(aside, path)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def _lock_work_folder(work: Path, path: Path) -> None:
    """Mark ``work`` as this process's, refusing a folder that a live process is writing."""
    lock = work / _LOCK_FILE
    try:
        holder = int(lock.read_text())
    except (OSError, ValueError):
        holder = None
    if holder is not None and holder != os.getpid() and _pid_alive(holder):
        raise LGFNError(f"another run (process {holder}) is writing {path}; wait for it or stop it first")
    lock.write_text(str(os.getpid()))


def _prepare_work_folder(
    work: Path, path: Path, job: dict, resume: bool, overwrite: bool, finished: Callable[[], int]
) -> int:
    """Create, check or reuse the work folder of ``path``; return the number of frames already finished.

    A folder left by an interrupted run is continued when ``resume`` is set and its recorded
    settings equal ``job``, discarded (with a warning) when only ``overwrite`` is, and otherwise an
    error: finished work is never dropped unasked.
    """
    if work.is_dir():
        _lock_work_folder(work, path)
        done = finished()
        if done and not resume:
            if not overwrite:
                raise LGFNError(
                    f"an interrupted run left {done} finished frame(s) of {path} in {work}; pass --resume "
                    "to continue from them, or --overwrite to start over"
                )
            logger.warning(
                "--overwrite: starting %s over, discarding %d finished frame(s) in %s", path, done, work
            )
            done = 0
        if done:
            try:
                recorded = json.loads((work / _JOB_FILE).read_text())
            except (OSError, ValueError):
                recorded = None
            if not isinstance(recorded, dict):
                raise LGFNError(f"{work} has no readable record of its settings; delete it to start over")
            details = settings_changes(recorded, job)
            if details:
                raise LGFNError(
                    f"cannot resume {path}: the interrupted run in {work} used other settings ({details}); "
                    "run it with the same options, or delete that folder to start over"
                )
            logger.info("resuming %s: %d frame(s) already finished in %s", path, done, work)
            return done
        shutil.rmtree(work)
    try:
        work.mkdir(parents=True)
    except FileExistsError:  # made in the meantime by a run that started at the same moment
        raise LGFNError(f"another run is writing {path}; wait for it or stop it first") from None
    _lock_work_folder(work, path)
    (work / _JOB_FILE).write_text(json.dumps(job, indent=1, sort_keys=True))
    return 0


def refuse_existing_output(path: str | os.PathLike, overwrite: bool) -> None:
    """Raise :class:`LGFNError` when ``path`` exists and may not be replaced."""
    if os.path.lexists(path) and not overwrite:
        raise LGFNError(f"output {path} already exists; pass --overwrite to replace it")


def open_sink(
    path: str | os.PathLike,
    fps: str | float | Fraction = DEFAULT_FOLDER_FPS,
    crf: int = DEFAULT_CRF,
    overwrite: bool = False,
    tracks: TrackCopy | None = None,
    resume: bool = False,
    job: Mapping[str, Any] | None = None,
    sample_aspect_ratio: Fraction | None = None,
    codec: str = DEFAULT_CODEC,
) -> FrameSink:
    """Open an output for frames; its kind follows the name.

    - ``NAME.mp4 / .mkv / .mov / .avi``: an H.264 video (see :class:`VideoFileSink`).
    - any other name without an image extension: a folder of PNG frames (see :class:`FrameFolderSink`).

    Missing parent folders are created. Nothing appears under ``path`` until the sink is closed;
    until then, finished work lives in :func:`work_folder`, where an interrupted run leaves it.

    Args:
        path: the output video file or frame folder.
        fps: frame rate of a video output (a folder records none).
        crf: x264 quality, 0 .. 51 (lower is better).
        overwrite: allow replacing an existing ``path`` (file or folder).
        tracks: the audio and subtitle streams a video output carries along (see
            :class:`TrackCopy`, :meth:`TrackCopy.of`); a folder output carries none.
        resume: continue from the finished frames an interrupted run left in the work folder; the
            sink's ``resume_from`` says which frame to write first. Without it, ``overwrite``
            discards them and starts over; neither is an error.
        job: JSON-compatible settings that decide the output's frames (input, model, options); a
            work folder is resumed only by a run with the same ``job``.
        sample_aspect_ratio: non-square pixels' width / height to record in a video output (a
            source's ``sample_aspect_ratio``); PNG frames cannot record it.
        codec: a video output's codec, a key of :data:`CODECS`.

    Returns:
        A :class:`FrameSink`, to be used as a context manager.

    Raises:
        LGFNError: ``path`` exists and ``overwrite`` is false, names a single image or a container
            that cannot hold H.264, or ``crf`` is out of range; an interrupted run's work is in the
            way without ``resume``, or was made with other settings; another process is writing
            ``path``.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    fps = parse_fps(fps)
    if path.name in ("", ".", "..") or path.resolve() in (Path.cwd(), *Path.cwd().parents):
        raise LGFNError(
            f"output {path} is the current folder or holds it; give the name of a new file or folder"
        )
    if suffix in FRAME_EXTENSIONS:
        raise LGFNError(
            f"output {path} names a single image; give a folder name for PNG frames or a video file "
            f"({', '.join(VIDEO_OUTPUT_EXTENSIONS)})"
        )
    if suffix in VIDEO_EXTENSIONS and suffix not in VIDEO_OUTPUT_EXTENSIONS:
        raise LGFNError(
            f"output {path}: {suffix} cannot hold H.264 video; "
            f"use one of {', '.join(VIDEO_OUTPUT_EXTENSIONS)}"
        )
    if codec not in CODECS:
        raise LGFNError(f"unknown video codec {codec!r}; expected one of {', '.join(CODECS)}")
    if not 0 <= crf <= 51:
        raise LGFNError(f"crf must be between 0 and 51 (lower is better quality), got {crf}")
    refuse_existing_output(path, overwrite)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LGFNError(f"cannot make the folder {path.parent} for the output: {exc.strerror}") from None
    work = work_folder(path)
    video = suffix in VIDEO_OUTPUT_EXTENSIONS
    record = dict(job or {})
    record.update(output="video" if video else "frames", fps=str(fps))
    if video:
        record.update(
            codec=codec, crf=crf, segment_frames=SEGMENT_FRAMES, sample_aspect_ratio=str(sample_aspect_ratio)
        )
        start = _prepare_work_folder(work, path, record, resume, overwrite, partial(_segment_frames, work))
        return VideoFileSink(path, work, overwrite, fps, crf, tracks, start, sample_aspect_ratio, codec)
    if tracks is not None:
        logger.info("the input's audio and subtitles are not written: %s is a folder of frames", path)
    if sample_aspect_ratio is not None:
        logger.warning(
            "the input's pixels are not square (%s wide to 1 high) and PNG frames cannot say so: "
            "show %s at that pixel shape, or write a video, which records it",
            sample_aspect_ratio, path,
        )  # fmt: skip
    start = _prepare_work_folder(work, path, record, resume, overwrite, partial(_folder_frames, work))
    (work / "frames").mkdir(exist_ok=True)
    return FrameFolderSink(path, work, overwrite, start)


def _segment_frames(work: Path) -> int:
    """Frames in the finished segments of a video output's work folder."""
    return sum(count for _, count, _ in _finished_segments(work))


def _folder_frames(work: Path) -> int:
    """Finished frames of a folder output's work folder: ``00000000.png`` on, without a gap."""
    count = 0
    while (work / "frames" / f"{count:08d}.png").is_file():
        count += 1
    return count
