"""Print LGFN's parameters and multiply-accumulates per output frame, by component.

python scripts/model_stats.py                        # the paper's model, 180x144 LR frames
python scripts/model_stats.py --lr-size 36x44 --set num_features=32 num_rcab=5
"""

from __future__ import annotations

import argparse
import sys

from lgfn.cli.console import parse_size, run_main
from lgfn.cli.steps import step
from lgfn.config import ModelConfig, parse_model_overrides
from lgfn.errors import ConfigError
from lgfn.models import LGFN
from lgfn.stats import count_macs, count_parameters


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--lr-size", type=parse_size, default=(144, 180), help="LR frame HxW (default 144x180)"
    )
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--frames", type=int, default=7)
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="other LGFNConfig fields")
    args = parser.parse_args(argv)
    try:
        config = ModelConfig(
            scale=args.scale, num_frames=args.frames, **parse_model_overrides(args.set)
        ).architecture()
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc)) from exc
    model = LGFN.from_config(config).eval()
    h, w = args.lr_size
    params = count_parameters(model)
    # One forward pass on a CPU: about a minute for the paper's network at 180x144.
    with step(f"counting multiply-accumulates: one forward pass of {config.num_frames} frames of {w}x{h}"):
        macs = count_macs(model, h, w)
    pixels = h * w

    print(f"LGFN x{config.scale}, {config.num_frames} frames, {config.num_features} features; LR {w}x{h} -> "
          f"{w * config.scale}x{h * config.scale}, per output frame")  # fmt: skip

    def row(name: str, n_params: int | None, n_macs: int) -> None:
        shown = f"{n_params:,}" if n_params is not None else ""
        print(f"{name:<22}{shown:>12}{n_macs / 1e9:>12.2f}{n_macs / pixels / 1e6:>13.2f}M")

    print(f"{'component':<22}{'params':>12}{'GMACs':>12}{'MACs/LR px':>14}")
    for name, n_params in params.items():
        if name != "total":
            row(name, n_params, macs.conv.get(name, 0))
    row("total (convolutions)", params["total"], macs.conv_total)
    row("deformable conv sums", None, macs.deform)
    row("deformable sampling", None, macs.sampling)
    everything = macs.conv_total + macs.deform + macs.sampling
    print(f"all: {everything / 1e9:.2f} GMACs = {2 * everything / 1e12:.3f} TFLOP per output frame")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
