"""``python test.py``: evaluate LGFN (or the bicubic baseline) with the paper's protocol.

With no arguments: the bundled real sample clip (``carphone_pristine``, first 32 frames), LGFN from
``checkpoints/lgfn_x4_demo.pth`` against bicubic, a PSNR/SSIM table and a side-by-side picture::

    python test.py

Benchmarks (where to get them and their layouts in data/README.md; ``--data-root`` defaults to
``data/Vid4``, ``data/SPMCS`` and ``data/vimeo_septuplet``)::

    python test.py --dataset vid4 --ckpt lgfn.pth
    python test.py --dataset vid4 --method bicubic --max-frames 5     # a quick look
    python test.py --dataset spmcs --data-root data/SPMCS --ckpt lgfn.pth
    python test.py --dataset vimeo90k --data-root data/vimeo_septuplet --ckpt lgfn.pth
    python test.py --dataset folder --data-root my_clips --ckpt lgfn.pth

Every option either works with the dataset it is given with or is refused with one error line
(:data:`DATASET_OPTIONS`).

Writes ``metrics.json``, ``per_frame.csv``, the figures (per-frame curves and visual comparisons,
:mod:`lgfn.evaluation.figures`; not with ``--no-figures``) and with ``--save-images`` the SR frames
to ``--out`` (default ``results/<dataset>_<method>``) and prints the per-clip table: PSNR/SSIM,
further metrics asked with ``--metrics`` (tOF, tLP, ERQA), and, for the paper's protocol, the paper's
Bicubic and LGFN scores and the difference (:mod:`lgfn.evaluation.paper`; any other setting prints a
notice instead). Scores are saved after every clip: an evaluation stopped part-way (Ctrl-C, a crash)
continues with ``--resume``. ``--out`` is locked while a run writes it and kept apart from the
inputs; a finished evaluation there of other settings is replaced only with ``--overwrite``
(:mod:`lgfn.evaluation.outputs`, :func:`lgfn.evaluation.resume.check_finished`). The work is done by
:mod:`lgfn.evaluation`; this module reads the command line and reports.

Sharded over N processes (CPU or GPUs, one machine or several), with the same files as one process::

    torchrun --nproc_per_node=N test.py --dataset vimeo90k --ckpt lgfn.pth
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import lgfn
from lgfn.cli.console import setup_logging
from lgfn.cli.options import (
    DEFAULT_BICUBIC_SCALE,
    METHODS,
    CommandParser,
    OptionContainer,
    add_checkpoint_option,
    add_inference_options,
    add_scale_option,
    checked_onnx,
    default_checkpoint,
    inference_settings,
    lgfn_upscaler,
    refuse_network_options,
)
from lgfn.data.eval_datasets import EvalDataset, FramesDataset
from lgfn.devices import resolve_device
from lgfn.distributed import DistributedContext, init_distributed, launched_world_size, shutdown
from lgfn.errors import ConfigError
from lgfn.evaluation.compare import compare_methods
from lgfn.evaluation.datasets import DEFAULT_ROOTS, build_eval_dataset, parse_split_lists
from lgfn.evaluation.evaluator import SINGLE_PROCESS
from lgfn.evaluation.outputs import Input, claimed_output
from lgfn.evaluation.perceptual import TemporalLPIPS
from lgfn.evaluation.report import print_report
from lgfn.evaluation.resume import resume_hint
from lgfn.evaluation.scoring import DEFAULT_METRICS, METRICS, parse_metrics
from lgfn.files import file_identity
from lgfn.inference import (
    BicubicUpscaler,
    InferenceOptions,
    Upscaler,
    VideoSuperResolver,
)

logger = logging.getLogger(__name__)

REPO = Path(lgfn.__file__).resolve().parents[1]
DATASETS = ("sample", "vid4", "spmcs", "vimeo90k", "folder")
#: Per-clip rows are printed up to this many clips (Vimeo-90K-T has 7,824).
MAX_TABLE_CLIPS = 50
#: The sample run's defaults (``None`` on the command line, so that a default is never "given").
SAMPLE_CLIP, SAMPLE_FRAMES = "carphone_pristine", 32
#: The sample run's picture of one frame, the methods side by side, in ``--out``.
FIGURE = "side_by_side.png"
#: ``{argument: (option, the datasets that take it)}``; given with another dataset, it is refused.
DATASET_OPTIONS = {
    "data_root": ("--data-root", ("vid4", "spmcs", "vimeo90k", "folder")),
    "clips": ("--clips", ("vid4", "spmcs", "vimeo90k", "folder")),
    "lr_root": ("--lr-root", ("vid4", "vimeo90k", "folder")),
    "lr_from_files": ("--lr-from-files", ("vid4", "spmcs")),
    "test_list": ("--test-list", ("vimeo90k",)),
    "split_list": ("--split-list", ("vimeo90k",)),
    "max_frames": ("--max-frames", ("sample", "vid4", "spmcs", "folder")),
    "sample_clip": ("--sample-clip", ("sample",)),
}
#: Why an option is refused with a dataset, where there is more to say than the datasets that take it.
REFUSAL_HINTS = {
    ("clips", "sample"): "the sample is one clip: choose it with --sample-clip",
    ("lr_root", "spmcs"): "spmcs keeps LR frames inside each clip folder: use --lr-from-files",
    ("lr_from_files", "vimeo90k"): "vimeo90k keeps LR frames in a separate tree: use --lr-root",
    ("lr_from_files", "folder"): "a folder of clips has no LR frames of its own: use --lr-root",
    ("max_frames", "vimeo90k"): "vimeo90k scores the centre of each 7-frame septuplet: choose septuplets "
    "with --clips or --test-list",
}


# -------------------------------------------------------------------------------------------------
# Options


def build_parser() -> argparse.ArgumentParser:
    """The ``test.py`` parser: what to evaluate on, with which method, how to score and where to write."""
    parser = CommandParser(
        prog="test.py",
        description="Evaluate LGFN or bicubic on Vid4, SPMCS, Vimeo-90K-T, your clips or the bundled sample.",
    )
    _add_data_options(parser.add_argument_group("data"))
    _add_method_options(parser.add_argument_group("method"))
    _add_scoring_options(parser.add_argument_group("scoring and output"))
    return parser


def _add_data_options(data: OptionContainer) -> None:
    data.add_argument(
        "--dataset", choices=DATASETS, default="sample", help="what to evaluate on (default: %(default)s)"
    )
    data.add_argument("--data-root", type=Path, help="dataset folder (layouts in data/README.md)")
    data.add_argument("--clips", nargs="+", metavar="NAME", help="evaluate only these clips")
    data.add_argument(
        "--degradation",
        choices=("bi", "bd"),
        help="how LR frames are made from GT (default: bi; not with LR frames read from files)",
    )
    data.add_argument("--lr-root", type=Path, help="read LR frames from this folder (vid4, folder, vimeo90k)")
    data.add_argument(
        "--lr-from-files",
        action="store_true",
        help="read LR frames from the dataset's own LR folders (vid4: ROOT/BIx<s>, spmcs: <clip>/input<s>)",
    )
    data.add_argument(
        "--test-list", type=Path, help="vimeo90k: list of septuplets (default ROOT/sep_testlist.txt)"
    )
    data.add_argument(
        "--split-list",
        action="append",
        default=[],
        metavar="NAME=FILE",
        help="vimeo90k: also average over the septuplets of FILE, reported as NAME (repeatable; default: "
        "slow/medium/fast_testset.txt beside the test list)",
    )
    data.add_argument(
        "--max-frames",
        type=int,
        help=f"score only the first N frames of each clip, the inner ones as usual (sample: default "
        f"{SAMPLE_FRAMES}; vid4, spmcs, folder: default all)",
    )
    data.add_argument("--sample-clip", help=f"sample: which bundled clip (default: {SAMPLE_CLIP})")


def _add_method_options(method: OptionContainer) -> None:
    add_checkpoint_option(method, several=True)
    method.add_argument(
        "--method",
        choices=METHODS,
        help="lgfn (needs a checkpoint) or bicubic; default lgfn, and for the sample both",
    )
    add_scale_option(method)
    add_inference_options(method)


def _add_scoring_options(scoring: OptionContainer) -> None:
    scoring.add_argument(
        "--score-all-frames", action="store_true", help="score every frame (default: not the first and last)"
    )
    scoring.add_argument(
        "--crop-border", type=int, default=0, help="pixels ignored at each side (default: %(default)s)"
    )
    scoring.add_argument("--rgb", action="store_true", help="score RGB instead of luma")
    scoring.add_argument(
        "--metrics",
        default=",".join(DEFAULT_METRICS),
        help=f"comma-separated metrics from {', '.join(METRICS)}; psnr and ssim always (the paper's); tof: "
        f"temporal consistency of the optical flow, see docs/metrics.md [%(default)s]",
    )
    scoring.add_argument(
        "--lpips-weights",
        type=Path,
        metavar="PATH",
        help="for --metrics ...,tlp: torchvision's ImageNet AlexNet weights (alexnet-owt-7be5be79.pth), "
        "the LPIPS trunk; read from disk, never downloaded",
    )
    scoring.add_argument("--out", type=Path, help="output folder (default results/<dataset>_<method>)")
    scoring.add_argument("--save-images", action="store_true", help="also write the SR frames")
    scoring.add_argument("--no-figures", action="store_true", help="no figures (docs/evaluation.md)")
    scoring.add_argument(
        "--resume",
        action="store_true",
        help="continue a stopped evaluation in --out: keep its finished clips' scores, run the rest",
    )
    scoring.add_argument(
        "--overwrite", action="store_true", help="replace what --out holds of an evaluation of other settings"
    )
    scoring.add_argument("--no-progress", action="store_true", help="no progress bar")
    scoring.add_argument("-v", "--verbose", action="store_true", help="debug logging")


# -------------------------------------------------------------------------------------------------
# What is evaluated


def check_dataset_options(args: argparse.Namespace) -> None:
    """Refuse, in one line, an option that the chosen dataset does not take (see :data:`DATASET_OPTIONS`).

    Raises:
        ConfigError: an option given with a dataset it does not apply to, or a bad value.
    """
    for dest, (option, datasets) in DATASET_OPTIONS.items():
        if getattr(args, dest) not in (None, False, []) and args.dataset not in datasets:
            hint = REFUSAL_HINTS.get((dest, args.dataset), f"it is for --dataset {', '.join(datasets)}")
            raise ConfigError(f"{option} does not apply to --dataset {args.dataset}: {hint}")
    if args.max_frames is not None and args.max_frames < 1:
        raise ConfigError(f"--max-frames must be at least 1, got {args.max_frames}")
    if args.crop_border < 0:
        raise ConfigError(f"--crop-border must be 0 or more, got {args.crop_border}")
    if args.degradation is not None and (args.lr_root or args.lr_from_files):
        given = "--lr-root" if args.lr_root else "--lr-from-files"
        raise ConfigError(
            f"--degradation makes LR frames from the ground truth: it does not apply with {given}"
        )


def data_root(args: argparse.Namespace) -> Path:
    """``--data-root``, else the dataset's default folder (``data/Vid4``...; ``folder`` has none)."""
    if args.data_root is not None:
        return args.data_root
    if args.dataset not in DEFAULT_ROOTS:
        raise ConfigError(f"--dataset {args.dataset} needs --data-root (folder layouts in data/README.md)")
    return REPO / DEFAULT_ROOTS[args.dataset]


def build_dataset(args: argparse.Namespace, scale: int) -> EvalDataset:
    """The dataset the arguments describe (not the sample clip)."""
    return build_eval_dataset(
        args.dataset,
        data_root(args),
        scale,
        lr_root=args.lr_root,
        lr_from_files=args.lr_from_files,
        degradation=args.degradation or "bi",
        score="all" if args.score_all_frames else None,
        clips=args.clips,
        test_list=args.test_list,
        split_lists=parse_split_lists(args.split_list),
        max_frames=args.max_frames or 0,
    )


def find_checkpoints(args: argparse.Namespace) -> dict[str, Path]:
    """``{method name: checkpoint}``: ``lgfn`` for one checkpoint (``--ckpt``, else the default one
    when it exists), the file names (made unique) for several, nothing for bicubic."""
    onnx = checked_onnx(args)
    if onnx is not None:
        return {"lgfn": onnx}
    if args.method == "bicubic":  # main has refused a --ckpt
        return {}
    if args.ckpt is None:
        default = default_checkpoint()
        if args.method == "lgfn" and not default.is_file():
            raise ConfigError(f"--method lgfn needs a checkpoint: pass --ckpt PATH (none at {default})")
        return {"lgfn": default} if default.is_file() else {}
    if len(args.ckpt) == 1:
        return {"lgfn": args.ckpt[0]}
    names: dict[str, Path] = {}
    for path in args.ckpt:
        name = path.stem
        if name in names or name == "bicubic":  # runs/a/final.pth and runs/b/final.pth
            name = f"{path.parent.name}_{path.stem}"
        if name in names:
            raise ConfigError(f"--ckpt {path} is given twice")
        names[name] = path
    return names


def build_resolvers(
    args: argparse.Namespace, checkpoints: dict[str, Path], gpu_index: int | None = None
) -> tuple[dict[str, VideoSuperResolver], dict[str, dict]]:
    """A resolver and the report's protocol entries per checkpoint; all must upscale by one factor.

    ``gpu_index``: the GPU of this process under torchrun (its local rank), for a bare ``cuda``.
    """
    if not checkpoints:
        return {}, {}
    device, options = inference_settings(args, gpu_index)
    resolvers, protocols = {}, {}
    for name, checkpoint in checkpoints.items():
        resolvers[name] = lgfn_upscaler(checkpoint, args.onnx is not None, options, device)
        protocols[name] = lgfn_protocol(options, checkpoint, resolvers[name])
        if args.onnx is not None:  # only then, so that earlier PyTorch reports still resume
            protocols[name]["runtime"] = "onnxruntime"
    scales = {resolver.scale for resolver in resolvers.values()}
    if len(scales) > 1:
        listing = ", ".join(f"{checkpoints[n]} x{r.scale}" for n, r in resolvers.items())
        raise ConfigError(
            f"the checkpoints upscale by different factors ({listing}); compare one scale at a time"
        )
    return resolvers, protocols


def lgfn_protocol(options: InferenceOptions, checkpoint: Path, resolver: VideoSuperResolver) -> dict:
    """What a report records of how LGFN ran (the evaluator adds the data and scoring protocol)."""
    return {
        "checkpoint": str(checkpoint),
        "num_frames": resolver.num_frames,
        "padding": options.padding,
        "self_ensemble": options.self_ensemble,
        "precision": options.precision,
    }


def metrics_option(args: argparse.Namespace) -> tuple[str, ...]:
    """``--metrics`` as a tuple of names, checked with ``--lpips-weights`` (:func:`parse_metrics`)."""
    return parse_metrics(args.metrics, args.lpips_weights)


def _scoring(args: argparse.Namespace) -> dict:
    """The evaluations' keyword arguments that come from the scoring and output options."""
    return {
        "crop_border": args.crop_border,
        "luma": not args.rgb,
        "save_images": args.save_images,
        "figures": not args.no_figures,
        "progress": not args.no_progress,
        "resume": args.resume,
        "overwrite": args.overwrite,
        "metrics": metrics_option(args),
        "lpips": None if args.lpips_weights is None else TemporalLPIPS(args.lpips_weights),
    }


def _identity(checkpoint: Path | None, args: argparse.Namespace) -> dict:
    """What must not change between an interrupted evaluation and its resumption, beyond the protocol."""
    identity = {} if checkpoint is None else {"checkpoint_file": file_identity(checkpoint)}
    if args.lpips_weights is not None:
        identity["lpips_weights_file"] = file_identity(args.lpips_weights)
    return identity


def _inputs(args: argparse.Namespace, checkpoints: dict[str, Path]) -> list[Input]:
    """What the evaluation reads besides the data root, which the outputs must keep apart from."""
    named = [("--lr-root", args.lr_root), ("--test-list", args.test_list)]
    named += [("--lpips-weights", args.lpips_weights)]
    named += [("--split-list", path) for path in (parse_split_lists(args.split_list) or {}).values()]
    return named + [("the checkpoint", path) for path in checkpoints.values()]


# -------------------------------------------------------------------------------------------------
# Runs


def run_sample(args: argparse.Namespace) -> int:
    """The default run: LGFN vs bicubic on the bundled real clip, with a side-by-side picture."""
    from lgfn.data.samples import sample_clip_path
    from lgfn.media import read_video_frames

    clip, max_frames = args.sample_clip or SAMPLE_CLIP, args.max_frames or SAMPLE_FRAMES
    path = sample_clip_path(clip)
    checkpoints = find_checkpoints(args)
    if args.method is None and not checkpoints:
        print(f"no trained checkpoint found at {default_checkpoint()}; showing bicubic only")
    resolvers, protocols = build_resolvers(args, checkpoints)
    scale = args.scale or next((resolver.scale for resolver in resolvers.values()), DEFAULT_BICUBIC_SCALE)
    # Bicubic first, as in the paper's tables.
    upscalers: dict[str, Upscaler] = {"bicubic": BicubicUpscaler(scale), **resolvers}

    frames = read_video_frames(path, max_frames=max_frames)
    logger.info(
        "sample clip %s: %d frames of %dx%d", path, len(frames), frames[0].shape[1], frames[0].shape[0]
    )
    dataset = FramesDataset(
        {clip: frames},
        scale=scale,
        degradation=args.degradation or "bi",
        score="all" if args.score_all_frames else "inner",
        name="sample",
        max_frames=max_frames,
    )
    out, start = args.out or REPO / "results" / f"sample_{clip}", time.perf_counter()
    inputs = [*_inputs(args, checkpoints), ("the sample clip", path)]
    method_dirs = [out / name for name in upscalers]
    with claimed_output(out, method_dirs, inputs, args.save_images, SINGLE_PROCESS, [FIGURE]):
        reports = compare_methods(
            dataset,
            upscalers,
            out_dir=out,
            labels={"bicubic": "Bicubic", "lgfn": "LGFN"},
            figure_path=out / FIGURE,
            protocols=protocols,
            identities={name: _identity(checkpoints.get(name), args) for name in upscalers},
            **_scoring(args),
        )
    print_report(reports, out)
    print(f"{len(reports)} method(s) in {time.perf_counter() - start:.1f} s; results in {out}")
    return 0


def join_process_group(args: argparse.Namespace) -> DistributedContext:
    """The process group when torchrun started this process (one process otherwise): Gloo for bicubic
    and on a CPU, NCCL on GPUs. The processes other than rank 0 log warnings only."""
    device_type = "cpu" if args.method == "bicubic" else resolve_device(args.device).type
    context = init_distributed(device_type)
    if not context.is_main:
        logging.getLogger().setLevel(logging.WARNING)
    return context


def run_benchmark(args: argparse.Namespace) -> int:
    """A dataset run: each method (bicubic, or one or several checkpoints) scored on every clip; under
    ``torchrun`` the processes share the clips (:mod:`lgfn.evaluation.sharding`)."""
    context = join_process_group(args)
    try:
        return _run_benchmark(args, context)
    finally:
        shutdown(context)


def _run_benchmark(args: argparse.Namespace, context: DistributedContext) -> int:
    checkpoints: dict[str, Path] = {}
    if args.method == "bicubic":
        upscalers: dict[str, Upscaler] = {"bicubic": BicubicUpscaler(args.scale or DEFAULT_BICUBIC_SCALE)}
        protocols: dict[str, dict] = {}
    else:
        checkpoints = find_checkpoints(args)
        if not checkpoints:
            where = default_checkpoint()
            raise ConfigError(
                f"no checkpoint given and none at {where}: pass --ckpt PATH or --method bicubic"
            )
        gpu_index = context.local_rank if context.enabled else None
        upscalers, protocols = build_resolvers(args, checkpoints, gpu_index)
    scale = args.scale or next(iter(upscalers.values())).scale
    dataset = build_dataset(args, scale)
    several = len(upscalers) > 1
    out = args.out or REPO / "results" / f"{args.dataset}_{'compare' if several else next(iter(upscalers))}"

    start, method_dirs = time.perf_counter(), [out / name if several else out for name in upscalers]
    inputs = [("--data-root", data_root(args)), *_inputs(args, checkpoints)]
    with claimed_output(out, method_dirs, inputs, args.save_images, context):
        reports = compare_methods(
            dataset,
            upscalers,
            out_dir=out,
            subfolders=several,
            protocols=protocols,
            identities={name: _identity(checkpoints.get(name), args) for name in upscalers},
            context=context,
            **_scoring(args),
        )
    elapsed = time.perf_counter() - start
    if not context.is_main:
        return 0
    clips = reports[0]["clips"]
    print_report(reports, out, show_clips=len(clips) <= MAX_TABLE_CLIPS)
    frames = sum(clip["frames"] for clip in clips.values())
    methods = f"{len(reports)} checkpoints, " if several else ""
    print(f"{methods}{len(clips)} clips, {frames} scored frames in {elapsed:.1f} s; results in {out}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``test.py`` with ``argv`` (default ``sys.argv[1:]``).

    User errors raise :class:`~lgfn.errors.LGFNError`, which :func:`lgfn.cli.console.run_main` prints
    as one ``error:`` line.

    Returns:
        The exit status, 0.
    """
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    check_dataset_options(args)
    if args.method == "bicubic":
        refuse_network_options(args)
    metrics_option(args)  # a bad --metrics is refused before any model is loaded
    if args.dataset == "sample" and launched_world_size() > 1:
        raise ConfigError("the sample is one clip: run it without torchrun (sharding is for datasets)")
    with resume_hint(sys.argv[1:] if argv is None else argv):
        return run_sample(args) if args.dataset == "sample" else run_benchmark(args)
