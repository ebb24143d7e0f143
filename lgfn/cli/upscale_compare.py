"""``lgfn upscale --compare``: frames for judging an upscale by eye, the bicubic baseline and LGFN in
one labelled frame (:class:`lgfn.inference.compare.CompareUpscaler`), written, streamed and resumed
like any output."""

from __future__ import annotations

import argparse
from fractions import Fraction

from lgfn.errors import ConfigError
from lgfn.inference import Upscaler
from lgfn.inference.compare import LAYOUTS, WIPE_SECONDS, CompareUpscaler, wipe_period


def add_compare_option(parser: argparse.ArgumentParser) -> None:
    """Declare ``--compare LAYOUT`` (``None`` when not given)."""
    parser.add_argument(
        "--compare",
        choices=LAYOUTS,
        default=None,
        help="write frames that show the bicubic baseline and LGFN together, labelled, for judging by "
        "eye: split (bicubic left of a fixed divider at the middle, LGFN right of it, at the output "
        f"size), wipe (the same with a divider sweeping across and back every {WIPE_SECONDS:g} s) or "
        "side-by-side (both whole frames, twice the output width and a thin gap)",
    )


def check_compare(args: argparse.Namespace) -> None:
    """Refuse ``--compare`` where it cannot apply, before anything is written.

    Raises:
        ConfigError: with ``--method bicubic`` (nothing to compare it with) or ``--reference`` (the
            scores would be of the comparison frames).
    """
    if args.compare is None:
        return
    if args.method == "bicubic":
        raise ConfigError(
            f"--compare {args.compare} shows bicubic beside LGFN, so --method bicubic leaves nothing to "
            "compare: drop --method bicubic (or --compare)"
        )
    if args.reference:
        raise ConfigError(
            f"--compare {args.compare} does not go with --reference: the scores would be of the comparison "
            "frames, not of LGFN's; score a run without --compare"
        )


def compare_job(args: argparse.Namespace, fps: Fraction) -> dict:
    """What ``--compare`` adds to the job record (nothing without it, so that other records stay as
    they were): the layout and, for ``wipe``, the frames of one sweep at the input's ``fps``."""
    if args.compare is None:
        return {}
    if args.compare == "wipe":
        return {"compare": args.compare, "wipe_period": wipe_period(fps)}
    return {"compare": args.compare}


def compared(args: argparse.Namespace, upscaler: Upscaler, first: int, fps: Fraction) -> Upscaler:
    """``upscaler`` itself, or with ``--compare`` the upscaler whose frames compare it with bicubic.

    Args:
        args: the command line.
        upscaler: LGFN (from a checkpoint or an ONNX file).
        first: the input frame that is output frame 0 (``--start``).
        fps: the input's frame rate, which sets the wipe's speed.
    """
    if args.compare is None:
        return upscaler
    return CompareUpscaler(upscaler, args.compare, first=first, period=wipe_period(fps))
