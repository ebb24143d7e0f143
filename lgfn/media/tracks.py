"""Carrying a video file's audio and subtitle streams into a video output, in sync with its frames.

A video sink can carry a video file's audio and subtitle streams along (:class:`TrackCopy`): copied
as they are where the output container holds their codec, audio re-encoded as AAC where it does
not, timed so that they stay in sync with the frames and cut where the frames end. Other streams
(data, attachments) are not carried.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from fractions import Fraction

import av

from lgfn.errors import InputDataError
from lgfn.media.ffmpeg import av_message
from lgfn.media.sources import FrameSource, VideoFileSource

logger = logging.getLogger(__name__)

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
    :class:`~lgfn.media.sinks.VideoFileSink` writes it, so sound, subtitles and picture stay as they
    were in the input; what comes before that frame and after the output's last frame is dropped, in
    whole packets (an upscale stopped after N frames has N frames of sound), except that a subtitle
    cue showing at the first frame keeps the part of its time after it. AVI records no start time
    per stream, so there the sound can lead the picture by the part of a packet cut at the start
    (under one packet, typically 20-60 ms).

    :func:`~lgfn.media.segments.join_segments` drives it while it joins a video output's segments:
    :meth:`attach` before the header, :meth:`mux_until` after each video packet (the tracks are
    interleaved with the picture), :meth:`finish` at the end.

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
                f"{self.path}: cannot read its sound or subtitles ({av_message(exc)})"
            ) from None
        for stream in self._input.streams:
            if stream.type not in self.kinds:
                continue
            try:
                self._routes[stream.index] = _Route(stream, output)
            except (ValueError, av.FFmpegError) as exc:
                logger.warning(
                    "%s stream %d (%s) of %s is left out: %s",
                    stream.type, stream.index, _codec_name(stream), self.path, av_message(exc),
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
                f"{self.path}: cannot read its sound or subtitles ({av_message(exc)})"
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
            logger.warning("%s: skipped undecodable audio (%s)", self.path, av_message(exc))
            return
        for frame in frames:
            if frame.pts is not None and frame.time_base is not None:
                rate = frame.sample_rate
                frame.pts = round((Fraction(frame.pts * frame.time_base) - self.start_time) * rate)
                frame.time_base = Fraction(1, rate)
            output.mux(route.stream.encode(frame))
