"""The training engine: the paper's recipe, one process or many, with exact resume.

``python train.py -c configs/vimeo_x4.yaml`` (or ``torchrun --nproc_per_node=N train.py ...``)
builds a :class:`Trainer` from an :class:`~lgfn.config.ExperimentConfig` and runs it:

- Adam and a step schedule counted in epochs (one epoch = one pass over the training samples,
  ``len(dataset) // global_batch`` iterations), stepped every iteration so a run can stop and
  resume at any iteration; L1 loss (Charbonnier optional); optional gradient clipping; mixed
  precision on CUDA (bf16, or fp16 with a gradient scaler).
- Several processes (torchrun): DistributedDataParallel, each process loading its slice of every
  global batch (:class:`~lgfn.engine.distributed.ShardedEpochSampler`). The config's batch is the
  global batch, so the results do not depend on the number of processes.
- A loss or gradient that is not finite skips the optimiser step on every process (the weights and
  the optimiser state stay as they were), with a warning; skipped steps are counted.
- Ctrl-C (SIGINT) or SIGTERM (a scheduler's preemption) stops the run after the iteration in
  progress, on every process at the same iteration, and saves ``latest.pth`` there, so ``--resume``
  loses nothing; a second Ctrl-C stops at once.
- Rank 0 alone writes the run folder::

      RUN/
        config.yaml        the resolved configuration (loads with -c)
        git_revision.txt   the code's git revision ("unknown" outside a repository)
        train.log          the log
        metrics.jsonl      one JSON object per training log line and per validation
        validation.csv     iteration, epoch, psnr, ssim of every validation
        tensorboard/       loss, learning rate, speed, PSNR, SSIM, SR | GT crops
        latest.pth         everything needed to resume (--resume)
        iter_<n>.pth       the last ``train.keep_last`` resumable checkpoints (optional)
        best.pth           the weights with the best validation PSNR
        final.pth          the weights at the end

  ``best.pth`` and ``final.pth`` load with :func:`lgfn.load_model`.

Exact resume: the checkpoint holds the model, optimiser, schedule (and gradient scaler) states,
the iteration, the RNG states and the best score; the data order and every random crop are
functions of (seed, epoch, sample), so a resumed run sees the batches the uninterrupted run would
have seen and ends with the same weights (bit for bit on CPU; on GPUs some kernels, such as the
deformable convolution's backward pass, are not deterministic).
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import logging
import math
import os
import random
import shutil
import signal
import subprocess
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

import lgfn
from lgfn.checkpoint import check_state_dict, load_checkpoint, save_checkpoint, split_checkpoint
from lgfn.config import ExperimentConfig, load_config, save_config
from lgfn.console import setup_logging
from lgfn.data.eval_datasets import (
    EvalDataset,
)
from lgfn.data.train_datasets import (
    FrameFolderDataset,
    TrainingDataset,
    VideoFileDataset,
    Vimeo90KDataset,
)
from lgfn.devices import autocast, resolve_device
from lgfn.engine import distributed
from lgfn.engine.evaluator import evaluate
from lgfn.errors import CheckpointError, ConfigError, LGFNError
from lgfn.evaluation.datasets import CONFIG_NAMES, build_eval_dataset
from lgfn.files import append_jsonl, atomic_write_text
from lgfn.inference import VideoSuperResolver
from lgfn.models.lgfn import LGFN

logger = logging.getLogger(__name__)

LATEST = "latest.pth"
BEST = "best.pth"
FINAL = "final.pth"
#: Side of the SR / GT crops written to TensorBoard, in HR pixels.
IMAGE_CROP = 192


# ------------------------------------------------------------------------------------------------
# Building blocks


def build_train_dataset(config: ExperimentConfig, cache_dir: Path) -> TrainingDataset:
    """The training dataset the ``data`` section describes (not yet prepared).

    Args:
        config: the experiment; ``model.scale`` and ``model.num_frames`` size the samples.
        cache_dir: the disk cache's folder when ``data.cache_dir`` is empty.

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
    """The validation dataset the ``val`` section describes, or ``None`` when validation is off.

    Raises:
        ConfigError: a key the dataset needs is missing.
    """
    val = config.val
    if not val.dataset:
        return None
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


def charbonnier_loss(sr: torch.Tensor, gt: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """Mean of ``sqrt((sr - gt)^2 + eps^2)``, a smooth L1.

    Args:
        sr, gt: tensors of the same shape.
        eps: the smoothing; the loss tends to L1 as ``eps`` goes to 0.

    Returns:
        A scalar tensor.
    """
    return torch.sqrt((sr - gt).square() + eps * eps).mean()


def capture_rng_states() -> dict[str, Any]:
    """The global RNG states (torch CPU and CUDA, numpy, python) as checkpoint-safe values."""
    name, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002 (the legacy global state)
    version, internal, gauss_next = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"name": name, "keys": keys.tolist(), "pos": pos, "has_gauss": has_gauss, "cached": cached},
        "python": [version, list(internal), gauss_next],
    }


def restore_rng_states(states: dict[str, Any]) -> None:
    """Undo :func:`capture_rng_states` (CUDA states only when the devices are there)."""
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available() and len(states["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(states["cuda"])
    n = states["numpy"]
    keys = np.asarray(n["keys"], dtype=np.uint32)
    np.random.set_state((n["name"], keys, n["pos"], n["has_gauss"], n["cached"]))  # noqa: NPY002
    version, internal, gauss_next = states["python"]
    random.setstate((version, tuple(internal), gauss_next))


def git_revision() -> str:
    """``git rev-parse HEAD`` of the package's source tree, or ``"unknown"``."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(lgfn.__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return result.stdout.strip() or "unknown"


# ------------------------------------------------------------------------------------------------
# The trainer


class Trainer:
    """Trains an LGFN as an :class:`~lgfn.config.ExperimentConfig` says (see the module docstring).

    Args:
        config: the experiment.
        run_dir: the run folder (created).
        resume: continue from ``run_dir/latest.pth`` when it exists.

    Use :meth:`fit` for a whole run; :meth:`setup` and :meth:`train_step` are the pieces it is
    made of.
    """

    def __init__(self, config: ExperimentConfig, run_dir: str | Path, resume: bool = False) -> None:
        self.config = config
        self.run_dir = Path(run_dir)
        self.resume = resume
        self.iteration = 0
        self.skipped_steps = 0
        self.best: dict[str, float] = {"psnr": -math.inf, "ssim": 0.0, "iteration": -1}
        self._ready = False
        self._writer = None

    # -- set-up ----------------------------------------------------------------------------------

    def setup(self) -> None:
        """Build the process group, run folder, data, model, optimiser and schedule; load a resume."""
        if self._ready:
            return
        self.setup_process()
        if self.dist.is_main:
            self._prepare_run_dir()
        distributed.barrier(self.dist)
        self._setup_data()
        self.setup_model(self.iterations_per_epoch)
        self._ready = True
        logger.info(
            "training %s: %d samples, global batch %d over %d process(es), %d iterations per epoch, "
            "%d iterations in all, device %s, precision %s",
            self.config.name, len(self.dataset), self.global_batch, self.dist.world_size,
            self.iterations_per_epoch, self.total_iterations, self.device, self.config.train.precision,
        )  # fmt: skip
        if self.device.type == "cpu" and self.config.model.dcn_backend == "torchvision" and self.dist.is_main:
            logger.info(
                "training on a CPU: model.dcn_backend=grid_sample computes the same deformable "
                "convolution and trains 2-4x faster here (scripts/benchmark_train.py)"
            )

    def setup_process(self) -> None:
        """Join the process group (under torchrun), pick the device, threads, global batch and lr."""
        cfg = self.config.train
        wanted = (
            "cuda" if cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available()) else "cpu"
        )
        self.dist = distributed.init_distributed(wanted)
        self.device = resolve_device(cfg.device, self.dist.local_rank, option="train.device")
        for key, precision in (("train", cfg.precision), ("val", self.config.val.precision)):
            if precision == "fp16" and self.device.type != "cuda":
                raise ConfigError(f"{key}.precision fp16 needs a CUDA device; use fp32 or bf16 on CPU")
        if cfg.num_threads:
            torch.set_num_threads(cfg.num_threads)
        if self.device.type == "cpu":
            # Denormal floats (which small weights and gradients can become) are handled 10-100x
            # slower by CPUs; flushing them to zero costs nothing measurable in accuracy.
            torch.set_flush_denormal(True)
        if self.device.type == "cuda":
            # Fixed patch sizes: let cuDNN pick the fastest convolution algorithms once.
            torch.backends.cudnn.benchmark = True
        world = self.dist.world_size
        self.global_batch = cfg.batch_size * world if cfg.batch_per_gpu else cfg.batch_size
        if self.global_batch % world:
            raise ConfigError(
                f"train.batch_size {cfg.batch_size} (global) does not split evenly over {world} processes"
            )
        self.lr = cfg.lr * world if (cfg.batch_per_gpu and cfg.scale_lr) else cfg.lr

    def _setup_data(self) -> None:
        cfg = self.config.train
        self.dataset = build_train_dataset(self.config, self.run_dir / "lq_cache")
        self.dataset.prepare()
        if len(self.dataset) < self.global_batch:
            raise ConfigError(
                f"{self.dataset.describe()}: {len(self.dataset)} samples, fewer than one global batch "
                f"({self.global_batch})"
            )
        self.sampler = distributed.ShardedEpochSampler(
            len(self.dataset), self.global_batch, self.dist.rank, self.dist.world_size, cfg.seed
        )
        self.iterations_per_epoch = self.sampler.batches_per_epoch
        self.total_iterations = cfg.iterations or cfg.epochs * self.iterations_per_epoch
        workers = self.config.data.num_workers
        self.loader = DataLoader(
            self.dataset,
            batch_size=self.sampler.local_batch,
            sampler=self.sampler,
            num_workers=workers,
            pin_memory=self.device.type == "cuda",
            persistent_workers=workers > 0,
            prefetch_factor=4 if workers > 0 else None,
            worker_init_fn=_ignore_stop_signals,
        )
        self.val_dataset = build_val_dataset(self.config) if self.dist.is_main else None

    def setup_model(self, iterations_per_epoch: int) -> None:
        """Build the model, optimiser, schedule and gradient scaler; resume; wrap in DDP.

        Args:
            iterations_per_epoch: converts the schedule's epochs to iterations.
        """
        cfg = self.config.train
        self.iterations_per_epoch = iterations_per_epoch
        # Every process builds the same initial weights from the seed (DDP also broadcasts rank 0's).
        torch.manual_seed(cfg.seed)
        self.model = LGFN.from_config(self.config.model)
        if cfg.pretrained:
            _, state = split_checkpoint(load_checkpoint(cfg.pretrained), cfg.pretrained)
            check_state_dict(self.model, state, cfg.pretrained)
            self.model.load_state_dict(state)
            logger.info("initial weights from %s", cfg.pretrained)
        self.model = self.model.to(self.device)
        self.optimizer = torch.optim.Adam(
            _trainable_parameters(self.model, cfg.trainable),
            lr=self.lr,
            betas=tuple(cfg.betas),
            eps=cfg.eps,
            weight_decay=cfg.weight_decay,
        )
        milestones = [epoch * iterations_per_epoch for epoch in cfg.lr_milestones]
        self.scheduler = torch.optim.lr_scheduler.MultiStepLR(self.optimizer, milestones, gamma=cfg.lr_gamma)
        self.scaler = torch.amp.GradScaler("cuda") if cfg.precision == "fp16" else None
        if self.resume:
            self._load_resume()
        self.net = self.model
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = DistributedDataParallel(self.model, device_ids=ids)

    def _prepare_run_dir(self) -> None:
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # a file in the way, or no permission
            raise ConfigError(f"cannot make the run folder {self.run_dir}: {exc.strerror}") from None
        latest = self.run_dir / LATEST
        if latest.exists() and not self.resume:
            raise ConfigError(
                f"{self.run_dir} already holds a training run ({LATEST}); pass --resume to continue it "
                "or --out to train into another folder"
            )
        # The package's records go to train.log at INFO whatever the console shows.
        handler = logging.FileHandler(self.run_dir / "train.log")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s: %(message)s"))
        handler.setLevel(logging.INFO)
        package_logger = logging.getLogger("lgfn")
        self._log_handler, self._log_level = handler, package_logger.level
        package_logger.addHandler(handler)
        if package_logger.getEffectiveLevel() > logging.INFO:
            package_logger.setLevel(logging.INFO)
        save_config(self.config, self.run_dir / "config.yaml")
        (self.run_dir / "git_revision.txt").write_text(git_revision() + "\n")

    def _load_resume(self) -> None:
        path = self.run_dir / LATEST
        if not path.exists():
            logger.info("no %s in %s: starting from scratch", LATEST, self.run_dir)
            return
        state = load_checkpoint(path)
        stored, _ = split_checkpoint(state, path)
        architecture = self.config.model.architecture().to_dict()
        if stored != architecture:
            raise CheckpointError(
                f"{path} was trained with model {stored}, but the config says {architecture}"
            )
        if state.get("config") != self.config.to_dict():
            changed = _changed_keys(state.get("config", {}), self.config.to_dict())
            logger.warning(
                "the config differs from the one %s was written with (%s); the optimiser and schedule "
                "state continue from the checkpoint",
                path, ", ".join(changed),
            )  # fmt: skip
        self.model.load_state_dict(state["state_dict"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.iteration = int(state["iteration"])
        self.skipped_steps = int(state.get("skipped_steps", 0))
        self.best = dict(state.get("best", self.best))
        restore_rng_states(state["rng"])
        if self.dist.is_main:
            _truncate_metrics(self.run_dir, self.iteration)
        logger.info("resumed from %s at iteration %d (epoch %d)", path, self.iteration, self.epoch)

    # -- training --------------------------------------------------------------------------------

    @property
    def epoch(self) -> int:
        """Epochs completed so far, i.e. the 0-based epoch of the next iteration."""
        return self.iteration // self.iterations_per_epoch

    def loss_function(self, sr: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        """The configured loss, in fp32."""
        sr, gt = sr.float(), gt.float()
        if self.config.train.loss == "charbonnier":
            return charbonnier_loss(sr, gt, self.config.train.charbonnier_eps)
        return F.l1_loss(sr, gt)

    def train_step(self, batch: dict[str, Any]) -> tuple[float, bool]:
        """One optimisation step on this process's share of a global batch.

        The step is skipped on every process when any process has a batch with non-finite values
        (checked before the forward pass: torchvision's CPU deformable convolution crashes on NaN
        offsets), a loss that is not finite, or (without fp16 loss scaling) a gradient norm that is
        not finite: the weights and the optimiser state are left as they were and
        :attr:`skipped_steps` grows by one. Under fp16 the gradient scaler handles overflowing
        gradients itself (skipping the step and lowering the scale). The schedule advances either
        way, so it stays tied to the data.

        Args:
            batch: ``{"lq": (b, t, 3, h, w), "gt": (b, 3, s*h, s*w), "key": [b]}``.

        Returns:
            ``(loss averaged over the processes, whether the step was applied)``; the loss is NaN
            when the batch or the loss was not finite.
        """
        cfg = self.config.train
        self.net.train()
        self.optimizer.zero_grad(set_to_none=True)
        lq = batch["lq"].to(self.device, non_blocking=True)
        gt = batch["gt"].to(self.device, non_blocking=True)
        bad_input = not bool(torch.isfinite(lq).all() and torch.isfinite(gt).all())
        if distributed.any_process(bad_input, self.dist, self.device):
            keys = ", ".join(batch.get("key", [])) if bad_input else "on another process"
            return self._skip(math.nan, f"values in the input batch ({keys})")
        with autocast(self.device, cfg.precision):
            sr = self.net(lq)
        loss = self.loss_function(sr, gt)
        # Backward runs even on a bad loss: every DDP process must take part in the gradient
        # all-reduce; the step is then skipped on all of them alike.
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()
        mean_loss, finite = self._reduce_loss(loss)
        if not finite:
            return self._skip(mean_loss, "loss")
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        norm = self._gradient_norm()
        if self.scaler is not None:
            self.scaler.step(self.optimizer)  # skips by itself when the gradients overflowed
            self.scaler.update()
        elif not torch.isfinite(norm):
            return self._skip(mean_loss, "gradient")
        else:
            self.optimizer.step()
        self._advance()
        return mean_loss, True

    def _skip(self, loss: float, what: str) -> tuple[float, bool]:
        self.optimizer.zero_grad(set_to_none=True)
        self.skipped_steps += 1
        logger.warning(
            "iteration %d: non-finite %s; optimiser step skipped (%d skipped so far)",
            self.iteration + 1, what, self.skipped_steps,
        )  # fmt: skip
        self._advance()
        return loss, False

    def _advance(self) -> None:
        with warnings.catch_warnings():
            # The schedule counts iterations, stepped or not; PyTorch warns when none was stepped yet.
            warnings.filterwarnings(
                "ignore", message="Detected call of `lr_scheduler.step", category=UserWarning
            )
            self.scheduler.step()
        self.iteration += 1

    def _reduce_loss(self, loss: torch.Tensor) -> tuple[float, bool]:
        """Mean loss over the processes and whether it is finite on all of them (one all-reduce)."""
        value = loss.detach().float()
        bad = ~torch.isfinite(value)
        packed = torch.stack([torch.where(bad, torch.zeros_like(value), value), bad.float()])
        if self.dist.enabled:
            torch.distributed.all_reduce(packed)
        total, bad_count = packed.tolist()
        if bad_count > 0:
            return math.nan, False
        return total / self.dist.world_size, True

    def _gradient_norm(self) -> torch.Tensor:
        """The global gradient norm, after clipping it to ``train.grad_clip`` when that is set."""
        parameters = [p for p in self.model.parameters() if p.grad is not None]
        clip = self.config.train.grad_clip
        if clip > 0:
            return torch.nn.utils.clip_grad_norm_(parameters, clip)
        return torch.nn.utils.get_total_norm([p.grad for p in parameters])

    def fit(self) -> Path:
        """Train to the end (resuming first when asked), validating and saving as configured.

        Returns:
            The path of ``final.pth``.
        """
        try:
            self.setup()
            self._train()
            return self.run_dir / FINAL
        finally:
            self.close()

    def _train(self) -> None:
        cfg, log_cfg = self.config.train, self.config.log
        main = self.dist.is_main
        if main and log_cfg.tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            # purge_step drops the events an interrupted run wrote after its last checkpoint.
            purge = self.iteration + 1 if self.iteration else None
            self._writer = SummaryWriter(self.run_dir / "tensorboard", purge_step=purge)
        bar = tqdm(
            total=self.total_iterations,
            initial=self.iteration,
            unit="it",
            dynamic_ncols=True,
            disable=not (main and log_cfg.progress),
            desc=self.config.name,
        )
        # The loss and speed logged every log.every iterations are over the iterations since the last log.
        window_loss, window_applied, window_iterations, window_start = 0.0, 0, 0, time.perf_counter()
        with bar, logging_redirect_tqdm(), _StopRequests() as stop:
            while self.iteration < self.total_iterations:
                self.sampler.set_epoch(self.epoch, self.iteration % self.iterations_per_epoch)
                for batch in self._batches():
                    loss, applied = self.train_step(batch)
                    window_iterations += 1
                    bar.update(1)
                    if applied:
                        window_loss, window_applied = window_loss + loss, window_applied + 1
                        bar.set_postfix(
                            loss=f"{loss:.4f}", lr=f"{self.scheduler.get_last_lr()[0]:.2e}", refresh=False
                        )
                    if self.iteration % log_cfg.every == 0:
                        seconds = time.perf_counter() - window_start
                        mean = window_loss / window_applied if window_applied else None
                        self._log_training(mean, window_iterations / seconds)
                        window_loss, window_applied, window_iterations = 0.0, 0, 0
                        window_start = time.perf_counter()
                    done = self.iteration >= self.total_iterations
                    if done or (self.config.val.every and self.iteration % self.config.val.every == 0):
                        paused = time.perf_counter()
                        self.validate()
                        window_start += time.perf_counter() - paused  # speed counts training only
                    saved = done or (cfg.save_every and self.iteration % cfg.save_every == 0)
                    if saved:
                        self.save()
                    if done:
                        break
                    # Every process stops at the same iteration (one all-reduce when distributed).
                    if distributed.any_process(stop.requested is not None, self.dist, self.device):
                        self._stop_and_save(saved)
        if main:
            save_checkpoint(
                self.run_dir / FINAL,
                self.model,
                {
                    "iteration": self.iteration,
                    "config": self.config.to_dict(),
                    "skipped_steps": self.skipped_steps,
                },
            )
            logger.info(
                "done: %d iterations, %d skipped steps; final weights in %s",
                self.iteration, self.skipped_steps, self.run_dir / FINAL,
            )  # fmt: skip
        distributed.barrier(self.dist)

    def _batches(self) -> Iterator[dict[str, Any]]:
        """The loader's batches; a user error raised in a loader worker keeps its one-line message."""
        iterator = iter(self.loader)
        while True:
            try:
                batch = next(iterator)
            except StopIteration:
                return
            except LGFNError as exc:
                raise type(exc)(_worker_error_message(exc)) from None
            yield batch

    def _stop_and_save(self, saved: bool) -> None:
        """Save ``latest.pth`` at the iteration just finished (unless ``saved`` already) and leave as
        Ctrl-C does (exit status 130)."""
        if not saved:
            self.save()
        if self.dist.is_main:
            logger.warning(
                "stopped at iteration %d of %d; %s is saved: run the same command with --resume to continue",
                self.iteration, self.total_iterations, self.run_dir / LATEST,
            )  # fmt: skip
        raise KeyboardInterrupt

    # -- logging, validation, checkpoints --------------------------------------------------------

    def _log_training(self, loss: float | None, speed: float) -> None:
        """Log the mean loss of the applied steps (``None`` if all were skipped) and iterations/s."""
        if not self.dist.is_main:
            return
        lr = self.scheduler.get_last_lr()[0]
        record = {
            "kind": "train",
            "iteration": self.iteration,
            "epoch": self.epoch,
            "loss": loss,
            "lr": lr,
            "it_per_s": speed,
            "skipped_steps": self.skipped_steps,
        }
        append_jsonl(self.run_dir / "metrics.jsonl", record)
        if self._writer is not None:
            if loss is not None:
                self._writer.add_scalar("train/loss", loss, self.iteration)
            self._writer.add_scalar("train/lr", lr, self.iteration)
            self._writer.add_scalar("train/it_per_s", speed, self.iteration)
            self._writer.add_scalar("train/epoch", self.epoch, self.iteration)
            self._writer.add_scalar("train/skipped_steps", self.skipped_steps, self.iteration)

    def validate(self) -> dict[str, Any] | None:
        """Evaluate the current weights on the validation set (rank 0); keep ``best.pth``.

        Returns:
            The evaluator's report on rank 0 (``None`` elsewhere or without validation).
        """
        report = None
        if self.dist.is_main and self.val_dataset is not None:
            # A copy: the resolver changes the model's memory format and mode, which must not
            # leak into training.
            model = copy.deepcopy(self.model)
            upscaler = VideoSuperResolver(model, device=self.device, precision=self.config.val.precision)
            crops: list[tuple[str, np.ndarray]] = []

            def keep_crop(key: str, index: int, sr: np.ndarray, gt: np.ndarray) -> None:
                if len(crops) < self.config.log.images and all(not k.startswith(f"{key}/") for k, _ in crops):
                    crops.append((f"{key}/{index}", _side_by_side(sr, gt)))

            report = evaluate(
                self.val_dataset, upscaler, progress=False, method="lgfn", frame_callback=keep_crop
            )
            del model, upscaler
            psnr, ssim = report["average"]["psnr"], report["average"]["ssim"]
            improved = psnr > self.best["psnr"]
            if improved:
                self.best = {"psnr": psnr, "ssim": ssim, "iteration": self.iteration}
                save_checkpoint(
                    self.run_dir / BEST,
                    self.model,
                    {
                        "iteration": self.iteration,
                        "psnr": psnr,
                        "ssim": ssim,
                        "config": self.config.to_dict(),
                    },
                )
            logger.info(
                "iteration %d: validation PSNR %.2f dB, SSIM %.4f%s",
                self.iteration, psnr, ssim, " (best so far)" if improved else "",
            )  # fmt: skip
            record = {"iteration": self.iteration, "epoch": self.epoch, "psnr": psnr, "ssim": ssim}
            append_jsonl(self.run_dir / "metrics.jsonl", {"kind": "val", **record, "clips": report["clips"]})
            _append_csv(self.run_dir / "validation.csv", record)
            if self._writer is not None:
                self._writer.add_scalar("val/psnr", psnr, self.iteration)
                self._writer.add_scalar("val/ssim", ssim, self.iteration)
                for name, image in crops:
                    self._writer.add_image(f"val/{name}", image, self.iteration, dataformats="HWC")
                self._writer.flush()
        distributed.barrier(self.dist)
        return report

    def checkpoint_state(self) -> dict[str, Any]:
        """Everything beyond the weights that resuming needs (loadable with ``weights_only``)."""
        return {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else {},
            "iteration": self.iteration,
            "epoch": self.epoch,
            "skipped_steps": self.skipped_steps,
            "best": dict(self.best),
            "rng": capture_rng_states(),
            "config": self.config.to_dict(),
            "world_size": self.dist.world_size,
        }

    def save(self) -> None:
        """Write ``latest.pth`` (rank 0), and an ``iter_<n>.pth`` copy when ``train.keep_last`` > 0."""
        if self.dist.is_main:
            latest = self.run_dir / LATEST
            save_checkpoint(latest, self.model, self.checkpoint_state())
            keep = self.config.train.keep_last
            if keep:
                _link_or_copy(latest, self.run_dir / f"iter_{self.iteration:08d}.pth")
                for old in sorted(self.run_dir.glob("iter_*.pth"))[:-keep]:
                    old.unlink()
        distributed.barrier(self.dist)

    def close(self) -> None:
        """Flush TensorBoard, detach the log file and leave the process group."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        handler = getattr(self, "_log_handler", None)
        if handler is not None:
            package_logger = logging.getLogger("lgfn")
            package_logger.removeHandler(handler)
            package_logger.setLevel(self._log_level)
            handler.close()
            self._log_handler = None
        if hasattr(self, "dist"):
            distributed.shutdown(self.dist)


class _StopRequests:
    """While active, the first SIGINT (Ctrl-C) or SIGTERM only asks the run to stop after the iteration
    in progress (:attr:`requested` holds the signal); a second SIGINT interrupts at once.

    Signal handlers belong to the main thread: elsewhere (a run started from another thread) this
    does nothing and the signals keep their usual effect.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.requested: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _StopRequests:
        if threading.current_thread() is threading.main_thread():
            self._previous = {sig: signal.signal(sig, self._handle) for sig in self.SIGNALS}
        return self

    def __exit__(self, *exc_info: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    def _handle(self, signum: int, frame: object) -> None:
        if self.requested is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = signum
        logger.warning(
            "%s: stopping after this iteration to save a checkpoint (Ctrl-C again stops at once)",
            signal.Signals(signum).name,
        )


def _trainable_parameters(model: nn.Module, names: Sequence[str]) -> list[nn.Parameter]:
    """Freeze every top-level module of ``model`` not in ``names`` and return what still trains.

    Args:
        model: the network.
        names: ``train.trainable``; empty: everything trains.

    Raises:
        ConfigError: a name that is not one of the network's top-level modules.
    """
    if not names:
        return list(model.parameters())
    parts = [name for name, module in model.named_children() if next(module.parameters(), None) is not None]
    unknown = sorted(set(names) - set(parts))
    if unknown:
        raise ConfigError(
            f"train.trainable: {', '.join(unknown)} is not a part of the network; "
            f"choose from {', '.join(parts)}"
        )
    for name, module in model.named_children():
        module.requires_grad_(name in names)
    return [p for p in model.parameters() if p.requires_grad]


def _ignore_stop_signals(worker_id: int) -> None:
    """Loader workers ignore Ctrl-C and SIGTERM: a terminal's Ctrl-C reaches the whole process group,
    and the loader must keep serving until every process has stopped at the same iteration (the
    main process shuts its workers down when it leaves)."""
    for sig in _StopRequests.SIGNALS:
        signal.signal(sig, signal.SIG_IGN)


def _worker_error_message(exc: LGFNError) -> str:
    """The original message of an error that a DataLoader worker re-raised with its traceback."""
    text = str(exc)
    if "Original Traceback" not in text:
        return text
    last = [line for line in text.splitlines() if line.strip()][-1]
    prefix = f"{type(exc).__module__}.{type(exc).__qualname__}: "
    return last[len(prefix) :] if last.startswith(prefix) else last


def _side_by_side(sr: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """A centre crop of ``sr`` beside the same crop of ``gt``, ``(c, 2c, 3)`` uint8."""
    h, w = gt.shape[:2]
    size = min(IMAGE_CROP, h, w)
    top, left = (h - size) // 2, (w - size) // 2
    window = (slice(top, top + size), slice(left, left + size))
    return np.concatenate([sr[window], gt[window]], axis=1)


def _link_or_copy(source: Path, target: Path) -> None:
    """Give ``source``'s complete contents a second name atomically (hard link, else a copy)."""
    temporary = target.with_name(f".{target.name}.tmp")
    temporary.unlink(missing_ok=True)
    try:
        temporary.hardlink_to(source)
    except OSError:
        shutil.copyfile(source, temporary)
    temporary.replace(target)


def _append_csv(path: Path, record: dict[str, Any]) -> None:
    new = not path.exists()
    with path.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(record))
        if new:
            writer.writeheader()
        writer.writerow(record)


def _truncate_metrics(run_dir: Path, iteration: int) -> None:
    """Drop records after ``iteration`` that an interrupted run wrote past its last checkpoint."""
    jsonl = run_dir / "metrics.jsonl"
    if jsonl.exists():
        kept = []
        for line in jsonl.read_text().splitlines():
            try:
                if json.loads(line)["iteration"] <= iteration:
                    kept.append(line)
            except (ValueError, KeyError, TypeError):
                continue  # a line cut short by the interruption
        atomic_write_text(jsonl, "".join(line + "\n" for line in kept))
    table = run_dir / "validation.csv"
    if table.exists():
        with table.open(newline="") as f:
            rows = list(csv.DictReader(f))
        fields = list(rows[0]) if rows else ["iteration", "epoch", "psnr", "ssim"]
        with table.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fields)
            writer.writeheader()
            writer.writerows(row for row in rows if int(row["iteration"]) <= iteration)


def _changed_keys(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    changed = []
    for section in sorted(set(old) | set(new)):
        a, b = old.get(section, {}), new.get(section, {})
        changed += [f"{section}.{k}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    return changed


# ------------------------------------------------------------------------------------------------
# Command line


def build_arg_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="train.py",
        description="Train LGFN. Multi-GPU: torchrun --nproc_per_node=N train.py -c CONFIG ...",
    )
    parser.add_argument("-c", "--config", required=True, help="experiment YAML file (see configs/)")
    parser.add_argument("--out", help="run folder (default: runs/<config name>)")
    parser.add_argument("--resume", action="store_true", help="continue from <run folder>/latest.pth")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override a config value, e.g. --set train.lr=2e-4 (repeatable; the value is YAML)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``train.py``: parse arguments, load the config and train. Returns the exit status."""
    args = build_arg_parser().parse_args(argv)
    setup_logging(args.verbose)
    if int(os.environ.get("RANK", "0")) != 0:
        logging.getLogger().setLevel(logging.WARNING)  # one process speaks for the run
    config = load_config(args.config, args.overrides)
    run_dir = Path(args.out) if args.out else Path("runs") / config.name
    Trainer(config, run_dir, resume=args.resume).fit()
    return 0
