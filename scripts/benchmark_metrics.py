"""Time the evaluation's exact pieces on one frame: MATLAB bicubic x4 down and up, PSNR, SSIM.

python scripts/benchmark_metrics.py                   # a 720x576 frame (Vid4 calendar size), 7 repeats
python scripts/benchmark_metrics.py --size 1080x1920 --repeats 3 --torch
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
import torch

from lgfn.cli.console import parse_size, run_main
from lgfn.data.degradations import bi_degrade, bicubic_upscale
from lgfn.data.resize import imresize
from lgfn.metrics import calculate_psnr_ssim, psnr, ssim


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``fn()`` in milliseconds, after one untimed warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000.0 * statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--size",
        type=functools.partial(parse_size, order="WxH"),
        default=(576, 720),
        help="HR frame size WxH (default 720x576)",
    )
    parser.add_argument("--repeats", type=int, default=7, help="timed repeats; the median is printed")
    parser.add_argument("--torch", action="store_true", help="also time imresize on a float32 tensor")
    args = parser.parse_args(argv)

    h, w = args.size
    h, w = h - h % 4, w - w % 4
    # A textured, deterministic frame: timings do not depend on content, but it keeps scores sane.
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:h, 0:w]
    smooth = 128 + 80 * np.sin(xx / 9.0)[..., None] * np.cos(yy / 13.0)[..., None]
    hr = np.clip(smooth + rng.normal(0, 8, (h, w, 3)), 0, 255).astype(np.uint8)
    lr = bi_degrade(hr, 4)
    sr = bicubic_upscale(lr, 4)

    rows = [
        ("imresize down x4 (uint8 -> uint8)", lambda: imresize(hr, 0.25, round_uint8=True)),
        ("imresize up x4 (uint8 -> uint8)", lambda: imresize(lr, 4.0, round_uint8=True)),
        ("PSNR (luma)", lambda: psnr(sr, hr)),
        ("SSIM (luma)", lambda: ssim(sr, hr)),
        ("PSNR + SSIM (calculate_psnr_ssim)", lambda: calculate_psnr_ssim(sr, hr)),
    ]
    if args.torch:
        hr_t = torch.from_numpy(hr).permute(2, 0, 1).float().div(255).unsqueeze(0)
        lr_t = torch.from_numpy(lr).permute(2, 0, 1).float().div(255).unsqueeze(0)
        rows += [
            ("imresize down x4 (torch float32, CPU)", lambda: imresize(hr_t, 0.25)),
            ("imresize up x4 (torch float32, CPU)", lambda: imresize(lr_t, 4.0)),
        ]
    threads = torch.get_num_threads()
    print(f"HR frame {w}x{h}, LR {w // 4}x{h // 4}; median of {args.repeats} runs; torch threads {threads}")
    for name, fn in rows:
        print(f"{name:40s} {median_ms(fn, args.repeats):8.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
