"""Where this process trains: its place in the process group, its device and torch settings, and the
global batch and learning rate that follow from the number of processes."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from lgfn import distributed
from lgfn.devices import check_precision_on, resolve_device
from lgfn.distributed import DistributedContext
from lgfn.errors import ConfigError

if TYPE_CHECKING:
    from lgfn.config import ExperimentConfig


#: ``train.num_threads`` and ``data.num_workers`` may be at most this many times the machine's CPU
#: cores: more only makes them wait for each other (and a million would exhaust the machine).
PER_CORE_LIMIT = 4


@dataclass(frozen=True)
class TrainingProcess:
    """This process's share of a run.

    Attributes:
        dist: its place in the (possibly single-process) process group.
        device: where it trains (its own GPU under torchrun).
        global_batch: samples per optimisation step over all processes.
        lr: the learning rate (scaled with the world size when ``train.scale_lr`` asks).
    """

    dist: DistributedContext
    device: torch.device
    global_batch: int
    lr: float


def start_process(config: ExperimentConfig) -> TrainingProcess:
    """Join the process group (under torchrun), pick the device and torch's settings for it.

    Args:
        config: the experiment (``train`` and ``val.precision``).

    Returns:
        The process; call :func:`lgfn.distributed.shutdown` with its ``dist`` when done.

    Raises:
        ConfigError: a precision the device cannot run, or a global batch that does not split
            evenly over the processes (the process group is left again first).
        LGFNError: the device is not available.
    """
    cfg = config.train
    check_process_counts(config)
    # The device type picks the process group's backend; the GPU index comes from the group.
    device_type = resolve_device(cfg.device, option="train.device").type
    dist = distributed.init_distributed(device_type)
    try:
        device = resolve_device(device_type, dist.local_rank, option="train.device")
        for key, precision in (("train", cfg.precision), ("val", config.val.precision)):
            check_precision_on(device, precision, option=f"{key}.precision")
        global_batch = cfg.batch_size * dist.world_size if cfg.batch_per_gpu else cfg.batch_size
        if global_batch % dist.world_size:
            raise ConfigError(
                f"train.batch_size {cfg.batch_size} (global) does not split evenly over "
                f"{dist.world_size} processes"
            )
    except BaseException:
        distributed.shutdown(dist)
        raise
    _set_torch_options(device, cfg.num_threads)
    lr = cfg.lr * dist.world_size if (cfg.batch_per_gpu and cfg.scale_lr) else cfg.lr
    return TrainingProcess(dist, device, global_batch, lr)


def check_process_counts(config: ExperimentConfig) -> None:
    """Refuse more torch threads or loader processes than :data:`PER_CORE_LIMIT` per CPU core.

    Raises:
        ConfigError: naming the key, its value and the limit on this machine.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    limit = PER_CORE_LIMIT * cores
    counts = (
        ("train.num_threads", config.train.num_threads, "0: torch's default"),
        ("data.num_workers", config.data.num_workers, "0: load in the training process"),
    )
    for key, value, zero in counts:
        if value > limit:
            raise ConfigError(
                f"{key} = {value} is more than {PER_CORE_LIMIT} per CPU core of this machine ({cores} "
                f"cores): use at most {limit} ({zero})"
            )


def _set_torch_options(device: torch.device, num_threads: int) -> None:
    """Torch's process-wide settings for training on ``device`` with ``num_threads`` (0: default)."""
    if num_threads:
        torch.set_num_threads(num_threads)
    if device.type == "cpu":
        # Denormal floats (which small weights and gradients can become) are handled 10-100x
        # slower by CPUs; flushing them to zero costs nothing measurable in accuracy.
        torch.set_flush_denormal(True)
    if device.type == "cuda":
        # Fixed patch sizes: let cuDNN pick the fastest convolution algorithms once.
        torch.backends.cudnn.benchmark = True
