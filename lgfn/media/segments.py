"""A video output's segments: encoded one by one into the work folder, joined into the output at the end.

A :class:`~lgfn.media.sinks.VideoFileSink` encodes its frames in segments (H.264, H.265 or FFV1,
:data:`CODECS`), each its own file in the work folder, starting with a keyframe and named after the
frames it holds (``frames_00000100+0100.mp4``: frames 100 to 199), so that an interrupted run keeps
every finished segment. :func:`join_segments` copies their packets, without decoding them again,
into one stream of the output container, together with the audio and subtitles carried along
(:class:`~lgfn.media.tracks.TrackCopy`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from fractions import Fraction
from pathlib import Path

import av
from av.bitstream import BitStreamFilterContext

from lgfn.errors import LGFNError
from lgfn.media.containers import ANNEX_B_FILTERS
from lgfn.media.ffmpeg import av_message, declare_colour
from lgfn.media.tracks import TrackCopy

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
#: x264's settings beyond the quality, so that the same frames always give the same video. With
#: B-frames and the macroblock tree together x264 reads memory it has not written (its output changes
#: with glibc's ``MALLOC_PERTURB_``, run after run and even between two encodes in one process), so
#: H.264 segments have no B-frames; and its output depends on the number of threads (slices), so
#: that number is fixed rather than taken from the machine.
X264_PARAMS = "bframes=0"
ENCODER_THREADS = 8

#: The bounds of the default segment length (:func:`default_segment_frames`): at most 100 frames
#: (fast networks, small frames, no network), at least 5 (each segment starts with a keyframe).
MIN_SEGMENT_FRAMES, MAX_SEGMENT_FRAMES = 5, 100
#: The work a network does per output pixel beyond its multiply-accumulates (activations, memory
#: traffic, the upsampled frame), as MACs: fitted so that both timed networks of the README's table
#: (fp32, a 2-core CPU) cost about 1e-11 s per estimated MAC: the paper's network 11.3 s for 1.07e12
#: MACs at 720x576, the demo weights, narrower and slower per MAC, 10.5 s for 5.0e11 at 2560x1440.
PIXEL_MACS = 150_000
#: The estimated work one default segment holds: about five minutes at 1e-11 s a MAC.
SEGMENT_MACS = 3e13


def default_segment_frames(network_macs: float, output_size: tuple[int, int]) -> int:
    """The segment length for frames of ``output_size`` (w, h) made by a network of ``network_macs``
    multiply-accumulates a frame: :data:`SEGMENT_MACS` of estimated work (the MACs plus
    :data:`PIXEL_MACS` per output pixel), within :data:`MIN_SEGMENT_FRAMES` ..
    :data:`MAX_SEGMENT_FRAMES`; the most without a network (``network_macs`` 0: bicubic). The
    estimate depends on the network's configuration and the frame size only, never on a measured
    speed, so that the same command always cuts the same segments (as ``--resume`` and reproducible
    outputs need)."""
    if network_macs <= 0:
        return MAX_SEGMENT_FRAMES
    cost = network_macs + PIXEL_MACS * output_size[0] * output_size[1]
    return max(MIN_SEGMENT_FRAMES, min(MAX_SEGMENT_FRAMES, int(SEGMENT_MACS // cost)))


def segment_name(first: int, count: int, suffix: str) -> str:
    """The file name of the finished segment holding ``count`` frames from frame ``first`` on."""
    return f"frames_{first:08d}+{count:04d}{suffix}"


def all_segments(work: Path) -> list[tuple[int, int, Path]]:
    """``(first frame, frame count, file)`` of every finished segment in ``work``, in frame order (the
    processes of a torchrun each write their own, so there can be gaps)."""
    found = []
    for file in work.glob("frames_*+*.*"):
        first, count = file.stem.removeprefix("frames_").split("+")
        if first.isdigit() and count.isdigit():
            found.append((int(first), int(count), file))
    return sorted(found)


def finished_segments(work: Path) -> list[tuple[int, int, Path]]:
    """``(first frame, frame count, file)`` of the contiguous finished segments from frame 0."""
    found = {segment[0]: segment for segment in all_segments(work)}
    segments, frame = [], 0
    while frame in found:
        segments.append(found[frame])
        frame += found[frame][1]
    return segments


def add_video_stream(
    container: av.container.OutputContainer,
    codec: str,
    fps: Fraction,
    crf: int,
    size: tuple[int, int],
    sample_aspect_ratio: Fraction | None,
) -> av.VideoStream:
    """Add to a segment file the video stream its frames are encoded into.

    Args:
        container: the segment file, open for writing.
        codec: a key of :data:`CODECS`.
        fps: frame rate.
        crf: x264/x265 constant rate factor, 0 .. 51 (FFV1: unused).
        size: ``(w, h)`` of the encoded frames (even for ``yuv420p``).
        sample_aspect_ratio: the pixel shape to record, or ``None`` for square pixels.

    Raises:
        av.FFmpegError: FFmpeg has no such encoder.
    """
    encoder, pix_fmt, _ = CODECS[codec]
    stream = container.add_stream(encoder, rate=fps)
    stream.width, stream.height = size
    stream.pix_fmt = pix_fmt
    if encoder == "libx264":
        stream.options = {"crf": str(crf), "x264-params": X264_PARAMS}
        stream.codec_context.thread_count = ENCODER_THREADS
    elif encoder == "libx265":
        stream.options = {"crf": str(crf), "x265-params": "log-level=error"}
    declare_colour(stream, pix_fmt, size[1])
    if sample_aspect_ratio is not None:
        stream.codec_context.sample_aspect_ratio = sample_aspect_ratio
    return stream


def join_segments(
    output: Path,
    segments: list[tuple[int, int, Path]],
    fps: Fraction,
    frames: int,
    tracks: TrackCopy | None,
    path: Path,
    tags: Mapping[str, str] | None = None,
) -> None:
    """Write the segments' packets, in order, as the video stream of ``output``, with the tracks.

    Args:
        output: the file to create (its suffix chooses the container).
        segments: :func:`finished_segments` of the work folder, from frame 0 to the last frame.
        fps: the frame rate; packets are retimed to one frame each.
        frames: the number of frames in all (where the audio and subtitles are cut).
        tracks: audio and subtitles to interleave with the picture, or ``None``.
        path: the final output, named in messages.
        tags: container metadata to record (where the container keeps any).

    Raises:
        LGFNError: the output cannot be created or cannot hold the streams.
    """
    frame_time = 1 / fps
    try:
        container = av.open(str(output), mode="w")
    except av.FFmpegError as exc:
        raise LGFNError(f"cannot create video {path} ({av_message(exc)})") from None
    with container:
        container.metadata.update(tags or {})  # before the header, which holds them
        stream = _start_output(container, segments[0][2], frame_time, tracks, path)
        for first_frame, _, file in segments:
            _copy_segment(container, stream, first_frame, file, frame_time, tracks)
        if tracks is not None:
            tracks.finish(container, frames * frame_time)


def _start_output(
    container: av.container.OutputContainer,
    first_segment: Path,
    frame_time: Fraction,
    tracks: TrackCopy | None,
    path: Path,
) -> av.VideoStream:
    """Add the video stream (as the segments encode it) and the tracks, and write the header."""
    with av.open(str(first_segment)) as first:
        stream = container.add_stream_from_template(first.streams.video[0])
    stream.time_base = frame_time
    if tracks is not None:
        tracks.attach(container)
    try:
        container.start_encoding()  # the header: every stream is known now
    except (ValueError, av.FFmpegError) as exc:
        hint = "; --no-audio and --no-subtitles leave those out" if tracks is not None else ""
        raise LGFNError(f"cannot create video {path} ({av_message(exc)}){hint}") from None
    return stream


def _copy_segment(
    container: av.container.OutputContainer,
    stream: av.VideoStream,
    first_frame: int,
    file: Path,
    frame_time: Fraction,
    tracks: TrackCopy | None,
) -> None:
    """Mux one segment's packets, shifted to where it starts, each followed by the tracks due by then."""
    with av.open(str(file)) as segment:
        for packet in _packets(segment, container):
            # Timestamps in frames: the segment's, shifted to where it starts.
            to_frames = packet.time_base / frame_time
            packet.pts = first_frame + round(packet.pts * to_frames)
            packet.dts = first_frame + round(packet.dts * to_frames)
            packet.time_base, packet.duration = frame_time, 1
            packet.stream = stream
            decoded_by = (packet.dts + 1) * frame_time  # before mux() rescales the packet
            container.mux(packet)
            if tracks is not None:
                tracks.mux_until(container, decoded_by)


def _packets(
    segment: av.container.InputContainer, output: av.container.OutputContainer
) -> Iterator[av.Packet]:
    """The video packets of a segment, in the form ``output``'s container takes them."""
    source = segment.streams.video[0]
    name = ANNEX_B_FILTERS.get((output.format.name, source.codec_context.name))
    convert = BitStreamFilterContext(name, source) if name else None
    for packet in segment.demux(source):
        if packet.dts is None:
            continue  # the demuxer's flush packet
        yield from convert.filter(packet) if convert else (packet,)
