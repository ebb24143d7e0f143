"""Temporary re-export for the parallel restructuring; removed at integration."""

from lgfn.training.distributed import (  # noqa: F401
    SHUFFLE_STREAM,
    DistributedContext,
    ShardedEpochSampler,
    any_process,
    barrier,
    init_distributed,
    shutdown,
)
