"""Slim a training checkpoint down to what inference needs: configuration and weights.

    python scripts/export_checkpoint.py runs/demo_cpu_x4_more/final.pth checkpoints/lgfn_x4_demo.pth
    python scripts/export_checkpoint.py runs/vimeo_x4/best.pth lgfn_x4.pth --half
    python scripts/export_checkpoint.py checkpoints/lgfn_x4_demo.pth checkpoints/lgfn_x4_demo.safetensors

The optimiser, schedule and RNG states are dropped; ``--half`` stores the weights in float16
(loaded back as float32). The deformable-convolution backend a run trained with (e.g.
``grid_sample``, faster to train on a CPU) is not part of the weights: the slim file records the
default one, ``torchvision``, which needs nothing compiled. A DEST ending in ``.safetensors`` is written
in that format (the configuration, iteration and note in its metadata), any other as a torch file.
The result loads with ``lgfn.load_model``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import lgfn
from lgfn.checkpoint import load_checkpoint
from lgfn.cli.console import run_main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("source", type=Path, help="a training checkpoint (latest.pth, best.pth, final.pth)")
    parser.add_argument("dest", type=Path, help="where to write the slim checkpoint (.pth or .safetensors)")
    parser.add_argument("--half", action="store_true", help="store the weights as float16")
    parser.add_argument(
        "--note", default=None, help="a free-text note stored in the file [the source's note, if any]"
    )
    args = parser.parse_args(argv)
    model = lgfn.load_model(args.source)
    raw = load_checkpoint(args.source)
    note = str(raw.get("note", "")) if args.note is None else args.note
    extra = {"iteration": int(raw.get("iteration", 0)), "note": note}
    if args.half:
        model = model.half()
    lgfn.save_checkpoint(args.dest, model, extra=extra)
    size = args.dest.stat().st_size / 2**20
    params = sum(p.numel() for p in model.parameters())
    print(f"wrote {args.dest}: {params:,} parameters, iteration {extra['iteration']}, {size:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
