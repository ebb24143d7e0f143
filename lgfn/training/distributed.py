"""Multi-process training: which samples each process loads.

The process group itself (joined from torchrun's environment, shared with sharded evaluation) is
:mod:`lgfn.distributed`.

:class:`ShardedEpochSampler` decides which samples each process loads: one shuffled order per epoch,
cut into global batches, each global batch split evenly over the processes. Because the order and
every sample's random crop depend only on the seed, the epoch and the sample (never on the number
of processes or loader workers), N processes with a global batch B see exactly the samples that
one process with batch B sees, and a run resumed part-way through an epoch continues with the
batches it would have seen.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from torch.utils.data import Sampler

#: Tag mixed into the sampler's seed so its stream never coincides with the per-sample streams.
SHUFFLE_STREAM = 1


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
