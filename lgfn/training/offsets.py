"""Watching the deformable alignment while training, and the learning rate of its offset predictors.

Deformable alignment is known to diverge when its offsets grow: BasicSR's EDVR warns when a
deformable convolution's mean absolute offset exceeds 50 pixels, and EDVR's maintainers restarted
runs whose offset mean passed about 100. :class:`OffsetMonitor` keeps, for each stage ``k`` of
:class:`~lgfn.models.alignment.StackedDeformableAlignment`, the mean absolute offset (in feature
pixels, i.e. LR pixels) and the mean of the modulation mask over the training forwards of a log
window, and warns once when an offset mean passes ``train.offset_warn``. It reads the output of
each stage's ``conv_offset_mask`` through forward hooks: the network, its state dict and its
output are untouched, and a network without a monitor runs as before.

:func:`offset_parameters` names the layers that predict the offsets and masks (``offset_conv1``,
the DMDCU ``offset_conv2`` and each deformable convolution's ``conv_offset_mask``), which
``train.offset_lr_factor`` gives a learning rate of their own.
"""

from __future__ import annotations

import logging
import math

import torch
from torch import nn

from lgfn.models.lgfn import LGFN

logger = logging.getLogger(__name__)

#: The alignment's sub-modules whose only job is to predict offsets and masks (the authors' names).
OFFSET_LAYERS = ("offset_conv1", "offset_conv2", "conv_offset_mask")


def offset_parameters(model: LGFN) -> list[nn.Parameter]:
    """The parameters of the layers that predict the alignment's offsets and modulation masks.

    Args:
        model: the network.

    Returns:
        The parameters under ``cd_align`` in one of :data:`OFFSET_LAYERS`, in ``model.parameters()``
        order (the deformable convolutions' own weights are not among them).
    """
    return [
        parameter
        for name, parameter in model.cd_align.named_parameters()
        if any(part in OFFSET_LAYERS for part in name.split("."))
    ]


class OffsetMonitor:
    """Per alignment stage, the mean absolute offset and the mask mean of the training forwards.

    Hooks are attached to ``model``'s ``cd_align.dc[k].conv_offset_mask``; they record only while
    the module is in training mode (not in validation) and keep device tensors, so that nothing
    waits for the GPU until :meth:`summary`.

    Args:
        model: the network being trained (not its DistributedDataParallel wrapper).
        warn_above: warn (once per run) when a stage's offset mean in a :meth:`summary` exceeds this.
    """

    def __init__(self, model: LGFN, warn_above: float) -> None:
        self.warn_above = warn_above
        self.warned = False
        stages = list(model.cd_align.dc)
        self._sums: list[torch.Tensor | None] = [None] * len(stages)
        self._counts = [0] * len(stages)
        self._handles = [
            dcn.conv_offset_mask.register_forward_hook(self._hook(k)) for k, dcn in enumerate(stages)
        ]

    def _hook(self, stage: int):
        # A closure, not a bound method: a deep copy of the model (validation's eval copy) then
        # shares the function instead of copying the monitor and its tensors.
        def record(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            if module.training:
                self._add(stage, output)

        return record

    def _add(self, stage: int, output: torch.Tensor) -> None:
        """Accumulate one forward's statistics: ``output`` is ``(b, 3*n, h, w)``: offsets, mask logits."""
        with torch.no_grad():
            values = output.detach().float()
            n = values.shape[1] // 3  # the first 2n channels are the offsets (see ModulatedDeformConv)
            pair = torch.stack([values[:, : 2 * n].abs().mean(), torch.sigmoid(values[:, 2 * n :]).mean()])
            total = self._sums[stage]
            self._sums[stage] = pair if total is None else total + pair
            self._counts[stage] += 1

    def summary(self, iteration: int) -> dict[str, list[float | None]]:
        """The means since the last summary, and start a new window; warns the first time an offset
        mean passes ``warn_above``.

        Args:
            iteration: the iteration the summary is logged at (named in the warning).

        Returns:
            ``{"offset_abs_mean": [stage 0, ...], "mask_mean": [...]}``; ``None`` for a stage without
            a training forward in the window, or whose mean is not finite.
        """
        means: list[tuple[float, float] | tuple[None, None]] = []
        for total, count in zip(self._sums, self._counts, strict=True):
            means.append((None, None) if total is None else tuple(value / count for value in total.tolist()))
        self._sums = [None] * len(self._sums)
        self._counts = [0] * len(self._counts)
        offsets = [_finite(offset) for offset, _ in means]
        masks = [_finite(mask) for _, mask in means]
        self._warn_once(offsets, iteration)
        return {"offset_abs_mean": offsets, "mask_mean": masks}

    def _warn_once(self, offsets: list[float | None], iteration: int) -> None:
        large = [
            (k, value) for k, value in enumerate(offsets) if value is not None and value > self.warn_above
        ]
        if large and not self.warned:
            self.warned = True
            stages = ", ".join(f"stage {k}: {value:.1f}" for k, value in large)
            logger.warning(
                "iteration %d: the mean absolute deformable offset passed train.offset_warn = %g pixels "
                "(%s); deformable alignment tends to diverge when offsets grow: consider a lower "
                "train.lr or train.offset_lr_factor, or a restart from an earlier checkpoint "
                "(this warning is given once)",
                iteration, self.warn_above, stages,
            )  # fmt: skip

    def close(self) -> None:
        """Detach the hooks from the network."""
        for handle in self._handles:
            handle.remove()
        self._handles = []


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None
