"""Multi-process training: process-group set-up from torchrun's environment and batch sharding.

``torchrun --nproc_per_node=N train.py ...`` starts N processes and tells each its place through
environment variables (``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``).
:func:`init_distributed` joins the process group when ``WORLD_SIZE`` > 1 (NCCL on GPUs, Gloo on CPU)
and is a no-op otherwise, so the same code runs with one process or many, on one machine or several.

:class:`ShardedEpochSampler` decides which samples each process loads: one shuffled order per epoch,
cut into global batches, each global batch split evenly over the processes. Because the order and
every sample's random crop depend only on the seed, the epoch and the sample (never on the number
of processes or loader workers), N processes with a global batch B see exactly the samples that
one process with batch B sees, and a run resumed part-way through an epoch continues with the
batches it would have seen.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import Sampler

#: Tag mixed into the sampler's seed so its stream never coincides with the per-sample streams.
SHUFFLE_STREAM = 1


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands in a (possibly single-process) run.

    Attributes:
        rank: global index of this process, ``0 .. world_size-1``.
        local_rank: index of this process on its machine (selects its GPU).
        world_size: number of processes.
    """

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that logs and writes files."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        """More than one process, joined in a process group."""
        return self.world_size > 1


def init_distributed(device_type: str, timeout_minutes: float = 60.0) -> DistributedContext:
    """Join the process group that torchrun describes in the environment, if there is one.

    Args:
        device_type: ``"cuda"`` (NCCL backend, and this process's GPU becomes ``LOCAL_RANK``) or
            ``"cpu"`` (Gloo backend).
        timeout_minutes: how long a collective may wait for the other processes; generous because
            the other ranks wait at a barrier while rank 0 validates.

    Returns:
        The context; ``world_size`` 1 when ``WORLD_SIZE`` is unset or 1.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistributedContext()
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device_type == "cuda":
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(
            backend="nccl" if device_type == "cuda" else "gloo",
            init_method="env://",
            timeout=datetime.timedelta(minutes=timeout_minutes),
        )
    return DistributedContext(rank=rank, local_rank=local_rank, world_size=world_size)


def barrier(context: DistributedContext) -> None:
    """Wait for every process (no-op with one process)."""
    if context.enabled:
        dist.barrier()


def any_process(flag: bool, context: DistributedContext, device: torch.device) -> bool:
    """True on every process when ``flag`` is true on at least one of them."""
    if not context.enabled:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item() > 0)


def shutdown(context: DistributedContext) -> None:
    """Leave the process group, if this process joined one."""
    if context.enabled and dist.is_initialized():
        dist.destroy_process_group()


class ShardedEpochSampler(Sampler[tuple[int, int]]):
    """This process's share of every global batch, in a shuffled order fixed by (seed, epoch).

    Each epoch shuffles the ``num_samples`` indices with a generator seeded by ``(seed, epoch)``
    and cuts the order into ``num_samples // global_batch`` global batches (the remainder is left
    out, so no sample appears twice in an epoch). Process ``rank`` takes the ``rank``-th of the
    ``world_size`` equal slices of each global batch. Items are ``(index, epoch)`` pairs: the
    dataset derives the sample's random crop and flips from them.

    Args:
        num_samples: length of the dataset.
        global_batch: samples per optimisation step over all processes.
        rank: this process's rank.
        world_size: number of processes; must divide ``global_batch``.
        seed: the run's seed.
    """

    def __init__(self, num_samples: int, global_batch: int, rank: int, world_size: int, seed: int) -> None:
        if global_batch % world_size:
            raise ValueError(f"global batch {global_batch} does not split evenly over {world_size} processes")
        if num_samples < global_batch:
            raise ValueError(f"{num_samples} training samples are fewer than one batch of {global_batch}")
        self.num_samples = num_samples
        self.global_batch = global_batch
        self.local_batch = global_batch // world_size
        self.rank = rank
        self.seed = seed
        self.epoch = 0
        self.start_batch = 0

    @property
    def batches_per_epoch(self) -> int:
        """Optimisation steps in one epoch."""
        return self.num_samples // self.global_batch

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        """Select the epoch to iterate, starting at its ``start_batch``-th batch (to resume)."""
        if not 0 <= start_batch < self.batches_per_epoch:
            raise ValueError(f"start batch {start_batch} outside 0..{self.batches_per_epoch - 1}")
        self.epoch = epoch
        self.start_batch = start_batch

    def epoch_order(self, epoch: int) -> np.ndarray:
        """The shuffled sample indices of ``epoch`` (all of them; the remainder is dropped later)."""
        rng = np.random.default_rng([self.seed, SHUFFLE_STREAM, epoch])
        return rng.permutation(self.num_samples)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        order = self.epoch_order(self.epoch)
        for batch in range(self.start_batch, self.batches_per_epoch):
            first = batch * self.global_batch + self.rank * self.local_batch
            for index in order[first : first + self.local_batch]:
                yield int(index), self.epoch

    def __len__(self) -> int:
        return (self.batches_per_epoch - self.start_batch) * self.local_batch
