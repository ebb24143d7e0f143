"""Writing frames: to a video file or to a folder of PNG frames, one frame at a time.

A :class:`FrameSink` writes frames to a video file (H.264 ``yuv420p`` by default, H.265 or lossless
FFV1, :data:`~lgfn.media.segments.CODECS`) or to a folder of PNG frames ``00000000.png,
00000001.png, ...``; :func:`open_sink` chooses the kind by the output's name and checks it before any
work is done. Output is atomic and work is not lost: frames go to the output's work folder
(:mod:`lgfn.media.workfolder`) as PNG frames or as segments of encoded frames (:mod:`lgfn.media.segments`;
:data:`SEGMENT_FRAMES` unless given), and the output appears under its name only when the sink closes
after success.

A sink writes frames at one constant rate (a variable-frame-rate input comes out at its average
rate), upright, with no rotation of its own; a video output records the pixel shape of non-square
pixels (DVD video) and can carry a video file's audio and subtitles along (:mod:`lgfn.media.tracks`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from fractions import Fraction
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any

import av
import numpy as np

from lgfn.data.io import FRAME_EXTENSIONS, write_image
from lgfn.errors import LGFNError
from lgfn.files import apply_umask
from lgfn.media.containers import OUTPUT_CONTAINERS, check_output_name, is_video_output
from lgfn.media.ffmpeg import av_message, encode_colour
from lgfn.media.provenance import VIDEO_TAG, job_digest, write_folder_record
from lgfn.media.segments import (
    CODECS,
    DEFAULT_CODEC,
    DEFAULT_CRF,
    add_video_stream,
    all_segments,
    finished_segments,
    join_segments,
    segment_name,
)
from lgfn.media.sources import DEFAULT_FOLDER_FPS, parse_fps
from lgfn.media.tracks import TrackCopy
from lgfn.media.workfolder import (
    kept_work_message,
    move_into_place,
    prepare_work_folder,
    refuse_existing_output,
    unlock_work_folder,
    work_folder,
    write_error,
)

logger = logging.getLogger(__name__)

#: Extensions (lower case) of the video containers an output can be written in.
VIDEO_OUTPUT_EXTENSIONS = tuple(OUTPUT_CONTAINERS)
#: Frames per segment of a video output unless ``open_sink`` is given another length: the unit of
#: work an interrupted run keeps (each segment starts with a keyframe). ``lgfn upscale`` chooses its
#: own from the network and the frame size (:func:`~lgfn.media.segments.default_segment_frames`).
SEGMENT_FRAMES = 100


class FrameSink(ABC):
    """Writes frames to a work folder beside ``path`` that becomes the output when :meth:`close` succeeds.

    The work folder (:func:`~lgfn.media.workfolder.work_folder`, ``.NAME.partial``) holds finished
    work, each piece written atomically: PNG frames for a folder output, segments of
    :data:`SEGMENT_FRAMES` frames for a video output. Leaving the ``with`` block normally assembles
    the output, moves it to ``path`` and removes the work folder. Leaving it by an exception (Ctrl-C
    included) drops the unfinished piece and leaves ``path`` as it was; finished pieces stay in the
    work folder, with the settings of the run, for a later run to continue from
    (``open_sink(..., resume=True)``, ``lgfn upscale --resume``). Make one with :func:`open_sink`.

    Args:
        path: the final output path.
        work: the work folder, created and locked by :func:`open_sink`.
        overwrite: replace an existing ``path`` on success.
        start: frames already finished in ``work`` (the first frame to write is ``start``).
        job: the settings that decide the frames (:func:`output_record`); the finished output
            records their digest (:mod:`lgfn.media.provenance`).
        assemble: build the output when the sink closes; ``False`` for a sink that writes one share
            of the frames (a process of a torchrun, :mod:`lgfn.media.shares`): closing it only
            finishes its last piece, and an interruption only drops its unfinished one.

    Attributes:
        resume_from: ``start``: the index of the first frame this sink is given.
        frames_written: frames finished so far, those of earlier runs included.
        segment_frames: frames per finished piece of a video output; ``None``: every frame is one.
    """

    segment_frames: int | None = None

    def __init__(
        self,
        path: Path,
        work: Path,
        overwrite: bool,
        start: int = 0,
        job: Mapping[str, Any] | None = None,
        assemble: bool = True,
    ) -> None:
        self.path = path
        self.assemble = assemble
        self.job = dict(job or {})
        self.work = work
        self.overwrite = overwrite
        self.resume_from = start
        self.frames_written = start
        self.size: tuple[int, int] | None = None  # (w, h) of the frames written by this sink
        self._finished = False

    def write(self, frame: np.ndarray) -> None:
        """Append one frame, ``(h, w, 3)`` RGB or ``(h, w, 1)`` grey, uint8 or uint16 (a video stores
        8-bit RGB, a folder of PNG frames the frame as it is); every frame must have the size of the first."""
        if self._finished:
            raise RuntimeError(f"sink for {self.path} is already closed")
        if frame.dtype not in (np.uint8, np.uint16) or frame.ndim != 3 or frame.shape[2] not in (1, 3):
            raise ValueError(
                f"expected an (h, w, 3) or (h, w, 1) uint8 or uint16 frame, got {frame.dtype} {frame.shape}"
            )
        h, w = frame.shape[:2]
        if self.size is None:
            self.size = (w, h)
        elif self.size != (w, h):
            raise ValueError(
                f"frame {self.frames_written} is {w}x{h}, earlier frames are {self.size[0]}x{self.size[1]}"
            )
        with self._writing():
            self._write(frame)
        self.frames_written += 1

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """Turn a failure to write (a full disk, ...) into one :class:`LGFNError` naming the output."""
        try:
            yield
        except OSError as exc:
            raise write_error(self.path, exc) from None

    @staticmethod
    @abstractmethod
    def finished_frames(work: Path) -> int:
        """Frames in the finished pieces of a work folder of this kind of output, from frame 0 on
        without a gap: where a single process continues."""

    @staticmethod
    @abstractmethod
    def kept_frames(work: Path) -> int:
        """Frames in all finished pieces of a work folder, those after a gap included (the processes
        of a torchrun each write their own share)."""

    def _finish_pieces(self) -> None:  # noqa: B027 - a folder output's frames are whole when written
        """Finish the piece being written, without building the output (a share's end)."""

    @abstractmethod
    def _write(self, frame: np.ndarray) -> None: ...

    @abstractmethod
    def _assemble(self) -> Path:
        """Finish the last piece and build the complete output inside the work folder; return its path."""

    @abstractmethod
    def _drop_unfinished(self) -> None:
        """Release open files and delete the piece being written."""

    def close(self) -> None:
        """Assemble the output and move it to its final name (replacing the old one if allowed)."""
        if self._finished:
            return
        self._finished = True
        if not self.assemble:
            with self._writing():
                self._finish_pieces()
            return
        try:
            if self.frames_written == 0:
                raise LGFNError(f"no frames were written to {self.path}; nothing was saved")
            with self._writing():
                output = self._assemble()
                # The output gets the permissions a new file or folder would, whatever made it.
                apply_umask(output, 0o777 if output.is_dir() else 0o666)
                move_into_place(output, self.path, self.overwrite)
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
        if not self.assemble:
            return  # the work folder is the process's that assembles the output
        kept, gapless = self.kept_frames(self.work), self.finished_frames(self.work)
        message = kept_work_message(
            self.path, self.work, kept, max(self.frames_written, kept), self.segment_frames, kept == gapless
        )
        if message:
            logger.warning("%s", message)
        if kept == 0:
            shutil.rmtree(self.work, ignore_errors=True)
            return
        unlock_work_folder(self.work)

    def __enter__(self) -> FrameSink:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class VideoFileSink(FrameSink):
    """H.264 (libx264) in ``yuv420p`` by default, H.265 or FFV1, at an exact rational frame rate.

    Frames are encoded in segments of ``segment_frames`` (files in the work folder, each
    starting with a keyframe); closing the sink joins the segments' packets into one stream in the
    output container, without decoding them again, and adds the audio and subtitles (:class:`TrackCopy`).

    H.264 and H.265 store colour at half resolution (``yuv420p``), so they need an even width and
    height: a frame with an odd side is padded by repeating its last row or column (the video is one
    pixel larger than the frames; FFV1 or a PNG folder keep the exact size). FFV1 stores the RGB
    frames losslessly.

    Args:
        fps: frame rate of the output.
        crf: x264/x265 constant rate factor, 0 .. 51; lower is better and larger (FFV1: unused).
        codec: a key of :data:`~lgfn.media.segments.CODECS`.
        tracks: audio and subtitles to carry into the output along with the frames, or ``None``.
        sample_aspect_ratio: the pixel shape to record (non-square pixels of the input; super-resolution
            scales both sides alike, so it stays), or ``None`` for square pixels.
        segment_frames: frames per segment (:data:`SEGMENT_FRAMES` when ``None``).
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
        job: Mapping[str, Any] | None = None,
        segment_frames: int | None = None,
        assemble: bool = True,
    ) -> None:
        super().__init__(path, work, overwrite, start, job, assemble)
        self.segment_frames = segment_frames or SEGMENT_FRAMES
        self.fps = fps
        self.crf = crf
        self.codec = codec
        self.encoder, self.pix_fmt, self.segment_suffix = CODECS[codec]
        self.tracks = tracks
        self.sample_aspect_ratio = sample_aspect_ratio
        self._container: av.container.OutputContainer | None = None
        self._stream: av.VideoStream | None = None
        self._segment: Path | None = None  # the segment being written (a hidden name until finished)
        self._segment_first = start
        self._padding_logged = False
        self._conversion_logged = False

    @staticmethod
    def finished_frames(work: Path) -> int:
        """Frames in the finished segments of a video output's work folder."""
        return sum(count for _, count, _ in finished_segments(work))

    @staticmethod
    def kept_frames(work: Path) -> int:
        """Frames in all finished segments of a video output's work folder."""
        return sum(count for _, count, _ in all_segments(work))

    def _finish_pieces(self) -> None:
        if self._container is not None:
            self._finish_segment()

    def write(self, frame: np.ndarray) -> None:
        super().write(frame)
        if self.frames_written - self._segment_first == self.segment_frames:
            with self._writing():
                self._finish_segment()

    def _open_segment(self, width: int, height: int) -> None:
        self._segment_first = self.frames_written
        self._segment = self.work / f".writing-{self.frames_written:08d}{self.segment_suffix}"
        try:
            self._container = av.open(str(self._segment), mode="w")
            self._stream = add_video_stream(
                self._container, self.codec, self.fps, self.crf, (width, height), self.sample_aspect_ratio
            )
        except av.FFmpegError as exc:
            if isinstance(exc, OSError):  # the disk, not the settings: the caller names it
                raise
            raise LGFNError(f"cannot create video {self.path} ({av_message(exc)})") from None

    def _finish_segment(self) -> None:
        self._container.mux(self._stream.encode(None))  # flush the frames x264 holds back
        self._container.close()
        count = self.frames_written - self._segment_first
        os.rename(self._segment, self.work / segment_name(self._segment_first, count, self.segment_suffix))
        self._container = self._stream = self._segment = None

    def _write(self, frame: np.ndarray) -> None:
        if frame.dtype != np.uint8 or frame.shape[2] != 3:
            frame = self._to_rgb8(frame)
        h, w = frame.shape[:2]
        pad_h, pad_w = (h % 2, w % 2) if self.pix_fmt == "yuv420p" else (0, 0)
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
        picture = encode_colour(np.ascontiguousarray(frame), self.pix_fmt)
        picture.pts = self.frames_written - self._segment_first
        picture.time_base = 1 / self.fps
        self._container.mux(self._stream.encode(picture))

    def _to_rgb8(self, frame: np.ndarray) -> np.ndarray:
        """A grey or 16-bit frame as the 8-bit RGB the encoders take (said once)."""
        if not self._conversion_logged:
            kind = f"{8 * frame.itemsize}-bit {'grey-scale' if frame.shape[2] == 1 else 'RGB'}"
            logger.warning(
                "the frames are %s; %s stores them as 8-bit RGB (a folder of PNG frames keeps them as "
                "they are)",
                kind, self.path,
            )  # fmt: skip
            self._conversion_logged = True
        if frame.dtype == np.uint16:  # 65535 / 257 = 255: each 8-bit level stands for 257 16-bit ones
            frame = np.floor(frame / 257.0 + 0.5).astype(np.uint8)
        return np.repeat(frame, 3, axis=2) if frame.shape[2] == 1 else frame

    def _assemble(self) -> Path:
        if self._container is not None:
            self._finish_segment()
        output = self.work / f"output{self.path.suffix}"
        segments = finished_segments(self.work)
        tags = {VIDEO_TAG: job_digest(self.job)}
        join_segments(output, segments, self.fps, self.frames_written, self.tracks, self.path, tags)
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


class FrameFolderSink(FrameSink):
    """A folder of PNG frames named ``00000000.png, 00000001.png, ...`` (lossless, exact size); grey
    frames are written as grey PNGs and 16-bit frames as 16-bit PNGs."""

    #: The frame being written, under a hidden name (set while each frame is written).
    _unfinished: Path | None = None

    @staticmethod
    def finished_frames(work: Path) -> int:
        """Finished frames of a folder output's work folder: ``00000000.png`` on, without a gap."""
        count = 0
        while (work / "frames" / f"{count:08d}.png").is_file():
            count += 1
        return count

    @staticmethod
    def kept_frames(work: Path) -> int:
        """Finished frames of a folder output's work folder, wherever they are."""
        return len(finished_frame_numbers(work))

    def _write(self, frame: np.ndarray) -> None:
        name = f"{self.frames_written:08d}.png"
        self._unfinished = self.work / "frames" / f".writing-{name}"
        write_image(self._unfinished, frame)
        os.rename(self._unfinished, self._unfinished.with_name(name))  # under its name: a whole frame
        self._unfinished = None

    def _assemble(self) -> Path:
        # Nothing else writes now: what a killed process left half-written goes.
        for unfinished in (self.work / "frames").glob(".writing-*"):
            unfinished.unlink(missing_ok=True)
        write_folder_record(self.work / "frames", self.job)
        return self.work / "frames"

    def _drop_unfinished(self) -> None:
        # Only this sink's own frame: the other processes of a torchrun write theirs beside it.
        if self._unfinished is not None:
            self._unfinished.unlink(missing_ok=True)


def finished_frame_numbers(work: Path) -> set[int]:
    """The numbers of the finished frames (``00000012.png``) in a folder output's work folder."""
    names = (file.name for file in (work / "frames").glob("[0-9]*.png"))
    return {int(name[:-4]) for name in names if name[:-4].isdigit()}


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
    segment_frames: int | None = None,
    share_from: int | None = None,
) -> FrameSink:
    """Open an output for frames; its kind follows the name.

    - a name ending in a suffix of :data:`~lgfn.media.containers.OUTPUT_CONTAINERS` (``.mp4 .mkv``
      ...): a video (see :class:`VideoFileSink`); another video-looking suffix is refused.
    - any other name without an image extension: a folder of PNG frames (see :class:`FrameFolderSink`).

    Missing parent folders are created. Nothing appears under ``path`` until the sink is closed;
    until then, finished work lives in :func:`~lgfn.media.workfolder.work_folder`, where an
    interrupted run leaves it.

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
        codec: a video output's codec, a key of :data:`~lgfn.media.segments.CODECS`.
        segment_frames: frames per segment of a video output (:data:`SEGMENT_FRAMES` when ``None``);
            recorded with ``job``, so a resumed run must give the same.
        share_from: open a sink for one share of the frames, from this frame on, in the work folder
            that the call without it opened (and checked and locked) in another process of a
            torchrun; it does not assemble the output (:mod:`lgfn.media.shares`).

    Returns:
        A :class:`FrameSink`, to be used as a context manager.

    Raises:
        LGFNError: ``path`` exists and ``overwrite`` is false, names a single image, a video we do
            not write or a container that cannot hold ``codec``, or ``crf`` is out of range; an
            interrupted run's work is in the way without ``resume``, or was made with other
            settings; another process is writing ``path``; the folder cannot be written to
            (read-only, full). Writing and closing the sink raise it too when the disk fills (the
            finished frames stay for a resume).
    """
    path = Path(path)
    fps = parse_fps(fps)
    work = work_folder(path)
    segment_frames = segment_frames or SEGMENT_FRAMES
    record = output_record(path, fps, crf, job, sample_aspect_ratio, codec, segment_frames)
    if share_from is not None:
        if is_video_output(path):
            video = (fps, crf, None, share_from, sample_aspect_ratio, codec, record, segment_frames)
            return VideoFileSink(path, work, overwrite, *video, assemble=False)
        return FrameFolderSink(path, work, overwrite, share_from, job=record, assemble=False)
    _check_output(path, codec, crf, overwrite)
    if is_video_output(path):
        start = _prepare(work, path, record, resume, overwrite, VideoFileSink)
        return VideoFileSink(
            path, work, overwrite, fps, crf, tracks, start, sample_aspect_ratio, codec, record, segment_frames
        )
    _log_what_frames_leave_out(path, tracks, sample_aspect_ratio)
    start = _prepare(work, path, record, resume, overwrite, FrameFolderSink)
    try:
        (work / "frames").mkdir(exist_ok=True)
    except OSError as exc:
        raise write_error(path, exc) from None
    return FrameFolderSink(path, work, overwrite, start, job=record)


def output_record(
    path: str | os.PathLike,
    fps: str | float | Fraction = DEFAULT_FOLDER_FPS,
    crf: int = DEFAULT_CRF,
    job: Mapping[str, Any] | None = None,
    sample_aspect_ratio: Fraction | None = None,
    codec: str = DEFAULT_CODEC,
    segment_frames: int | None = None,
) -> dict[str, Any]:
    """What decides the frames of the output :func:`open_sink` opens with these arguments: the caller's
    ``job`` and the sink's own settings, as the work folder keeps them and the finished output records
    them (:mod:`lgfn.media.provenance`)."""
    record = {**(job or {}), "fps": str(parse_fps(fps))}
    if not is_video_output(path):
        return {**record, "output": "frames"}
    record.update(output="video", codec=codec, crf=crf, segment_frames=segment_frames or SEGMENT_FRAMES)
    return {**record, "sample_aspect_ratio": str(sample_aspect_ratio)}


def _prepare(
    work: Path, path: Path, job: Mapping[str, Any], resume: bool, overwrite: bool, kind: type[FrameSink]
) -> int:
    """:func:`prepare_work_folder`, with a folder that cannot be written to (read-only, full) as an
    :class:`LGFNError`; returns the first frame a single process writes (the kept work, finished pieces
    after a gap included, decides whether the folder is resumed)."""
    try:
        kept = prepare_work_folder(work, path, job, resume, overwrite, partial(kind.kept_frames, work))
    except OSError as exc:
        raise write_error(path, exc) from None
    return kind.finished_frames(work) if kept else 0


def _check_output(path: Path, codec: str, crf: int, overwrite: bool) -> None:
    """Refuse an output name, codec or quality that cannot be written; make the output's folder."""
    suffix = path.suffix.lower()
    if path.name in ("", ".", "..") or path.resolve() in (Path.cwd(), *Path.cwd().parents):
        raise LGFNError(
            f"output {path} is the current folder or holds it; give the name of a new file or folder"
        )
    if suffix in FRAME_EXTENSIONS:
        raise LGFNError(
            f"output {path} names a single image; give a folder name for PNG frames or a video file "
            f"({' '.join(VIDEO_OUTPUT_EXTENSIONS)})"
        )
    if codec not in CODECS:
        raise LGFNError(f"unknown video codec {codec!r}; expected one of {', '.join(CODECS)}")
    check_output_name(path, codec)
    if not 0 <= crf <= 51:
        raise LGFNError(f"crf must be between 0 and 51 (lower is better quality), got {crf}")
    refuse_existing_output(path, overwrite)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LGFNError(f"cannot make the folder {path.parent} for the output: {exc.strerror}") from None


def _log_what_frames_leave_out(
    path: Path, tracks: TrackCopy | None, sample_aspect_ratio: Fraction | None
) -> None:
    """Say what a folder of PNG frames cannot hold of the input: sound, subtitles, the pixel shape."""
    if tracks is not None:
        logger.info("the input's audio and subtitles are not written: %s is a folder of frames", path)
    if sample_aspect_ratio is not None:
        logger.warning(
            "the input's pixels are not square (%s wide to 1 high) and PNG frames cannot say so: "
            "show %s at that pixel shape, or write a video, which records it",
            sample_aspect_ratio, path,
        )  # fmt: skip
