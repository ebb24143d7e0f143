"""``lgfn upscale --segment-frames``: how many frames a video output's segments hold, the unit of work
an interruption keeps.

The length is the one an interrupted run recorded (``--resume`` continues its segments), else
``--segment-frames``, else a default from an estimate of each frame's cost: the network's
multiply-accumulates on frames of the input's size (:func:`lgfn.stats.count_macs`, counted on a
CPU network built from the configuration the checkpoint or ONNX file records, read without loading
the network) plus a share per output pixel (:func:`lgfn.media.segments.default_segment_frames`).
The estimate depends only on the command and the input, never on a measured speed: the same
command always cuts the same segments.
"""

from __future__ import annotations

import argparse
import functools
import logging
from pathlib import Path

import torch

from lgfn.checkpoint import load_checkpoint, split_checkpoint
from lgfn.cli.options import default_checkpoint, int_at_least
from lgfn.errors import ConfigError
from lgfn.media import work_folder
from lgfn.media.containers import is_video_output
from lgfn.media.segments import (
    MAX_SEGMENT_FRAMES,
    MIN_SEGMENT_FRAMES,
    PIXEL_MACS,
    SEGMENT_MACS,
    default_segment_frames,
    finished_segments,
)
from lgfn.media.workfolder import recorded_job
from lgfn.models import LGFN
from lgfn.models.lgfn import LGFNConfig
from lgfn.stats import count_macs

logger = logging.getLogger(__name__)

#: The low-resolution size the MACs per pixel are counted at (convolutions scale with the pixels).
_COUNTED_SIZE = 8
#: Outputs the self-ensemble averages per frame.
_ENSEMBLE_PASSES = 8


def add_segment_option(parser: argparse.ArgumentParser) -> None:
    """Declare ``--segment-frames N`` (``None`` when not given)."""
    parser.add_argument(
        "--segment-frames",
        type=int_at_least(1),
        default=None,
        metavar="N",
        help="frames per segment of a video OUTPUT: an interruption keeps the finished segments and "
        "redoes the unfinished one (a PNG folder keeps every finished frame). Default: the frames that "
        f"make about {SEGMENT_MACS:.0e} multiply-accumulates of estimated work (some five minutes on a "
        "2-core CPU in fp32), the network's MACs on a frame of this input plus "
        f"{PIXEL_MACS:,} per output pixel, {MIN_SEGMENT_FRAMES} to {MAX_SEGMENT_FRAMES} "
        f"({MAX_SEGMENT_FRAMES} for bicubic): fixed by the command and the input, never by a measured "
        "speed. --resume continues with the interrupted run's length",
    )


def segment_frames(args: argparse.Namespace, output: Path, input_size: tuple[int, int]) -> int | None:
    """The segment length of ``output`` (``None`` for a PNG folder, which has no segments).

    Args:
        args: the command line (``--segment-frames``, ``--resume``, the network, ``--reference``, ...).
        output: the output path.
        input_size: ``(w, h)`` of the input frames.

    Raises:
        ConfigError: ``--resume`` with a ``--segment-frames`` other than the interrupted run's.
    """
    if not is_video_output(output):
        return None
    recorded = _recorded(output) if args.resume else None
    if recorded is not None:
        if args.segment_frames not in (None, recorded):
            raise ConfigError(
                f"cannot resume {output}: the interrupted run in {work_folder(output)} cut segments of "
                f"{recorded} frames, not --segment-frames {args.segment_frames}; leave --segment-frames out "
                "(--resume keeps the recorded length), or delete that folder to start over"
            )
        return recorded
    if args.segment_frames is not None:
        return args.segment_frames
    config = network_config(args)
    macs, (w, h) = 0.0, input_size
    if config is not None:
        if args.reference:
            w, h = w // config.scale, h // config.scale
        macs = network_macs(config, (w, h)) * (_ENSEMBLE_PASSES if args.self_ensemble else 1)
        w, h = w * config.scale, h * config.scale
    frames = default_segment_frames(macs, (w, h))
    estimate = f"the network's {macs:.2g} multiply-accumulates a frame" if macs else "no network"
    logger.info(
        "video segments of %d frames (%s; --segment-frames sets another length): an interruption keeps "
        "the finished ones", frames, estimate,
    )  # fmt: skip
    return frames


def _recorded(output: Path) -> int | None:
    """The segment length an interrupted run recorded beside ``output``, if it left finished segments."""
    work = work_folder(output)
    if not finished_segments(work):
        return None
    value = (recorded_job(work) or {}).get("segment_frames")
    return value if isinstance(value, int) and value > 0 else None


def network_config(args: argparse.Namespace) -> LGFNConfig | None:
    """The configuration of the network ``--ckpt`` or ``--onnx`` names, read from the file without
    building the network; ``None`` for ``--method bicubic`` or a file that cannot be read (building
    the upscaler then reports it)."""
    if args.method == "bicubic":
        return None
    try:
        if args.onnx is not None:
            from lgfn.export.metadata import OnnxModelInfo
            from lgfn.vapoursynth.model_file import read_metadata_props  # the props alone, not the graph

            return OnnxModelInfo.from_props(read_metadata_props(args.onnx), args.onnx).config
        path = args.ckpt or default_checkpoint()
        stored, _ = split_checkpoint(load_checkpoint(path), path)
        return LGFNConfig.from_dict(stored)
    except Exception:  # noqa: BLE001 - whatever the file holds, the network's own loading reports it
        return None


def network_macs(config: LGFNConfig, lr_size: tuple[int, int]) -> float:
    """Multiply-accumulates of the network ``config`` describes for one output frame from ``lr_size``
    (w, h) input frames."""
    return macs_per_pixel(config) * lr_size[0] * lr_size[1]


@functools.cache
def macs_per_pixel(config: LGFNConfig) -> float:
    """LGFN's multiply-accumulates per low-resolution pixel of its input (convolutions, deformable
    ones and their sampling), counted once per configuration."""
    # On a fresh CPU network of that configuration (its weights do not matter), and without
    # touching the random state a run may depend on.
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        count = count_macs(LGFN.from_config(config), _COUNTED_SIZE, _COUNTED_SIZE)
    return (count.conv_total + count.deform + count.sampling) / _COUNTED_SIZE**2
