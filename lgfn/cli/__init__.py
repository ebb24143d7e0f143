"""The command line: the ``lgfn`` command (also ``python -m lgfn``) and ``python test.py``.

- ``lgfn upscale INPUT [INPUT ...] -o OUTPUT`` (:mod:`lgfn.cli.upscale`): super-resolve video files
  or folders of frames. See ``lgfn upscale --help``.
- ``lgfn export CKPT -o model.onnx`` (:mod:`lgfn.cli.export`): a checkpoint as an ONNX file, which
  ``lgfn upscale --onnx`` and ``test.py --onnx`` run in ONNX Runtime.
- ``python test.py`` (:mod:`lgfn.cli.evaluate`): evaluate LGFN or bicubic with the paper's protocol.
- :mod:`lgfn.cli.options`: the options several commands share, declared once, with one error path.
- :mod:`lgfn.cli.console`: logging set-up and the one-line handling of user errors.

Each ``lgfn`` subcommand is a module with ``add_parser(subparsers)``, which declares its options, and
``run(args)``, which runs it; add new ones to :data:`COMMANDS`. User errors (bad input, existing
output, bad option values) print one ``error: ...`` line and exit with status 2; Ctrl-C exits with
130 and leaves no partial output under the output's name (finished frames wait beside it for
``--resume``).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from types import ModuleType

import lgfn
from lgfn.cli import export, upscale
from lgfn.cli.console import run_main, setup_logging
from lgfn.cli.options import CommandParser

#: Subcommand name -> its module (with ``add_parser`` and ``run``).
COMMANDS: dict[str, ModuleType] = {"upscale": upscale, "export": export}


def build_parser() -> argparse.ArgumentParser:
    """The ``lgfn`` parser with every subcommand of :data:`COMMANDS`."""
    description = "LGFN video super-resolution (Su et al., IEEE Access 2020)."
    parser = CommandParser(prog="lgfn", description=description)
    parser.add_argument("--version", action="version", version=f"lgfn {lgfn.__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debugging details")
    subparsers = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=CommandParser
    )
    for command in COMMANDS.values():
        command.add_parser(subparsers)
    return parser


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    return COMMANDS[args.command].run(args)


def main(argv: Sequence[str] | None = None) -> int:
    """The ``lgfn`` console entry point: parse ``argv`` (default ``sys.argv[1:]``) and run the subcommand.

    Returns:
        The exit status: 0 on success, 2 for a user error (printed as one ``error:`` line), 130
        after Ctrl-C.
    """
    try:
        return run_main(_main, argv)
    except SystemExit as exc:  # --help and --version exit through argparse
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
