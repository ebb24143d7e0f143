"""The process group of a run that torchrun started: one process or many, CPU (Gloo) or GPUs (NCCL).

``torchrun --nproc_per_node=N train.py ...`` (or ``test.py``) starts N processes and tells each its
place through environment variables (``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``,
``MASTER_PORT``). :func:`init_distributed` joins the process group when ``WORLD_SIZE`` > 1 and is a
no-op otherwise, so the same code runs with one process or many, on one machine or several. The
collectives below are local no-ops with one process.

Training (:mod:`lgfn.training`) shards every batch; evaluation (:mod:`lgfn.evaluation.sharding`)
shards the clips.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


def launched_world_size() -> int:
    """The number of processes torchrun started (``WORLD_SIZE``; 1 when not under torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


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
            the other ranks wait while rank 0 validates (training) or while the
            slowest process finishes its clip (evaluation).

    Returns:
        The context; ``world_size`` 1 when ``WORLD_SIZE`` is unset or 1.
    """
    world_size = launched_world_size()
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


def all_gather_objects(value: Any, context: DistributedContext) -> list[Any]:
    """Every process's ``value`` (picklable), in rank order, on every process.

    Values travel pickled, so floats arrive bit-identical (unlike a reduction of tensors).

    Args:
        value: this process's contribution.
        context: the process group.

    Returns:
        ``world_size`` values; ``[value]`` with one process.
    """
    if not context.enabled:
        return [value]
    values: list[Any] = [None] * context.world_size
    dist.all_gather_object(values, value)
    return values


def broadcast_object(value: Any, context: DistributedContext) -> Any:
    """Rank 0's ``value`` (picklable) on every process; the others' ``value`` is ignored."""
    if not context.enabled:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]
