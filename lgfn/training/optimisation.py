"""The optimisation: the network, Adam, the step schedule, the fp16 gradient scaler and the loss, and
one optimisation step at a time, skipping a step whose input, loss or gradient is not finite.

The schedule counts iterations (one per step, applied or skipped), so a run can stop and resume at
any iteration and the learning rate stays tied to the data.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from lgfn import distributed
from lgfn.checkpoint import check_state_dict, load_checkpoint, split_checkpoint
from lgfn.devices import autocast
from lgfn.distributed import DistributedContext
from lgfn.errors import ConfigError
from lgfn.models.lgfn import LGFN
from lgfn.training.losses import TrainingLoss
from lgfn.training.offsets import offset_parameters

if TYPE_CHECKING:
    from lgfn.config import ExperimentConfig
    from lgfn.training.process import TrainingProcess

logger = logging.getLogger(__name__)

#: Adam's settings in each parameter group: configured, never taken from a checkpoint.
_ADAM_SETTINGS = ("betas", "eps", "weight_decay")

#: A loss of ``(sr, gt)``: a scalar tensor.
LossFunction = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class Optimisation:
    """The network and what updates it; :meth:`step` takes one optimisation step.

    Build it with :meth:`build`; the constructor only stores the parts.

    Args:
        model: the network (its weights are what checkpoints hold).
        net: ``model`` itself, or ``model`` wrapped in DistributedDataParallel.
        optimizer: Adam over the trainable parameters.
        scheduler: the step schedule, stepped every iteration.
        scaler: the fp16 gradient scaler, or ``None``.
        loss_function: the training loss.
        dist: this process's place in the run.
        device: the training device.
        precision: ``train.precision``.
        grad_clip: clip the global gradient norm to this (0: no clipping).

    Attributes:
        iteration: the optimisation steps taken (applied or skipped).
        skipped_steps: the steps skipped because something was not finite.
    """

    def __init__(
        self,
        model: LGFN,
        net: nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LRScheduler,
        scaler: torch.amp.GradScaler | None,
        loss_function: LossFunction,
        dist: DistributedContext,
        device: torch.device,
        precision: str,
        grad_clip: float,
    ) -> None:
        self.model = model
        self.net = net
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.scaler = scaler
        self.loss_function = loss_function
        self.dist = dist
        self.device = device
        self.precision = precision
        self.grad_clip = grad_clip
        self.iteration = 0
        self.skipped_steps = 0

    @classmethod
    def build(
        cls, config: ExperimentConfig, process: TrainingProcess, iterations_per_epoch: int
    ) -> Optimisation:
        """The network (seeded, or ``train.pretrained``'s weights), Adam, the schedule and the scaler.

        Args:
            config: the experiment (``model`` and ``train``).
            process: this process (device, process group, learning rate).
            iterations_per_epoch: converts the schedule's epochs to iterations.

        Raises:
            CheckpointError: ``train.pretrained`` does not fit the ``model`` section.
            ConfigError: ``train.trainable`` names no part of the network.
        """
        cfg = config.train
        # Every process builds the same initial weights from the seed (DDP also broadcasts rank 0's).
        torch.manual_seed(cfg.seed)
        model = LGFN.from_config(config.model)
        if cfg.pretrained:
            _, state = split_checkpoint(load_checkpoint(cfg.pretrained), cfg.pretrained)
            check_state_dict(model, state, cfg.pretrained)
            model.load_state_dict(state)
            logger.info("initial weights from %s", cfg.pretrained)
        model = model.to(process.device)
        optimizer = torch.optim.Adam(
            parameter_groups(
                model, trainable_parameters(model, cfg.trainable), process.lr, cfg.offset_lr_factor
            ),
            lr=process.lr,
            betas=tuple(cfg.betas),
            eps=cfg.eps,
            weight_decay=cfg.weight_decay,
        )
        milestones = [epoch * iterations_per_epoch for epoch in cfg.lr_milestones]
        scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones, gamma=cfg.lr_gamma)
        scaler = torch.amp.GradScaler("cuda") if cfg.precision == "fp16" else None
        net: nn.Module = model
        if process.dist.enabled:
            ids = [process.device.index] if process.device.type == "cuda" else None
            net = DistributedDataParallel(model, device_ids=ids)
        loss = TrainingLoss(cfg.loss, cfg.charbonnier_eps, cfg.loss_pixel_range)
        return cls(
            model,
            net,
            optimizer,
            scheduler,
            scaler,
            loss,
            process.dist,
            process.device,
            cfg.precision,
            cfg.grad_clip,
        )

    @property
    def lr(self) -> float:
        """The learning rate of the next step."""
        return self.scheduler.get_last_lr()[0]

    def step(self, batch: dict[str, Any]) -> tuple[float, bool]:
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
        self.net.train()
        self.optimizer.zero_grad(set_to_none=True)
        lq = batch["lq"].to(self.device, non_blocking=True)
        gt = batch["gt"].to(self.device, non_blocking=True)
        bad_input = not bool(torch.isfinite(lq).all() and torch.isfinite(gt).all())
        if distributed.any_process(bad_input, self.dist, self.device):
            keys = ", ".join(batch.get("key", [])) if bad_input else "on another process"
            return self._skip(math.nan, f"values in the input batch ({keys})")
        with autocast(self.device, self.precision):
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

    def state_dict(self) -> dict[str, Any]:
        """The optimiser, schedule and scaler states (the weights are saved apart)."""
        return {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else {},
        }

    def load_state(self, state: dict[str, Any]) -> None:
        """Continue from a resumable checkpoint: the weights, the :meth:`state_dict` states and the
        counters.

        The optimiser's moments and the schedule's position come from the checkpoint, but its
        settings stay the configured ones (loading the states alone would bring back the learning
        rate, milestones, gamma and Adam settings the checkpoint was written with): a run resumed
        with another ``train.lr`` trains with it, from the schedule's current position on.
        """
        settings = [{key: group[key] for key in _ADAM_SETTINGS} for group in self.optimizer.param_groups]
        schedule = self._schedule()
        self.model.load_state_dict(state["state_dict"])
        stored_groups = len(state["optimizer"]["param_groups"])
        if stored_groups != len(self.optimizer.param_groups):
            raise ConfigError(
                f"the checkpoint's optimiser has {stored_groups} parameter group(s), this config "
                f"{len(self.optimizer.param_groups)}: train.offset_lr_factor cannot change to or from 1 "
                "on --resume (set it as the run was started, or start a new run)"
            )
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        for group, configured in zip(self.optimizer.param_groups, settings, strict=True):
            group.update(configured)
        if self._schedule() != schedule:  # unchanged: keep the stored rate, bit for bit
            self._restart_schedule(*schedule)
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.iteration = int(state["iteration"])
        self.skipped_steps = int(state.get("skipped_steps", 0))

    def _schedule(self) -> tuple[list[float], dict[int, int], float]:
        """The schedule's settings: base rates, milestones (iteration -> count) and gamma."""
        return list(self.scheduler.base_lrs), dict(self.scheduler.milestones), self.scheduler.gamma

    def _restart_schedule(self, base_lrs: list[float], milestones: dict[int, int], gamma: float) -> None:
        """Give the schedule these settings at its current iteration, with the rate they give there."""
        scheduler = self.scheduler
        scheduler.base_lrs, scheduler.milestones, scheduler.gamma = list(base_lrs), Counter(milestones), gamma
        passed = sum(count for milestone, count in milestones.items() if milestone <= scheduler.last_epoch)
        for group, base in zip(self.optimizer.param_groups, base_lrs, strict=True):
            group["initial_lr"], group["lr"] = base, base * gamma**passed
        scheduler._last_lr = [group["lr"] for group in self.optimizer.param_groups]

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
        """The global gradient norm, after clipping it to ``grad_clip`` when that is set."""
        parameters = [p for p in self.model.parameters() if p.grad is not None]
        if self.grad_clip > 0:
            return torch.nn.utils.clip_grad_norm_(parameters, self.grad_clip)
        return torch.nn.utils.get_total_norm([p.grad for p in parameters])


def parameter_groups(
    model: LGFN, parameters: list[nn.Parameter], lr: float, offset_lr_factor: float
) -> list[dict[str, Any]]:
    """Adam's parameter groups: one (the paper), or with ``offset_lr_factor`` != 1 a second one for
    the offset-predicting layers (:func:`lgfn.training.offsets.offset_parameters`) at ``lr * factor``.

    Args:
        model: the network.
        parameters: what trains (:func:`trainable_parameters`).
        lr: the learning rate.
        offset_lr_factor: ``train.offset_lr_factor``.

    Returns:
        ``[{"params": rest}, {"params": offset layers, "lr": lr * factor}]``, or one group of all
        ``parameters`` when the factor is 1. The schedule scales every group alike.
    """
    if offset_lr_factor == 1.0:
        return [{"params": parameters}]
    offsets = {id(p) for p in offset_parameters(model)}
    return [
        {"params": [p for p in parameters if id(p) not in offsets]},
        {"params": [p for p in parameters if id(p) in offsets], "lr": lr * offset_lr_factor},
    ]


def trainable_parameters(model: nn.Module, names: Sequence[str]) -> list[nn.Parameter]:
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
