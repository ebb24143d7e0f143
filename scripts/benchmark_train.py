"""Training speed and memory of LGFN in the paper's configuration.

Runs the trainer's own optimisation step (:meth:`lgfn.training.optimisation.Optimisation.step`: forward,
L1 loss, backward, gradient norm, Adam) on random batches of the paper's shape, by default the full
network, batch 8, 7 LR frames of 48x48 (HR 192x192), and prints iterations per second, the time of
one epoch of Vimeo-90K (64,612 septuplets: 8,076 iterations of 8) and of the whole schedule, and
the peak memory.

    python scripts/benchmark_train.py                          # CPU if no GPU: 1 warm-up + 2 timed
    python scripts/benchmark_train.py --device cuda --iterations 20 --precision bf16
    python scripts/benchmark_train.py --set train.batch_size=4 --set model.num_features=32

Peak memory is the CUDA allocator's peak on a GPU and the process's peak resident set on CPU.
Data loading is not included (random tensors already in memory).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from lgfn.cli.console import run_main, setup_logging
from lgfn.cli.steps import step
from lgfn.config import load_config
from lgfn.devices import device_peak_mib
from lgfn.models import LGFN
from lgfn.stats import count_macs
from lgfn.training.optimisation import Optimisation
from lgfn.training.process import start_process

REPO = Path(__file__).resolve().parents[1]
#: Septuplets in Vimeo-90K's training list (one epoch).
VIMEO_TRAIN_SAMPLES = 64612


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-c", "--config", default=str(REPO / "configs" / "vimeo_x4.yaml"))
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    parser.add_argument("--iterations", type=int, default=None, help="timed iterations (CPU 2, CUDA 20)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed iterations first (CPU 1, CUDA 5)")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON line")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging()
    overrides = [
        f"train.device={args.device}",
        f"train.precision={args.precision}",
        f"train.num_threads={args.threads}",
        *args.overrides,
    ]
    config = load_config(args.config, overrides)
    process = start_process(config)
    iterations_per_epoch = VIMEO_TRAIN_SAMPLES // process.global_batch
    optimisation = Optimisation.build(config, process, iterations_per_epoch)
    device = process.device
    cuda = device.type == "cuda"
    warmup = args.warmup if args.warmup is not None else (5 if cuda else 1)
    iterations = args.iterations if args.iterations is not None else (20 if cuda else 2)

    m, p, b = config.model, config.data.lq_patch, process.global_batch
    generator = torch.Generator().manual_seed(0)
    batch = {
        "lq": torch.rand(b, m.num_frames, 3, p, p, generator=generator),
        "gt": torch.rand(b, 3, p * m.scale, p * m.scale, generator=generator),
        "key": [f"random/{i}" for i in range(b)],
    }
    if cuda:
        batch = {k: v.pin_memory() if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
        torch.cuda.reset_peak_memory_stats(device)

    with step(f"{warmup} warm-up iteration(s), untimed"):
        for _ in range(warmup):
            optimisation.step(batch)
    if cuda:
        torch.cuda.synchronize(device)
    with step(f"{iterations} timed iteration(s)"):
        start = time.perf_counter()
        for _ in range(iterations):
            optimisation.step(batch)
        if cuda:
            torch.cuda.synchronize(device)
        seconds = (time.perf_counter() - start) / iterations

    with step("counting multiply-accumulates"):
        macs = count_macs(LGFN.from_config(m), p, p)
    forward_flop = 2 * (sum(macs.conv.values()) + macs.deform) * b
    result = {
        "device": torch.cuda.get_device_name(device) if cuda else f"cpu ({torch.get_num_threads()} threads)",
        "precision": args.precision,
        "batch": b,
        "lq_patch": p,
        "frames": m.num_frames,
        "parameters": sum(q.numel() for q in optimisation.model.parameters()),
        "seconds_per_iteration": seconds,
        "iterations_per_second": 1 / seconds,
        "samples_per_second": b / seconds,
        # Training is about three forward passes (forward, and backward for inputs and weights).
        "training_tflop_per_second": 3 * forward_flop / seconds / 1e12,
        "peak_memory_mib": device_peak_mib(device),
        "vimeo_epoch_hours": seconds * iterations_per_epoch / 3600,
        "paper_schedule_days": seconds * iterations_per_epoch * config.train.epochs / 86400,
        "timed_iterations": iterations,
        "skipped_steps": optimisation.skipped_steps,
    }
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:28s} {value:.4g}" if isinstance(value, float) else f"{key:28s} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
