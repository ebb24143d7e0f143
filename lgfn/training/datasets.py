"""What a run trains and validates on: the training-dataset factory (and :data:`TRAIN_DATA_TYPES`, the
``data.type`` names it knows), the validation dataset, and the loader that feeds this process its
share of every global batch.

:mod:`lgfn.config` imports :data:`TRAIN_DATA_TYPES` from here, so this module imports the config only
for type checking.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch.utils.data import DataLoader

from lgfn.data.eval_datasets import EvalDataset
from lgfn.data.train_datasets import FrameFolderDataset, TrainingDataset, VideoFileDataset, Vimeo90KDataset
from lgfn.distributed import DistributedContext
from lgfn.errors import ConfigError, InputDataError, LGFNError
from lgfn.evaluation.datasets import CONFIG_NAMES, build_eval_dataset
from lgfn.training.distributed import ShardedEpochSampler
from lgfn.training.signals import ignore_stop_signals

if TYPE_CHECKING:
    from lgfn.config import ExperimentConfig

#: The ``data.type`` names :func:`build_train_dataset` knows: Vimeo-90K septuplets, folders of
#: frame folders, video files.
TRAIN_DATA_TYPES = ("vimeo90k", "frame_folders", "video_files")


def build_train_dataset(config: ExperimentConfig, cache_dir: Path) -> TrainingDataset:
    """The training dataset the ``data`` section describes (not yet prepared).

    Args:
        config: the experiment; ``model.scale`` and ``model.num_frames`` size the samples.
        cache_dir: the disk cache's folder when ``data.cache_dir`` is empty.

    Returns:
        The dataset of the ``data.type`` (one of :data:`TRAIN_DATA_TYPES`).

    Raises:
        ConfigError: a key the data type needs is missing.
    """
    data, model, seed = config.data, config.model, config.train.seed
    common = dict(
        scale=model.scale,
        num_frames=model.num_frames,
        lq_patch=data.lq_patch,
        augment=data.augment,
        seed=seed,
    )
    cache = dict(cache=data.cache, cache_dir=Path(data.cache_dir) if data.cache_dir else cache_dir)
    if data.type in ("vimeo90k", "frame_folders") and not data.root:
        raise ConfigError(f"data.root must name the training data folder for data.type {data.type}")
    lq_root = data.lq_root or None
    if data.type == "vimeo90k":
        return Vimeo90KDataset(data.root, data.list_file or None, lq_root, **common, **cache)
    if data.type == "frame_folders":
        return FrameFolderDataset(data.root, lq_root, **common, padding=data.padding, **cache)
    if not data.videos:
        raise ConfigError("data.videos must list at least one video (a path or sample:<name>)")
    return VideoFileDataset(data.videos, data.max_frames, **common, padding=data.padding)


def build_val_dataset(config: ExperimentConfig) -> EvalDataset | None:
    """The validation dataset the ``val`` section describes, or ``None`` when validation is off;
    :func:`~lgfn.evaluation.datasets.build_eval_dataset` finds its clips (folders scanned, videos
    decoded) now, so that a wrong ``val.root`` stops the run before it trains rather than when it
    first validates.

    Raises:
        ConfigError: a key the dataset needs is missing.
        InputDataError: the validation data is not there or not readable; the message names the
            ``val`` key that leads to it.
    """
    val = config.val
    if not val.dataset:
        return None
    try:
        return build_eval_dataset(
            val.dataset,
            val.root,
            config.model.scale,
            lr_root=val.lq_root,
            score=val.score or None,
            clips=val.clips,
            max_frames=val.max_frames,
            names=CONFIG_NAMES,
        )
    except InputDataError as exc:
        keys = (
            "val.clips" if val.dataset == "videos" else "val.root" + (" / val.lq_root" if val.lq_root else "")
        )
        raise InputDataError(f"validation data ({keys}): {exc}") from None


@dataclass(frozen=True)
class TrainingData:
    """This process's data: the training set, its sampler and loader, and (rank 0) the validation set.

    Attributes:
        dataset: the training samples, prepared.
        sampler: this process's share of each global batch, epoch by epoch.
        loader: batches ``{"lq": (b, t, 3, p, p), "gt": (b, 3, s*p, s*p), "key": [b]}`` of the
            sampler's items (``b`` the local batch).
        val_dataset: the validation set on rank 0 when validation is on, else ``None``.
    """

    dataset: TrainingDataset
    sampler: ShardedEpochSampler
    loader: DataLoader
    val_dataset: EvalDataset | None

    @classmethod
    def build(
        cls,
        config: ExperimentConfig,
        dist: DistributedContext,
        device: torch.device,
        global_batch: int,
        cache_dir: Path,
    ) -> TrainingData:
        """Prepare the datasets of ``config`` and the loader of this process.

        Args:
            config: the experiment (``data``, ``val``, ``train.seed``).
            dist: this process's place in the run.
            device: the training device (CUDA batches go through pinned memory).
            global_batch: samples per optimisation step over all processes.
            cache_dir: the disk cache's folder when ``data.cache_dir`` is empty.

        Raises:
            ConfigError: the data section is incomplete, or the dataset holds fewer samples than
                one global batch.
            InputDataError: the training or (rank 0) validation data is missing or unreadable.
        """
        val_dataset = build_val_dataset(config) if dist.is_main else None  # the quicker check first
        dataset = build_train_dataset(config, cache_dir)
        dataset.prepare()
        if len(dataset) < global_batch:
            raise ConfigError(
                f"{dataset.describe()}: {len(dataset)} samples, fewer than one global batch ({global_batch})"
            )
        sampler = ShardedEpochSampler(
            len(dataset), global_batch, dist.rank, dist.world_size, config.train.seed
        )
        workers = config.data.num_workers
        loader = DataLoader(
            dataset,
            batch_size=sampler.local_batch,
            sampler=sampler,
            num_workers=workers,
            pin_memory=device.type == "cuda",
            persistent_workers=workers > 0,
            prefetch_factor=4 if workers > 0 else None,
            worker_init_fn=ignore_stop_signals,
        )
        return cls(dataset, sampler, loader, val_dataset)

    def close(self) -> None:
        """Stop the loader's worker processes now (a no-op without workers, or before the first batch).

        Persistent workers otherwise live until the loader is garbage-collected, and one still alive
        when the interpreter exits hangs it: multiprocessing's exit handler sends its children SIGTERM,
        which loader workers ignore (:func:`~lgfn.training.signals.ignore_stop_signals`), and then
        waits for them while they wait for the main process to end. torch has no public call for
        this; its persistent iterator lives in ``DataLoader._iterator``.
        """
        iterator = getattr(self.loader, "_iterator", None)
        if iterator is not None:
            if hasattr(iterator, "_shutdown_workers"):
                iterator._shutdown_workers()
            self.loader._iterator = None

    def batches(self) -> Iterator[dict[str, Any]]:
        """The loader's batches of the sampler's current epoch; a user error raised in a loader worker
        keeps its one-line message."""
        iterator = iter(self.loader)
        while True:
            try:
                batch = next(iterator)
            except StopIteration:
                return
            except LGFNError as exc:
                raise type(exc)(_worker_error_message(exc)) from None
            yield batch


def _worker_error_message(exc: LGFNError) -> str:
    """The original message of an error that a DataLoader worker re-raised with its traceback."""
    text = str(exc)
    if "Original Traceback" not in text:
        return text
    last = [line for line in text.splitlines() if line.strip()][-1]
    prefix = f"{type(exc).__module__}.{type(exc).__qualname__}: "
    return last[len(prefix) :] if last.startswith(prefix) else last
