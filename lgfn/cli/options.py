"""The options that several commands share, declared once, with one error path.

``lgfn upscale`` and ``test.py`` run a network the same way. :func:`add_checkpoint_option`,
:func:`add_scale_option` and :func:`add_inference_options` declare those options;
:func:`inference_settings` turns them into a device and plain :class:`~lgfn.inference.InferenceOptions`.
A bad value raises an :class:`~lgfn.errors.LGFNError`, and :class:`CommandParser` makes argparse's
own usage errors one too, so that every bad option ends in one ``error: ...`` line and exit status 2
(:func:`lgfn.cli.console.run_main`).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import torch

import lgfn
from lgfn.checkpoint import DEFAULT_CHECKPOINT
from lgfn.data.windows import PADDING_MODES
from lgfn.devices import AUTO, PRECISIONS, auto_precision, check_precision_on, resolve_device
from lgfn.errors import ConfigError
from lgfn.inference import InferenceOptions, Upscaler, resolver_from_options

#: The upscaling methods of ``--method``.
METHODS = ("lgfn", "bicubic")
#: Scale of ``--method bicubic`` when ``--scale`` is not given.
DEFAULT_BICUBIC_SCALE = 4

#: Where options are declared: a parser or one of its argument groups.
OptionContainer = argparse._ActionsContainer


class CommandParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are ordinary user errors: one line, exit status 2."""

    def error(self, message: str) -> NoReturn:
        raise ConfigError(f"{message} (see: {self.prog} --help)")


def int_at_least(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse ``type`` for an integer in ``[minimum, maximum]`` (no upper bound when ``None``)."""

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


def default_checkpoint() -> Path:
    """The checkpoint the commands use without ``--ckpt``: the demo weights of a repository checkout.

    Every command reads it here (tests point :data:`DEFAULT_CHECKPOINT` of this module elsewhere).
    """
    return DEFAULT_CHECKPOINT


def add_checkpoint_option(parser: OptionContainer, several: bool = False) -> None:
    """``--ckpt PATH`` (``None`` when not given), or with ``several`` ``--ckpt PATH [PATH ...]``, and
    ``--onnx FILE`` (``None`` when not given), the network as an exported ONNX file instead."""
    parser.add_argument(
        "--onnx",
        type=Path,
        default=None,
        metavar="FILE",
        help="run this ONNX file (from `lgfn export`) in ONNX Runtime instead of a checkpoint in PyTorch: "
        "the same windows, padding, tiles and outputs; whole windows (no feature reuse), the file's "
        "precision (--precision and --compile refused)",
    )
    what = "LGFN checkpoint (authors' release or project file)"
    if several:
        parser.add_argument(
            "--ckpt",
            type=Path,
            nargs="+",
            help=f"{what}; several are compared in one table [default: {default_checkpoint()} if present]",
        )
    else:
        help = f"{what} [default: {default_checkpoint()}]"
        parser.add_argument("--ckpt", type=Path, default=None, help=help)


def add_scale_option(parser: OptionContainer) -> None:
    """``--scale N`` (``None`` when not given)."""
    parser.add_argument(
        "--scale",
        type=int_at_least(1),
        default=None,
        help="upscaling factor: LGFN takes its checkpoint's (another is an error), "
        f"--method bicubic {DEFAULT_BICUBIC_SCALE} unless given",
    )


def add_inference_options(parser: OptionContainer, precision: str = InferenceOptions.precision) -> None:
    """How the network runs: ``--device``, ``--precision``, ``--batch``, ``--tile``, ``--tile-overlap``,
    ``--padding``, ``--self-ensemble``, ``--plain`` and ``--compile`` (read by :func:`inference_settings`).

    Args:
        parser: where to declare them.
        precision: the default of ``--precision``: a name of :data:`~lgfn.devices.PRECISIONS`, or
            ``"auto"`` for :func:`~lgfn.devices.auto_precision`'s choice on the device.
    """
    defaults = InferenceOptions()
    parser.add_argument(
        "--device",
        default="auto",
        help="auto (CUDA if available, else CPU), cpu, cuda or cuda:N [%(default)s]",
    )
    parser.add_argument(
        "--precision",
        choices=(AUTO, *PRECISIONS),
        default=precision,
        help="arithmetic precision; auto: bf16 where the CPU or GPU computes it natively, else fp32; "
        "fp16 needs CUDA [%(default)s]",
    )
    parser.add_argument(
        "--batch", type=int_at_least(1), default=defaults.batch, help="windows per forward pass [%(default)s]"
    )
    parser.add_argument(
        "--tile",
        type=int_at_least(0),
        default=defaults.tile,
        help="cut frames into tiles of this many input pixels to bound memory; 0: whole frames [%(default)s]",
    )
    parser.add_argument(
        "--tile-overlap",
        type=int_at_least(0),
        default=defaults.tile_overlap,
        help="input pixels shared by neighbouring tiles, blended [%(default)s]",
    )
    parser.add_argument(
        "--padding",
        choices=PADDING_MODES,
        default=defaults.padding,
        help="how windows at the clip's ends are filled [%(default)s]",
    )
    parser.add_argument(
        "--self-ensemble", action="store_true", help="average the outputs of the 8 flips/transposes"
    )
    parser.add_argument(
        "--plain",
        action="store_true",
        help="the reference path: model(window) for every window, no feature reuse or channels-last",
    )
    parser.add_argument("--compile", action="store_true", help="run the network through torch.compile")


def checked_onnx(args: argparse.Namespace) -> Path | None:
    """``--onnx``'s file, refused beside ``--ckpt`` (:func:`refuse_network_options` refuses it with
    ``--method bicubic``); ``None`` when not given."""
    if args.onnx is None:
        return None
    if args.ckpt:
        raise ConfigError("--onnx and --ckpt both name the network; give one of them")
    return args.onnx


def lgfn_upscaler(path: Path, onnx: bool, options: InferenceOptions, device: torch.device) -> Upscaler:
    """LGFN from a checkpoint run by PyTorch, or (``onnx``) from an exported file run by ONNX Runtime.

    Raises:
        LGFNError: the file is not a usable checkpoint / exported LGFN, or an option cannot apply.
    """
    if onnx:
        from lgfn.export import onnx_resolver  # needs the optional ONNX packages

        return onnx_resolver(path, options, device)
    return resolver_from_options(lgfn.load_model(path, device), options, device)


def inference_settings(
    args: argparse.Namespace, gpu_index: int | None = None
) -> tuple[torch.device, InferenceOptions]:
    """The device and options that :func:`add_inference_options` declared, checked.

    Args:
        args: the parsed command line.
        gpu_index: the GPU that a bare ``cuda`` (or ``auto``) means: a torchrun process's local rank.

    Returns:
        ``(device, options)`` for :func:`lgfn.inference.resolver_from_options`.

    Raises:
        LGFNError: the overlap is not smaller than the tile, the device is no device or is absent,
            or the precision cannot run there (fp16 on the CPU).
    """
    if args.tile and args.tile_overlap >= args.tile:
        raise ConfigError(f"--tile-overlap ({args.tile_overlap}) must be smaller than --tile ({args.tile})")
    device = resolve_device(args.device, gpu_index)
    precision = chosen_precision(args)
    check_precision_on(device, precision)
    options = InferenceOptions(
        precision=precision,
        batch=args.batch,
        padding=args.padding,
        tile=args.tile,
        tile_overlap=args.tile_overlap,
        self_ensemble=args.self_ensemble,
        plain=args.plain,
        compile=args.compile,
    )
    return device, options


def chosen_precision(args: argparse.Namespace) -> str:
    """The precision the network runs in: ``--precision``, with ``auto`` decided for ``--device``
    (fp32 for an ``--onnx`` file, which runs in the precision it was exported with).

    Raises:
        LGFNError: ``--device`` is no device, or an absent one.
    """
    if args.precision != AUTO:
        return args.precision
    if args.onnx is not None:
        return "fp32"
    return auto_precision(resolve_device(args.device))


def refuse_network_options(args: argparse.Namespace, precision: str = InferenceOptions.precision) -> None:
    """Refuse, in one line, ``--ckpt``, ``--onnx`` and the options of :func:`add_inference_options`
    changed from their defaults when only the bicubic baseline runs (``--method bicubic``): it has no
    network.

    Args:
        args: the parsed options.
        precision: the command's default of ``--precision``.

    Raises:
        ConfigError: naming the options given.
    """
    for dest in ("ckpt", "onnx"):
        if getattr(args, dest) is not None:
            raise ConfigError(f"--method bicubic takes no --{dest}")
    defaults = InferenceOptions()
    unchanged = {
        "device": "auto",
        "precision": precision,
        "batch": defaults.batch,
        "tile": defaults.tile,
        "tile_overlap": defaults.tile_overlap,
        "padding": defaults.padding,
        "self_ensemble": defaults.self_ensemble,
        "plain": defaults.plain,
        "compile": defaults.compile,
    }
    given = [
        "--" + dest.replace("_", "-") for dest, value in unchanged.items() if getattr(args, dest) != value
    ]
    if given:
        raise ConfigError(
            f"{', '.join(given)} {'changes' if len(given) == 1 else 'change'} how the LGFN network runs, "
            "and --method bicubic runs none: leave them out or use --method lgfn"
        )
