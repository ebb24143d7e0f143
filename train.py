"""Train LGFN: ``python train.py -c configs/vimeo_x4.yaml [--out DIR] [--resume] [--set k=v ...]``.

Several GPUs: ``torchrun --nproc_per_node=N train.py -c ...``. Everything is in
:mod:`lgfn.training` (the command: :mod:`lgfn.training.command`).
"""

import sys

from lgfn.console import run_main
from lgfn.training.command import main

if __name__ == "__main__":
    sys.exit(run_main(main))
