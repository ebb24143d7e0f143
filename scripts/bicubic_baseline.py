"""Score the Bicubic baseline of a folder of clips: degrade each ground-truth frame, upscale it back
with MATLAB bicubic, and report luma PSNR/SSIM per clip and the average of the clip means.

This needs no network, so it checks the data + metric pipeline on its own: on Vid4 (BI x4, every
frame but each clip's first and last) it reproduces the paper's Bicubic row.

python scripts/bicubic_baseline.py ../shared/data/Vid4/GT           # BI x4, Vid4 protocol
python scripts/bicubic_baseline.py GT_ROOT --degradation bd --all-frames --crop-border 8

GT_ROOT holds one folder of frames per clip:

    GT_ROOT/
        calendar/00000000.png ...
        city/00000000.png ...
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from lgfn.cli.console import run_main
from lgfn.errors import InputDataError
from lgfn.evaluation.datasets import build_eval_dataset
from lgfn.evaluation.evaluator import evaluate
from lgfn.inference import BicubicUpscaler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "gt_root", type=Path, help="folder with one sub-folder of ground-truth frames per clip"
    )
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--degradation", choices=("bi", "bd"), default="bi")
    parser.add_argument(
        "--all-frames",
        "--score-all-frames",
        action="store_true",
        help="also score each clip's first and last frame",
    )
    parser.add_argument("--crop-border", type=int, default=0)
    args = parser.parse_args(argv)

    # Checked here so that the messages speak of this script's argument, not of a dataset option.
    if not args.gt_root.is_dir():
        raise InputDataError(f"ground-truth root not found: {args.gt_root} (expected one folder per clip)")
    if not any(p.is_dir() for p in args.gt_root.iterdir()):
        raise InputDataError(f"no clip folders in {args.gt_root}")
    dataset = build_eval_dataset(
        "folder",
        args.gt_root,
        args.scale,
        degradation=args.degradation,
        score="all" if args.all_frames else "inner",
    )
    start = time.perf_counter()
    report = evaluate(dataset, BicubicUpscaler(args.scale), crop_border=args.crop_border, method="bicubic")
    print(f"Bicubic x{args.scale}, {args.degradation.upper()}, luma PSNR (dB) / SSIM")
    for name, clip in [*report["clips"].items(), ("average", report["average"])]:
        p, s = clip["psnr"], clip["ssim"]
        print(f"{name:20s} {p:6.2f} / {s:.4f}    ({p:.4f} / {s:.5f})")
    print(f"{time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
