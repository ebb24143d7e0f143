"""``lgfn upscale INPUT [INPUT ...] -o OUTPUT``: the command's options and its run, input by input.

Video files or folders of frames are super-resolved into video files or folders of PNG frames,
streaming (memory stays flat however long the video), with a progress bar and a summary, the
input's sound and subtitles, ``--start``, and ``--resume`` after an interruption. The streaming
itself is :func:`lgfn.inference.upscale_stream`; reading and writing video is :mod:`lgfn.media`.
"""

from __future__ import annotations

import argparse
import functools
import logging
from collections.abc import Callable
from pathlib import Path

from tqdm.contrib.logging import logging_redirect_tqdm

from lgfn.cli.options import (
    DEFAULT_BICUBIC_SCALE,
    METHODS,
    add_checkpoint_option,
    add_inference_options,
    add_scale_option,
    checked_onnx,
    chosen_precision,
    default_checkpoint,
    inference_settings,
    int_at_least,
    lgfn_upscaler,
    refuse_network_options,
)
from lgfn.cli.upscale_compare import add_compare_option, check_compare, compare_job, compared
from lgfn.cli.upscale_outputs import finished_before, input_output_pairs
from lgfn.cli.upscale_processes import SharedOutput, gpu_index, in_shares, process_group, upscale_in_shares
from lgfn.cli.upscale_progress import FrameProgress
from lgfn.cli.upscale_report import check_all_read, score_output, summarise
from lgfn.cli.upscale_segments import add_segment_option, segment_frames
from lgfn.devices import AUTO
from lgfn.distributed import DistributedContext
from lgfn.errors import ConfigError, InputDataError, LGFNError
from lgfn.files import file_identity
from lgfn.inference import BicubicUpscaler, Upscaler, UpscaleReport, upscale_stream
from lgfn.media import (
    CODECS,
    DEFAULT_CODEC,
    DEFAULT_CRF,
    DEFAULT_FOLDER_FPS,
    VIDEO_EXTENSIONS,
    VIDEO_OUTPUT_EXTENSIONS,
    FrameSink,
    FrameSource,
    TrackCopy,
    VideoFileSource,
    open_sink,
    open_source,
    refuse_existing_output,
)
from lgfn.media.sinks import output_record
from lgfn.media.timing import start_frame

logger = logging.getLogger(__name__)

_VIDEOS = " ".join(VIDEO_OUTPUT_EXTENSIONS)
_DESCRIPTION = (
    f"Super-resolve INPUT (a video file: {' '.join(VIDEO_EXTENSIONS)}, or a folder of .png/.jpg/.bmp "
    f"frames in name order) into OUTPUT, chosen by its name: a video file ({_VIDEOS}; "
    "H.264 unless --codec, same frame rate as the input; another video suffix is refused) or, for a "
    "name without one, a folder of PNG frames 00000000.png, ... "
    "Frames are streamed: memory does not grow with the video's length. OUTPUT appears only "
    "when complete; until then finished work waits in .OUTPUT.partial beside it, where an "
    "error or Ctrl-C leaves it for --resume. Several INPUTs go into the folder OUTPUT, each "
    "under its own name."
)
_EPILOG = (
    "Short clips: a clip with fewer frames than the model's window (7 for the released "
    "model) is accepted; the window is filled with repeated frames, which restores less "
    "detail. Odd output sizes: H.264 needs an even width and height, so such frames are "
    "padded by one repeated row/column in a video output (a PNG folder keeps the exact size). "
    "Sound and subtitles: a video output carries the input's audio streams, copied as they "
    "are or, where the output container cannot hold their codec, re-encoded as AAC, and its "
    "subtitle streams where the container holds them (.mkv holds most; text subtitles cannot "
    "go into .mp4); cut where the upscaled frames end. Only the first video stream is "
    "upscaled, and a variable-frame-rate input is written at its average frame rate. Several GPUs "
    "or machines: torchrun --nproc_per_node=N -m lgfn -- upscale ... shares each output's segments "
    "between the processes, for the output one process writes."
)


# -------------------------------------------------------------------------------------------------
# Options


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Declare ``lgfn upscale`` and its options."""
    parser = subparsers.add_parser(
        "upscale",
        help="super-resolve a video file or a folder of frames",
        description=_DESCRIPTION,
        epilog=_EPILOG,
    )
    parser.add_argument(
        "input",
        metavar="INPUT",
        type=Path,
        nargs="+",
        help="video file or folder of frames; with several, OUTPUT is a folder that gets each under its name",
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="OUTPUT",
        type=Path,
        required=True,
        help=f"video file ({_VIDEOS}) or, for a name without a video suffix, a folder for PNG frames",
    )
    add_checkpoint_option(parser)
    parser.add_argument(
        "--method",
        choices=METHODS,
        default="lgfn",
        help="LGFN, or the bicubic baseline (needs no checkpoint) [%(default)s]",
    )
    add_scale_option(parser)
    add_inference_options(parser, precision=AUTO)
    _add_encoding_options(parser)
    add_segment_option(parser)
    _add_frame_options(parser)
    _add_run_options(parser)
    add_compare_option(parser)


def _add_encoding_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--codec",
        choices=tuple(CODECS),
        default=DEFAULT_CODEC,
        help="video OUTPUT codec: h264 (plays everywhere), h265 (HEVC: smaller for the same look, "
        "plays in fewer places), ffv1 (lossless RGB, the exact frames; large, best in .mkv) [%(default)s]",
    )
    parser.add_argument(
        "--crf",
        type=int_at_least(0, 51),
        default=DEFAULT_CRF,
        help="H.264/H.265 quality of a video output, 0..51, lower is better [%(default)s]",
    )


def _add_frame_options(parser: argparse.ArgumentParser) -> None:
    """Which frames are read and how they are taken."""
    parser.add_argument(
        "--fps",
        default=None,
        help=f"frame rate of the input, e.g. 30000/1001 [the video's own; {DEFAULT_FOLDER_FPS} for a folder]",
    )
    parser.add_argument(
        "--start",
        default="0",
        help="begin at this frame (250) or time (90s, 1:30, 0:01:30.5); earlier frames are only "
        "context for the first windows, and the sound starts there too [0]",
    )
    parser.add_argument(
        "--max-frames",
        type=int_at_least(1),
        default=None,
        help="upscale only N frames from --start: the frames a whole run gives (their windows read the "
        "frames after them)",
    )
    parser.add_argument(
        "--reference",
        action="store_true",
        help="INPUT is ground truth: upscale its bicubic downscaling (the paper's BI protocol) "
        "and report luma PSNR/SSIM of OUTPUT, decoded as written, against INPUT",
    )


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    """What goes into the output besides the frames, and how the run treats earlier outputs."""
    parser.add_argument(
        "--no-audio", action="store_true", help="do not carry the input's audio into a video OUTPUT"
    )
    parser.add_argument(
        "--no-subtitles", action="store_true", help="do not carry the input's subtitles into a video OUTPUT"
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run: keep the finished frames it left beside OUTPUT "
        "(.OUTPUT.partial) and upscale the rest; needs the same input and options",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    parser.add_argument(
        "--accept-short",
        action="store_true",
        help="write the frames that could be read of a video holding fewer than its header counts "
        "(a truncated file); without it that is an error and OUTPUT is not written",
    )
    parser.add_argument("--no-progress", action="store_true", help="do not show the progress bar")


def _checkpoint_path(args: argparse.Namespace) -> Path:
    return default_checkpoint() if args.ckpt is None else args.ckpt


# -------------------------------------------------------------------------------------------------
# The upscaler


def _build_upscaler(args: argparse.Namespace, gpu: int | None = None) -> Upscaler:
    """The bicubic baseline, or LGFN from the checkpoint on the chosen device (``gpu``: a bare
    ``cuda``'s index, a torchrun process's own GPU)."""
    if args.method == "bicubic":
        return BicubicUpscaler(args.scale or DEFAULT_BICUBIC_SCALE)
    onnx = checked_onnx(args)
    ckpt = onnx or _checkpoint_path(args)
    if args.ckpt is None and not ckpt.is_file() and onnx is None:
        raise LGFNError(
            f"no --ckpt given and the demo checkpoint {ckpt} does not exist; "
            "pass --ckpt PATH (e.g. the authors' released x4 weights) or use --method bicubic"
        )
    device, options = inference_settings(args, gpu)
    upscaler = lgfn_upscaler(ckpt, onnx is not None, options, device)
    if args.scale is not None and args.scale != upscaler.scale:
        what = "the ONNX file" if onnx else "the checkpoint"
        raise ConfigError(f"--scale {args.scale} does not match {what} {ckpt}, which is x{upscaler.scale}")
    logger.info(
        "model: %s (x%d, %d-frame window) on %s, %s",
        ckpt,
        upscaler.scale,
        upscaler.num_frames,
        device,
        "ONNX Runtime" if onnx else options.precision,
    )
    return upscaler


def _job(args: argparse.Namespace, input_path: Path, source: FrameSource) -> dict:
    """The settings that decide the output's frames; a resumed run must repeat them (JSON values)."""
    job = {
        "input": file_identity(input_path) if input_path.is_file() else {"path": str(input_path.resolve())},
        "input_frames": source.num_frames if input_path.is_dir() else None,
        "input_size": list(source.size),
        "max_frames": args.max_frames,
        "start": args.start,
        "reference": args.reference,
        "method": args.method,
        **compare_job(args, source.fps),
    }
    if args.method == "bicubic":
        job["scale"] = args.scale or DEFAULT_BICUBIC_SCALE
        return job
    job.update(
        checkpoint=file_identity(args.onnx or _checkpoint_path(args)),
        precision=chosen_precision(args),
        padding=args.padding,
        tile=[args.tile, args.tile_overlap] if args.tile else None,
    )
    job.update({n: True for n in ("self_ensemble", "onnx") if getattr(args, n)})  # only when on: as before
    return job


# -------------------------------------------------------------------------------------------------
# The command


def run(args: argparse.Namespace) -> int:
    """Run ``lgfn upscale``: each INPUT into its output, with the model loaded once.

    With several inputs, an input that cannot be read is reported and skipped and the others are
    still written; the command then fails naming the inputs that did.
    """
    if args.method == "bicubic":
        refuse_network_options(args, precision=AUTO)
    check_compare(args)
    with process_group() as context:
        return _run(args, context)


def _run(args: argparse.Namespace, context: DistributedContext) -> int:
    pairs = input_output_pairs(args.input, args.output, args.codec)
    if len(pairs) > 1 and not args.resume:  # refuse before any work rather than part-way
        for _, output in pairs:
            refuse_existing_output(output, args.overwrite)
    built: list[Upscaler] = []

    def upscaler() -> Upscaler:
        if not built:
            built.append(_build_upscaler(args, gpu_index(context)))
        return built[0]

    failed = []
    for input_path, output in pairs:
        try:
            _upscale_one(args, input_path, output, upscaler, context)
        except InputDataError as exc:
            if len(pairs) == 1:
                raise
            logger.error("%s; going on with the next input", exc)
            failed.append(str(input_path))
    if failed:
        raise InputDataError(
            f"{len(failed)} of {len(pairs)} inputs could not be upscaled: {', '.join(failed)} "
            "(the others were written)"
        )
    return 0


def _upscale_one(
    args: argparse.Namespace,
    input_path: Path,
    output_path: Path,
    upscaler: Callable[[], Upscaler],
    context: DistributedContext,
) -> None:
    """Open one input and its output, stream the frames through the (lazily built) upscaler, summarise;
    under torchrun every process writes its share (:mod:`lgfn.cli.upscale_processes`)."""
    source = open_source(input_path, fps=args.fps)
    first, end = _frame_range(args, input_path, source)
    job, pixel_shape = _job(args, input_path, source), getattr(source, "sample_aspect_ratio", None)
    segments = segment_frames(args, output_path, source.size)
    record = output_record(output_path, source.fps, args.crf, job, pixel_shape, args.codec, segments)
    if args.resume and not args.overwrite and finished_before(output_path, record):
        return
    opening = functools.partial(
        open_sink, output_path, source.fps, args.crf, args.overwrite, _tracks(args, source, first),
        resume=args.resume, job=job, sample_aspect_ratio=pixel_shape, codec=args.codec,
        segment_frames=segments,
    )  # fmt: skip
    model = functools.cache(lambda: compared(args, upscaler(), first, source.fps))  # built once, if needed
    if in_shares(context, output_path, args.resume):
        total = _total(source, first, end)
        shared = SharedOutput(
            output_path, opening, source, first, end, total, args.reference, not args.no_progress
        )
        with logging_redirect_tqdm():
            done = upscale_in_shares(
                shared,
                model,
                context,
                lambda sink: check_all_read(args, input_path, source, sink, first, end),
            )
        if done is None:
            return  # rank 0 says what was written
        report, sink = done
    else:
        # The output is opened first so that an existing OUTPUT is refused before the model loads; an
        # error below leaves OUTPUT as it was and keeps the finished frames for --resume.
        with opening() as sink, logging_redirect_tqdm():
            report = _stream(args, source, model(), sink, first, end)
            check_all_read(args, input_path, source, sink, first, end)
    summarise(report, sink, model(), output_path)
    if args.reference:
        score_output(source, output_path, first, sink.frames_written, model().scale)


def _frame_range(args: argparse.Namespace, input_path: Path, source: FrameSource) -> tuple[int, int | None]:
    """``(first, end)``: the frame ``--start`` names and the end ``--max-frames`` sets (``None``: the
    clip's own); logs what the input is."""
    first = start_frame(args.start, source.fps)
    if source.num_frames is not None and first >= source.num_frames:
        raise InputDataError(
            f"--start {args.start} is frame {first}, but {input_path} has {source.num_frames} frames"
        )
    end = None if args.max_frames is None else first + args.max_frames
    w, h = source.size
    frames = source.num_frames or "unknown number of"
    logger.info("input: %s, %dx%d, %s frames, %s fps", input_path, w, h, frames, source.fps)
    if first:
        seconds = first / source.fps
        logger.info("starting at frame %d (%.3f s); earlier frames are read as context only", first, seconds)
    return first, end


def _tracks(args: argparse.Namespace, source: FrameSource, first: int) -> TrackCopy | None:
    """The input's sound and subtitles to carry from frame ``first`` on; none when ``--fps`` retimes
    the video, as they would drift out of sync."""
    retimed = isinstance(source, VideoFileSource) and source.fps != source.stream_fps
    if not retimed:
        skip = first / source.fps
        return TrackCopy.of(source, skip, audio=not args.no_audio, subtitles=not args.no_subtitles)
    if source.audio_streams or source.subtitle_streams:
        logger.warning(
            "the input's audio and subtitles are not written: --fps %s retimes the video (its own rate "
            "is %s fps), so they would drift out of sync",
            source.fps,
            source.stream_fps,
        )
    return None


def _total(source: FrameSource, first: int, end: int | None) -> int | None:
    """The output's frames: from ``first`` to ``end`` or the clip's end (``None``: not known)."""
    known = [n for n in (source.num_frames, end) if n is not None]
    return min(known) - first if known else None


def _stream(
    args: argparse.Namespace,
    source: FrameSource,
    upscaler: Upscaler,
    sink: FrameSink,
    first: int,
    end: int | None,
) -> UpscaleReport:
    """Stream frames ``first`` (or where an interrupted run stopped) to ``end`` into ``sink``, with a
    progress bar."""
    with FrameProgress(_total(source, first, end), sink.resume_from, disable=args.no_progress) as progress:
        return upscale_stream(
            source,
            upscaler,
            sink,
            reference=args.reference,
            on_frame=progress,
            start=first + sink.resume_from,
            end=end,
        )
