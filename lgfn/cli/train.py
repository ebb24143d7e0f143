"""The ``train.py`` command: its arguments, and the run they describe."""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from lgfn.cli.console import setup_logging
from lgfn.config import load_config
from lgfn.errors import LGFNError
from lgfn.files import DISK_FULL
from lgfn.training.run_record import default_run_folder
from lgfn.training.trainer import Trainer


def build_arg_parser() -> argparse.ArgumentParser:
    """The options of ``train.py``."""
    parser = argparse.ArgumentParser(
        prog="train.py",
        description="Train LGFN. Multi-GPU: torchrun --nproc_per_node=N train.py -c CONFIG ...",
    )
    parser.add_argument("-c", "--config", required=True, help="experiment YAML file (see configs/)")
    parser.add_argument(
        "--out", help="run folder (default: runs/<config name>; for a run folder's config.yaml, that folder)"
    )
    parser.add_argument("--resume", action="store_true", help="continue from <run folder>/latest.pth")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override a config value, e.g. --set train.lr=2e-4 (repeatable; the value is YAML)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``train.py``: parse arguments, load the config and train.

    Args:
        argv: the arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit status (0); errors propagate for :func:`lgfn.cli.console.run_main` to report.
    """
    args = build_arg_parser().parse_args(argv)
    setup_logging(args.verbose)
    if int(os.environ.get("RANK", "0")) != 0:
        logging.getLogger().setLevel(logging.WARNING)  # one process speaks for the run
    config = load_config(args.config, args.overrides)
    run_dir = Path(args.out) if args.out else default_run_folder(Path(args.config), config)
    try:
        Trainer.build(config, run_dir, resume=args.resume).fit()
    except OSError as exc:
        if exc.errno not in DISK_FULL:
            raise
        raise LGFNError(
            f"cannot write to the run folder {run_dir}: the disk is full ({exc.filename or run_dir}: "
            f"{exc.strerror}); free some space, then run the same command with --resume to continue "
            "from the last saved checkpoint"
        ) from None
    return 0
