"""The training loss: which loss compares the network's output with the ground truth.

``train.loss`` names one of :data:`LOSSES`; :class:`TrainingLoss` is the one place that turns the
name into the function the optimisation step calls.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: The losses ``train.loss`` may name: ``l1`` (the paper) and ``charbonnier`` (a smooth L1).
LOSSES = ("l1", "charbonnier")


def charbonnier_loss(sr: torch.Tensor, gt: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """Mean of ``sqrt((sr - gt)^2 + eps^2)``, a smooth L1.

    Args:
        sr, gt: tensors of the same shape.
        eps: the smoothing; the loss tends to L1 as ``eps`` goes to 0.

    Returns:
        A scalar tensor.
    """
    return torch.sqrt((sr - gt).square() + eps * eps).mean()


class TrainingLoss:
    """The configured loss of a batch, computed in fp32 whatever precision the network ran in.

    Args:
        name: one of :data:`LOSSES`.
        charbonnier_eps: the smoothing of the Charbonnier loss.

    Raises:
        ValueError: ``name`` is not one of :data:`LOSSES`.
    """

    def __init__(self, name: str, charbonnier_eps: float = 1e-3) -> None:
        if name not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {name!r}")
        self.name = name
        self.charbonnier_eps = charbonnier_eps

    def __call__(self, sr: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        """The loss of ``sr`` against ``gt``.

        Args:
            sr: the network's output, ``(b, 3, s*h, s*w)`` in [0, 1].
            gt: the ground truth, the same shape.

        Returns:
            A scalar fp32 tensor.
        """
        sr, gt = sr.float(), gt.float()
        if self.name == "charbonnier":
            return charbonnier_loss(sr, gt, self.charbonnier_eps)
        return F.l1_loss(sr, gt)
