"""Train LGFN: ``python train.py -c configs/vimeo_x4.yaml [--out DIR] [--resume] [--set k=v ...]``.

Several GPUs: ``torchrun --nproc_per_node=N train.py -c ...``. The command is :mod:`lgfn.cli.train`;
the training itself is :mod:`lgfn.training`.
"""

import sys

from lgfn.cli.console import run_main
from lgfn.cli.train import main

if __name__ == "__main__":
    sys.exit(run_main(main))
