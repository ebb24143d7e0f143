"""``lgfn upscale`` with one process and under ``torchrun`` with several: output frames per second.

Runs the same command (a video output, the demo weights unless ``--ckpt``) once as one process with
every CPU thread and once per ``--processes`` count under torchrun, the threads split between the
processes, and prints the wall time of each whole command (start-up, model loading and the join
included), its frames per second, and whether the output file equals the one-process output.

    python scripts/benchmark_processes.py INPUT                   # a video or a folder of frames
    python scripts/benchmark_processes.py ../shared/data/clips/aspen_960x540/GT --reference --max-frames 24
    python scripts/benchmark_processes.py clip.mp4 --processes 2 4 --device cuda  # one GPU each

On GPUs each process takes the GPU of its local rank; on a CPU the processes share its cores, so
the gain comes only from work that one process leaves idle (decoding, encoding, the serial parts).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from lgfn.media import open_source

REPO = Path(__file__).resolve().parents[1]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("input", type=Path, help="a video file or a folder of frames")
    parser.add_argument("--ckpt", type=Path, default=REPO / "checkpoints" / "lgfn_x4_demo.pth")
    parser.add_argument("--processes", type=int, nargs="+", default=[2], help="torchrun counts to time [2]")
    parser.add_argument("--max-frames", type=int, default=24, help="frames to upscale [24]")
    parser.add_argument("--device", default="cpu", help="cpu or cuda [cpu]")
    parser.add_argument("--precision", default="auto", help="lgfn upscale's --precision [auto]")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="CPU threads in all [all]")
    parser.add_argument("--segment-frames", type=int, default=4, help="frames per segment [4]")
    parser.add_argument(
        "--reference", action="store_true", help="INPUT is ground truth: upscale its x4 bicubic downscaling"
    )
    return parser.parse_args()


def timed(command: list[str], threads: int) -> float:
    """Run ``command`` with ``threads`` threads per process; its wall time in seconds."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    env.pop("WORLD_SIZE", None)
    began = time.perf_counter()
    run = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"failed ({run.returncode}): {' '.join(command)}\n{run.stderr[-3000:]}")
    return time.perf_counter() - began


def same(output: Path, reference: Path) -> str:
    """``yes`` when the files are equal, else how far their decoded frames are apart."""
    if output.read_bytes() == reference.read_bytes():
        return "yes (the same file)"
    pairs = zip(open_source(output), open_source(reference), strict=True)
    diffs = [np.abs(a.astype(np.int16) - b).max() for a, b in pairs]
    unequal = sum(int(d > 0) for d in diffs)
    return f"no: {unequal} of {len(diffs)} decoded frames differ, by at most {max(diffs)} grey levels"


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory() as folder:
        upscale = [str(args.input), "--ckpt", str(args.ckpt), "--device", args.device, "--no-progress"]
        upscale += ["--precision", args.precision]
        upscale += ["--max-frames", str(args.max_frames), "--segment-frames", str(args.segment_frames)]
        upscale += ["--reference"] if args.reference else []
        reference = Path(folder) / "one.mp4"
        seconds = timed(
            [sys.executable, "-m", "lgfn", "upscale", *upscale, "-o", str(reference)], args.threads
        )
        print(
            f"input {args.input}, {args.max_frames} frames, {args.ckpt.name}, {args.device}, "
            f"--precision {args.precision}, {args.threads} threads"
        )
        print(f"{'processes':>9} {'threads each':>12} {'seconds':>8} {'frames/s':>9}  same output")
        print(f"{1:>9} {args.threads:>12} {seconds:>8.1f} {args.max_frames / seconds:>9.3f}  (the reference)")
        for count in args.processes:
            output = Path(folder) / f"{count}.mp4"
            launcher = [
                sys.executable,
                "-m",
                "torch.distributed.run",
                "--standalone",
                f"--nproc_per_node={count}",
            ]
            threads = max(1, args.threads // count) if args.device == "cpu" else args.threads
            seconds = timed([*launcher, "-m", "lgfn", "--", "upscale", *upscale, "-o", str(output)], threads)
            speed = args.max_frames / seconds
            print(f"{count:>9} {threads:>12} {seconds:>8.1f} {speed:>9.3f}  {same(output, reference)}")


if __name__ == "__main__":
    main()
