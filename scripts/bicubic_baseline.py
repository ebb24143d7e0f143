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

import numpy as np
from tqdm import tqdm

from lgfn.console import run_main
from lgfn.data.degradations import bicubic_upscale, crop_to_multiple, degrade
from lgfn.data.io import list_frames, read_image
from lgfn.errors import InputDataError
from lgfn.metrics import calculate_psnr_ssim


def score_clip(
    frames: list[Path], scale: int, degradation: str, skip_ends: bool, crop_border: int
) -> tuple[float, float]:
    """Mean luma PSNR and SSIM of the Bicubic baseline over one clip's scored frames.

    Args:
        frames: the clip's ground-truth frame files in order.
        scale: integer upscaling factor.
        degradation: ``"bi"`` or ``"bd"``.
        skip_ends: leave the first and last frame out of the means (the Vid4 protocol).
        crop_border: pixels removed from each side before scoring.

    Returns:
        ``(mean_psnr_db, mean_ssim)``.
    """
    scored = frames[1:-1] if skip_ends else frames
    if not scored:
        raise InputDataError(f"{frames[0].parent}: too few frames to leave out the first and last")
    psnrs, ssims = [], []
    for path in scored:
        gt = crop_to_multiple(read_image(path), scale)
        sr = bicubic_upscale(degrade(gt, scale, degradation), scale)
        p, s = calculate_psnr_ssim(sr, gt, crop_border=crop_border)
        psnrs.append(p)
        ssims.append(s)
    return float(np.mean(psnrs)), float(np.mean(ssims))


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
        "--all-frames", action="store_true", help="also score each clip's first and last frame"
    )
    parser.add_argument("--crop-border", type=int, default=0)
    args = parser.parse_args(argv)

    if not args.gt_root.is_dir():
        raise InputDataError(f"ground-truth root not found: {args.gt_root} (expected one folder per clip)")
    clips = sorted(p for p in args.gt_root.iterdir() if p.is_dir())
    if not clips:
        raise InputDataError(f"no clip folders in {args.gt_root}")
    start = time.perf_counter()
    results = {}
    for clip in tqdm(clips, desc="clips", unit="clip"):
        results[clip.name] = score_clip(
            list_frames(clip), args.scale, args.degradation, not args.all_frames, args.crop_border
        )
    print(f"Bicubic x{args.scale}, {args.degradation.upper()}, luma PSNR (dB) / SSIM")
    for name, (p, s) in results.items():
        print(f"{name:20s} {p:6.2f} / {s:.4f}    ({p:.4f} / {s:.5f})")
    mean_p = float(np.mean([p for p, _ in results.values()]))
    mean_s = float(np.mean([s for _, s in results.values()]))
    print(f"{'average':20s} {mean_p:6.2f} / {mean_s:.4f}    ({mean_p:.4f} / {mean_s:.5f})")
    print(f"{time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
