"""``lgfn export CKPT -o model.onnx``: a checkpoint as an ONNX file (:mod:`lgfn.export`).

The file holds the whole network, runs in ONNX Runtime (``lgfn upscale --onnx``, ``test.py --onnx``)
and records its scale, frame count, configuration, layout and the checkpoint's SHA-256.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from lgfn.cli.console import parse_size
from lgfn.errors import ConfigError
from lgfn.export.metadata import DCN_FORMS, LAYOUTS, ONNX_PRECISIONS

logger = logging.getLogger(__name__)

_DESCRIPTION = (
    "Export an LGFN checkpoint (the authors' released file or a project checkpoint) as one ONNX file "
    "(torch.onnx.export with the dynamo exporter, opset 19). Input: one window of frames, RGB in "
    "[0, 1], as (1, t, 3, h, w) or stacked (1, 3t, h, w); output (1, 3, s*h, s*w). OUTPUT is written "
    "only when complete."
)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Declare ``lgfn export`` and its options."""
    parser = subparsers.add_parser("export", help="export a checkpoint as ONNX", description=_DESCRIPTION)
    parser.add_argument("ckpt", metavar="CKPT", type=Path, help="LGFN checkpoint (authors' or project file)")
    parser.add_argument("-o", "--output", metavar="OUTPUT", type=Path, required=True, help="the .onnx file")
    parser.add_argument(
        "--dcn",
        choices=DCN_FORMS,
        default=DCN_FORMS[0],
        help="deformable convolution as ONNX DeformConv (ONNX Runtime), or as GridSample for runtimes "
        "without DeformConv (OpenVINO, TensorRT-RTX) [%(default)s]",
    )
    parser.add_argument(
        "--layout",
        choices=LAYOUTS,
        default=LAYOUTS[0],
        help="input (1, t, 3, h, w), or frames stacked along the channels (1, 3t, h, w) as vs-mlrt "
        "takes them [%(default)s]",
    )
    parser.add_argument(
        "--size",
        type=parse_size,
        default=None,
        metavar="HxW",
        help="fix the input size (e.g. 144x180); default: any height and width",
    )
    parser.add_argument(
        "--precision",
        choices=ONNX_PRECISIONS,
        default=ONNX_PRECISIONS[0],
        help="fp16: half-precision input, weights and activations, for runtimes with fp16 kernels "
        "(GPUs; ONNX Runtime's CPU provider lacks some) [%(default)s]",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")


def run(args: argparse.Namespace) -> int:
    """Run ``lgfn export``."""
    from lgfn.export import export_checkpoint, require  # the optional ONNX packages

    if args.output.suffix.lower() != ".onnx":
        raise ConfigError(f"-o {args.output}: the output must be a .onnx file")
    if args.output.is_dir() or (args.output.exists() and not args.overwrite):
        raise ConfigError(f"{args.output} exists; pass --overwrite to replace it, or choose another -o")
    for module in ("onnx", "onnxscript", "onnxruntime"):
        require(module)
    started = time.perf_counter()
    info = export_checkpoint(
        args.ckpt, args.output, dcn=args.dcn, layout=args.layout, size=args.size, precision=args.precision
    )
    size = "any size" if info.size is None else "x".join(map(str, info.size))
    print(
        f"wrote {args.output} ({args.output.stat().st_size / 2**20:.1f} MiB) in "
        f"{time.perf_counter() - started:.1f} s: x{info.scale}, {info.num_frames} frames, {args.layout} "
        f"layout, {args.dcn}, {args.precision}, {size}"
    )
    return 0
