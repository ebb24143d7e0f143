"""The ``lgfn`` command line (also ``python -m lgfn``).

Subcommands:

- ``lgfn upscale INPUT [INPUT ...] -o OUTPUT``: super-resolve video files or folders of frames into
  video files or folders of PNG frames, streaming (memory stays flat however long the video), with
  a progress bar and a summary, the input's sound and subtitles, ``--start``, and ``--resume``
  after an interruption. See ``lgfn upscale --help``.

Each subcommand is a ``_add_<name>_parser`` that declares its options and a ``<name>(args)`` that
runs it; add new ones to :data:`COMMANDS`. User errors (bad input, existing output, bad option
values) print one ``error: ...`` line and exit with status 2; Ctrl-C exits with 130 and leaves no
partial output under the output's name (finished frames wait beside it for ``--resume``).
"""

from __future__ import annotations

import argparse
import itertools
import logging
import math
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import numpy as np
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

import lgfn
from lgfn.checkpoint import DEFAULT_CHECKPOINT
from lgfn.console import run_main, setup_logging
from lgfn.data.io import FRAME_EXTENSIONS
from lgfn.data.video import (
    CODECS,
    DEFAULT_CODEC,
    DEFAULT_CRF,
    DEFAULT_FOLDER_FPS,
    VIDEO_EXTENSIONS,
    VIDEO_OUTPUT_EXTENSIONS,
    FrameSink,
    TrackCopy,
    VideoFileSource,
    open_sink,
    open_source,
    refuse_existing_output,
    work_folder,
)
from lgfn.data.windows import PADDING_MODES
from lgfn.devices import peak_memory_text
from lgfn.errors import ConfigError, InputDataError, LGFNError
from lgfn.files import file_identity

logger = logging.getLogger(__name__)

#: The checkpoint ``lgfn upscale`` uses without ``--ckpt``: the demo weights of a repository checkout.
#: Scale of ``--method bicubic`` when ``--scale`` is not given.
DEFAULT_BICUBIC_SCALE = 4


class Upscaler(Protocol):
    """What the pipeline needs from :class:`lgfn.inference.VideoSuperResolver` and ``BicubicUpscaler``."""

    scale: int
    num_frames: int

    def stream(self, frames: Iterable[np.ndarray], start: int = 0) -> Iterator[np.ndarray]: ...


@dataclass
class UpscaleReport:
    """What :func:`upscale_stream` did.

    Attributes:
        frames: frames written by this run.
        input_size: ``(w, h)`` of the frames fed to the upscaler.
        output_size: ``(w, h)`` of the frames written.
        seconds: wall time of the streaming loop (decoding, upscaling, encoding).
        psnr / ssim: per-frame luma scores against the input when run as a reference check.
    """

    frames: int = 0
    input_size: tuple[int, int] | None = None
    output_size: tuple[int, int] | None = None
    seconds: float = 0.0
    psnr: list[float] = field(default_factory=list)
    ssim: list[float] = field(default_factory=list)

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else float("nan")


class _ReferenceCheck:
    """Feeds the upscaler BI-degraded input frames and scores each output against its original.

    The originals wait in a queue until their output arrives; the upscaler yields one output per
    input in order and holds at most about a window of frames, so the queue stays that short too.
    """

    def __init__(self, scale: int, report: UpscaleReport) -> None:
        self.scale = scale
        self.report = report
        self.originals: deque[np.ndarray] = deque()

    def degrade(self, frames: Iterable[np.ndarray], start: int) -> Iterator[np.ndarray]:
        from lgfn.data.degradations import bi_degrade, crop_to_multiple

        for index, frame in enumerate(frames):
            if index >= start:  # earlier frames are only context for a resumed run's first windows
                self.originals.append(crop_to_multiple(frame, self.scale))
            yield bi_degrade(frame, self.scale)

    def score(self, sr: np.ndarray) -> None:
        from lgfn.metrics import calculate_psnr_ssim

        psnr, ssim = calculate_psnr_ssim(sr, self.originals.popleft())
        self.report.psnr.append(psnr)
        self.report.ssim.append(ssim)


def upscale_stream(
    frames: Iterable[np.ndarray],
    upscaler: Upscaler,
    sink: FrameSink,
    reference: bool = False,
    on_frame: Callable[[], None] | None = None,
    start: int = 0,
) -> UpscaleReport:
    """Stream frames through an upscaler into a sink, one frame at a time.

    Memory holds the upscaler's window of frames and nothing that grows with the video's length.

    Args:
        frames: input frames ``(h, w, 3)`` uint8 RGB, e.g. a :class:`~lgfn.data.video.FrameSource`.
        upscaler: a ``VideoSuperResolver`` or ``BicubicUpscaler`` (anything with ``scale`` and
            ``stream``).
        sink: where the ``(s*h, s*w, 3)`` outputs go; the caller opens and closes it.
        reference: treat ``frames`` as ground truth: upscale their BI degradation (MATLAB bicubic
            downscaling by ``scale``, the paper's protocol) and score every output against the
            original (luma PSNR/SSIM, no border crop).
        on_frame: called after each frame is written (progress display).
        start: the first frame to upscale and write (continuing an interrupted run: earlier frames
            are read as context only).

    Returns:
        An :class:`UpscaleReport`.
    """
    report = UpscaleReport()
    check = _ReferenceCheck(upscaler.scale, report) if reference else None

    def inputs() -> Iterator[np.ndarray]:
        stream = check.degrade(frames, start) if check else frames
        for frame in stream:
            if report.input_size is None:
                report.input_size = (frame.shape[1], frame.shape[0])
            yield frame

    began = time.perf_counter()
    for sr in upscaler.stream(inputs(), start=start):
        if check:
            check.score(sr)
        sink.write(sr)
        report.frames += 1
        if on_frame:
            on_frame()
    report.seconds = time.perf_counter() - began
    report.output_size = sink.size
    return report


# -------------------------------------------------------------------------------------------------
# Argument parsing


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are ordinary user errors: one line, exit status 2."""

    def error(self, message: str):  # type: ignore[override]
        raise ConfigError(f"{message} (see: {self.prog} --help)")


def _int_at_least(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {value}")
        return value

    return parse


def _add_upscale_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "upscale",
        help="super-resolve a video file or a folder of frames",
        description=(
            "Super-resolve INPUT (a video file: .mp4 .mkv .mov .avi .webm, or a folder of .png/.jpg/.bmp "
            "frames in name order) into OUTPUT, chosen by its name: a video file (.mp4 .mkv .mov .avi; "
            "H.264, same frame rate as the input) or a folder of PNG frames 00000000.png, ... "
            "Frames are streamed: memory does not grow with the video's length. OUTPUT appears only "
            "when complete; until then finished work waits in .OUTPUT.partial beside it, where an "
            "error or Ctrl-C leaves it for --resume. Several INPUTs go into the folder OUTPUT, each "
            "under its own name."
        ),
        epilog=(
            "Short clips: a clip with fewer frames than the model's window (7 for the released "
            "model) is accepted; the window is filled with repeated frames, which restores less "
            "detail. Odd output sizes: H.264 needs an even width and height, so such frames are "
            "padded by one repeated row/column in a video output (a PNG folder keeps the exact size). "
            "Sound and subtitles: a video output carries the input's audio streams, copied as they "
            "are or, where the output container cannot hold their codec, re-encoded as AAC, and its "
            "subtitle streams where the container holds them (.mkv holds most; text subtitles cannot "
            "go into .mp4); cut where the upscaled frames end. Only the first video stream is "
            "upscaled, and a variable-frame-rate input is written at its average frame rate."
        ),
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
        help="video file (.mp4 .mkv .mov .avi) or folder for PNG frames",
    )
    parser.add_argument(
        "--ckpt",
        type=Path,
        default=None,
        help=f"LGFN checkpoint (authors' release or project file) [default: {DEFAULT_CHECKPOINT}]",
    )
    parser.add_argument(
        "--method",
        choices=("lgfn", "bicubic"),
        default="lgfn",
        help="LGFN, or the bicubic baseline (needs no checkpoint) [%(default)s]",
    )
    parser.add_argument(
        "--scale",
        type=_int_at_least(1),
        default=None,
        help=f"scale of --method bicubic [{DEFAULT_BICUBIC_SCALE}]; LGFN takes its checkpoint's",
    )
    parser.add_argument(
        "--device",
        default="auto",
        help="auto (CUDA if available, else CPU), cpu, cuda or cuda:N [%(default)s]",
    )
    parser.add_argument(
        "--precision",
        choices=("fp32", "bf16", "fp16"),
        default="fp32",
        help="arithmetic precision; fp16 needs CUDA [%(default)s]",
    )
    parser.add_argument(
        "--batch", type=_int_at_least(1), default=1, help="windows per forward pass [%(default)s]"
    )
    parser.add_argument(
        "--plain",
        action="store_true",
        help="the reference path: model(window) for every window, no feature reuse or channels-last",
    )
    parser.add_argument("--compile", action="store_true", help="run the network through torch.compile")
    parser.add_argument(
        "--tile",
        type=_int_at_least(0),
        default=0,
        help="cut frames into tiles of this many input pixels to bound memory; 0: whole frames [%(default)s]",
    )
    parser.add_argument(
        "--tile-overlap",
        type=_int_at_least(0),
        default=16,
        help="input pixels shared by neighbouring tiles, blended [%(default)s]",
    )
    parser.add_argument(
        "--padding",
        choices=PADDING_MODES,
        default="new_info",
        help="how windows at the clip's ends are filled [%(default)s]",
    )
    parser.add_argument(
        "--codec",
        choices=tuple(CODECS),
        default=DEFAULT_CODEC,
        help="video OUTPUT codec: h264 (plays everywhere), h265 (HEVC: smaller for the same look, "
        "plays in fewer places), ffv1 (lossless RGB, the exact frames; large, best in .mkv) [%(default)s]",
    )
    parser.add_argument(
        "--crf",
        type=_int_at_least(0, 51),
        default=DEFAULT_CRF,
        help="H.264/H.265 quality of a video output, 0..51, lower is better [%(default)s]",
    )
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
        type=_int_at_least(1),
        default=None,
        help="upscale only N frames from --start (the clip is treated as ending there)",
    )
    parser.add_argument(
        "--reference",
        action="store_true",
        help="INPUT is ground truth: upscale its bicubic downscaling (the paper's BI protocol) "
        "and report luma PSNR/SSIM of OUTPUT against INPUT",
    )
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
    parser.add_argument("--no-progress", action="store_true", help="do not show the progress bar")


#: Subcommand name -> (declare its options, run it). ``test`` and ``train`` can join here.
COMMANDS: dict[str, tuple[Callable[[argparse._SubParsersAction], None], Callable[[argparse.Namespace], int]]]


def build_parser() -> argparse.ArgumentParser:
    """The ``lgfn`` parser with every subcommand of :data:`COMMANDS`."""
    parser = _Parser(prog="lgfn", description="LGFN video super-resolution (Su et al., IEEE Access 2020).")
    parser.add_argument("--version", action="version", version=f"lgfn {lgfn.__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debugging details")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)
    for add_parser, _ in COMMANDS.values():
        add_parser(subparsers)
    return parser


# -------------------------------------------------------------------------------------------------
# lgfn upscale


def _build_upscaler(args: argparse.Namespace) -> Upscaler:
    from lgfn.devices import resolve_device
    from lgfn.inference import BicubicUpscaler, resolver_from_args

    if args.method == "bicubic":
        if args.ckpt is not None:
            logger.warning("--ckpt is ignored with --method bicubic")
        return BicubicUpscaler(args.scale or DEFAULT_BICUBIC_SCALE)
    ckpt = _checkpoint_path(args)
    if args.ckpt is None and not ckpt.is_file():
        raise LGFNError(
            f"no --ckpt given and the demo checkpoint {DEFAULT_CHECKPOINT} does not exist; "
            "pass --ckpt PATH (e.g. the authors' released x4 weights) or use --method bicubic"
        )
    if args.tile and args.tile_overlap >= args.tile:
        raise ConfigError(f"--tile-overlap ({args.tile_overlap}) must be smaller than --tile ({args.tile})")
    try:
        device = resolve_device(args.device)
    except RuntimeError:  # torch's message for a malformed device string
        raise ConfigError(f"--device {args.device!r}: expected auto, cpu, cuda or cuda:N") from None
    model = lgfn.load_model(ckpt, device)
    if args.scale is not None and args.scale != model.scale:
        raise ConfigError(
            f"--scale {args.scale} does not match the checkpoint {ckpt}, which is x{model.scale}"
        )
    logger.info(
        "model: %s (x%d, %d-frame window) on %s, %s",
        ckpt,
        model.scale,
        model.num_frames,
        device,
        args.precision,
    )
    return resolver_from_args(model, args, device)


def _start_frame(text: str, fps: Fraction) -> int:
    """``--start``: a frame index (``250``) or a time (``90s``, ``1:30``, ``0:01:30.5``) at ``fps``."""
    value = text.strip()
    try:
        if value.endswith("s") or ":" in value:
            seconds = Fraction(0)
            for part in value.removesuffix("s").split(":"):
                seconds = seconds * 60 + Fraction(part)
            frame = math.floor(seconds * fps)  # the frame shown at that instant
        else:
            frame = int(value)
    except (ValueError, ZeroDivisionError):
        raise ConfigError(
            f"--start {text!r}: expected a frame number (250) or a time (90s, 1:30, 0:01:30.5)"
        ) from None
    if frame < 0:
        raise ConfigError(f"--start {text!r} is before the first frame")
    return frame


def _checkpoint_path(args: argparse.Namespace) -> Path:
    return DEFAULT_CHECKPOINT if args.ckpt is None else args.ckpt


def _job(args: argparse.Namespace, input_path: Path, source) -> dict:
    """The settings that decide the output's frames; a resumed run must repeat them (JSON values)."""
    job = {
        "input": file_identity(input_path) if input_path.is_file() else {"path": str(input_path.resolve())},
        "input_frames": source.num_frames if input_path.is_dir() else None,
        "input_size": list(source.size),
        "max_frames": args.max_frames,
        "start": args.start,
        "reference": args.reference,
        "method": args.method,
    }
    if args.method == "bicubic":
        job["scale"] = args.scale or DEFAULT_BICUBIC_SCALE
    else:
        job.update(
            checkpoint=file_identity(_checkpoint_path(args)),
            precision=args.precision,
            padding=args.padding,
            tile=[args.tile, args.tile_overlap] if args.tile else None,
        )
    return job


def upscale(args: argparse.Namespace) -> int:
    """Run ``lgfn upscale``: each INPUT into its output, with the model loaded once.

    With several inputs, an input that cannot be read is reported and skipped and the others are
    still written; the command then fails naming the inputs that did.
    """
    pairs = _input_output_pairs(args.input, args.output)
    if len(pairs) > 1 and not args.resume:  # refuse before any work rather than part-way
        for _, output in pairs:
            refuse_existing_output(output, args.overwrite)
    built: list[Upscaler] = []

    def upscaler() -> Upscaler:
        if not built:
            built.append(_build_upscaler(args))
        return built[0]

    failed = []
    for input_path, output in pairs:
        try:
            _upscale_one(args, input_path, output, upscaler)
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


def _input_output_pairs(inputs: Sequence[Path], output: Path) -> list[tuple[Path, Path]]:
    """Where each input goes: OUTPUT itself for one input; for several, OUTPUT is a folder that gets
    each input under its own name (a video keeps its container if H.264 fits it, else ``.mkv``; a
    folder of frames becomes a folder of PNG frames)."""
    if len(inputs) == 1:
        return [(inputs[0], output)]
    if output.suffix.lower() in (*VIDEO_EXTENSIONS, *FRAME_EXTENSIONS) or output.is_file():
        raise ConfigError(f"with several INPUTs, OUTPUT is a folder to hold their results, not {output}")
    pairs = []
    for input_path in inputs:
        if input_path.is_dir():
            name = input_path.resolve().name
        else:
            suffix = input_path.suffix.lower()
            name = input_path.stem + (suffix if suffix in VIDEO_OUTPUT_EXTENSIONS else ".mkv")
        pairs.append((input_path, output / name))
    names = [target.name for _, target in pairs]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ConfigError(f"several INPUTs would be written to the same name in {output}: {', '.join(twice)}")
    return pairs


def _upscale_one(
    args: argparse.Namespace, input_path: Path, output_path: Path, upscaler: Callable[[], Upscaler]
) -> None:
    """Open one input and its output, stream the frames through the (lazily built) upscaler, summarise."""
    if (
        args.resume
        and not args.overwrite
        and os.path.lexists(output_path)
        and not work_folder(output_path).exists()
    ):
        logger.info("%s is complete (an earlier run finished it): nothing to resume", output_path)
        return
    output, resolved_input = output_path.resolve(), input_path.resolve()
    if output == resolved_input:
        raise LGFNError(f"OUTPUT {output_path} is INPUT; write to another path")
    if output in resolved_input.parents:
        raise LGFNError(f"OUTPUT {output_path} holds INPUT {input_path}; write to a path outside it")
    source = open_source(input_path, fps=args.fps)
    first = _start_frame(args.start, source.fps)
    if source.num_frames is not None and first >= source.num_frames:
        raise InputDataError(
            f"--start {args.start} is frame {first}, but {input_path} has {source.num_frames} frames"
        )
    end = None if args.max_frames is None else first + args.max_frames  # the clip is treated as ending there
    known = [n for n in (source.num_frames, end) if n is not None]
    total = min(known) - first if known else None
    w, h = source.size
    frames = source.num_frames or "unknown number of"
    logger.info("input: %s, %dx%d, %s frames, %s fps", input_path, w, h, frames, source.fps)
    if first:
        seconds = first / source.fps
        logger.info("starting at frame %d (%.3f s); earlier frames are read as context only", first, seconds)
    retimed = isinstance(source, VideoFileSource) and source.fps != source.stream_fps
    if retimed and (source.audio_streams or source.subtitle_streams):
        logger.warning(
            "the input's audio and subtitles are not written: --fps %s retimes the video (its own rate "
            "is %s fps), so they would drift out of sync",
            source.fps,
            source.stream_fps,
        )
    tracks = None
    if not retimed:
        skip = first / source.fps
        tracks = TrackCopy.of(source, skip, audio=not args.no_audio, subtitles=not args.no_subtitles)
    # The output is opened first so that an existing OUTPUT is refused before the model loads; an
    # error below leaves OUTPUT as it was and keeps the finished frames for --resume.
    sink = open_sink(
        output_path,
        source.fps,
        args.crf,
        args.overwrite,
        tracks,
        resume=args.resume,
        job=_job(args, input_path, source),
        sample_aspect_ratio=getattr(source, "sample_aspect_ratio", None),
        codec=args.codec,
    )
    with sink, logging_redirect_tqdm():
        model = upscaler()
        device_type = getattr(getattr(model, "device", None), "type", "cpu")
        with tqdm(
            total=total,
            initial=sink.resume_from,
            unit="frame",
            desc="upscale",
            disable=args.no_progress,
            dynamic_ncols=True,
        ) as bar:
            report = upscale_stream(
                itertools.islice(source, end),  # stops without decoding one frame more
                model,
                sink,
                reference=args.reference,
                on_frame=bar.update,
                start=first + sink.resume_from,
            )
    if first + sink.frames_written < model.num_frames:  # the frames before --start were context
        logger.warning(
            "the clip has %d frame(s), fewer than the model's %d-frame window: windows were filled with "
            "repeated frames, so less detail was restored",
            first + sink.frames_written,
            model.num_frames,
        )
    resumed = f" (from output frame {sink.resume_from}; earlier ones by an interrupted run)"
    if report.frames == 0:
        logger.info("all %d frames were finished before; wrote %s", sink.frames_written, output_path)
        return
    (iw, ih), (ow, oh) = report.input_size, report.output_size
    logger.info(
        "upscaled %d frames%s %dx%d -> %dx%d in %.1f s (%.3g frames/s, %.3g s/frame), %s; wrote %s",
        report.frames, resumed if sink.resume_from else "", iw, ih, ow, oh, report.seconds,
        report.frames_per_second, report.seconds / max(report.frames, 1),
        peak_memory_text(device_type), output_path,
    )  # fmt: skip
    if args.reference:
        logger.info(
            "against INPUT (luma, no border crop, mean of %d frames of this run): PSNR %.2f dB, SSIM %.4f",
            len(report.psnr), float(np.mean(report.psnr)), float(np.mean(report.ssim)),
        )  # fmt: skip


COMMANDS = {"upscale": (_add_upscale_parser, upscale)}


# -------------------------------------------------------------------------------------------------
# Entry points


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    _, run = COMMANDS[args.command]
    return run(args)


def main(argv: Sequence[str] | None = None) -> int:
    """The ``lgfn`` console entry point: parse ``argv`` (default ``sys.argv[1:]``) and run the subcommand.

    Returns:
        The exit status: 0 on success, 2 for a user error (printed as one ``error:`` line), 130
        after Ctrl-C.
    """
    try:
        return run_main(_main, argv)
    except SystemExit as exc:  # --help and --version exit through argparse
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)


if __name__ == "__main__":
    sys.exit(main())
