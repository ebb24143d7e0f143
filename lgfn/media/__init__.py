"""Video input and output: frames read from and written to video files and folders of frames.

- :mod:`~lgfn.media.sources`: reading frames, one at a time (:func:`open_source`,
  :func:`read_video_frames`).
- :mod:`~lgfn.media.sinks`: writing frames, atomically and resumably (:func:`open_sink`).
- :mod:`~lgfn.media.segments`: a video output's encoded segments, and joining them.
- :mod:`~lgfn.media.tracks`: audio and subtitles carried into a video output (:class:`TrackCopy`).
- :mod:`~lgfn.media.workfolder`: the hidden work folder that makes an output resumable.
- :mod:`~lgfn.media.containers`: which output names are videos, and the codecs each container holds.
- :mod:`~lgfn.media.provenance`: the record of its job that a finished output holds.
- :mod:`~lgfn.media.timing`: frame rates and times given as text, bounded and exact.
- :mod:`~lgfn.media.ffmpeg`: colour conversion and PyAV's error text, shared by the others.
"""

from lgfn.media.segments import CODECS, DEFAULT_CODEC, DEFAULT_CRF
from lgfn.media.sinks import VIDEO_OUTPUT_EXTENSIONS, FrameFolderSink, FrameSink, VideoFileSink, open_sink
from lgfn.media.sources import (
    DEFAULT_FOLDER_FPS,
    VIDEO_EXTENSIONS,
    FrameFolderSource,
    FrameSource,
    VideoFileSource,
    open_source,
    parse_fps,
    read_video_frames,
)
from lgfn.media.tracks import AAC_BIT_RATE, TrackCopy
from lgfn.media.workfolder import refuse_existing_output, work_folder

__all__ = [
    "AAC_BIT_RATE",
    "CODECS",
    "DEFAULT_CODEC",
    "DEFAULT_CRF",
    "DEFAULT_FOLDER_FPS",
    "VIDEO_EXTENSIONS",
    "VIDEO_OUTPUT_EXTENSIONS",
    "FrameFolderSink",
    "FrameFolderSource",
    "FrameSink",
    "FrameSource",
    "TrackCopy",
    "VideoFileSink",
    "VideoFileSource",
    "open_sink",
    "open_source",
    "parse_fps",
    "read_video_frames",
    "refuse_existing_output",
    "work_folder",
]
