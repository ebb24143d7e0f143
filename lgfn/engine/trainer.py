"""Temporary re-export for the parallel restructuring; removed at integration."""

from lgfn.training.command import build_arg_parser, main  # noqa: F401
from lgfn.training.datasets import build_train_dataset, build_val_dataset  # noqa: F401
from lgfn.training.losses import charbonnier_loss  # noqa: F401
from lgfn.training.resume import capture_rng_states, restore_rng_states  # noqa: F401
from lgfn.training.trainer import Trainer  # noqa: F401
