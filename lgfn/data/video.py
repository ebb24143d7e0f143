"""Temporary re-export for the parallel restructuring; removed at integration."""

import sys
from types import ModuleType

from lgfn.media import (
    AAC_BIT_RATE,
    CODECS,
    DEFAULT_CODEC,
    DEFAULT_CRF,
    DEFAULT_FOLDER_FPS,
    VIDEO_EXTENSIONS,
    VIDEO_OUTPUT_EXTENSIONS,
    FrameFolderSink,
    FrameFolderSource,
    FrameSink,
    FrameSource,
    TrackCopy,
    VideoFileSink,
    VideoFileSource,
    open_sink,
    open_source,
    parse_fps,
    read_video_frames,
    refuse_existing_output,
    work_folder,
)
from lgfn.media import sinks as _sinks
from lgfn.media.ffmpeg import HD_HEIGHT
from lgfn.media.sinks import SEGMENT_FRAMES


class _Forwarding(ModuleType):
    # tests/test_upscale_cli.py patches video.SEGMENT_FRAMES: the new value must reach the sinks that read it.
    def __setattr__(self, name: str, value: object) -> None:
        if name == "SEGMENT_FRAMES":
            setattr(_sinks, name, value)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Forwarding

__all__ = [
    "AAC_BIT_RATE",
    "CODECS",
    "DEFAULT_CODEC",
    "DEFAULT_CRF",
    "DEFAULT_FOLDER_FPS",
    "HD_HEIGHT",
    "SEGMENT_FRAMES",
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
