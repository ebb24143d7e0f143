"""Evaluate LGFN (or the bicubic baseline) with the paper's protocol: ``python test.py [options]``.

With no arguments: LGFN against bicubic on the bundled sample clip. Benchmarks::

    python test.py --dataset vid4 --data-root data/Vid4 --ckpt lgfn.pth

Where to get the datasets and the authors' weights: data/README.md.

Options: ``python test.py --help``. Everything is in :mod:`lgfn.cli.evaluate`.
"""

import sys

from lgfn.cli.console import run_main
from lgfn.cli.evaluate import main

if __name__ == "__main__":
    sys.exit(run_main(main))
