"""The training loss: which loss compares the network's output with the ground truth, on which scale.

``train.loss`` names one of :data:`LOSSES` and ``train.loss_pixel_range`` the pixel scale the loss
sees; :class:`TrainingLoss` is the one place that turns them into the function the optimisation
step calls.

The scale matters with Adam. The authors' trainer feeds LR frames in [0, 1] but multiplies the
network's output by 255 and takes the L1 loss against the 8-bit HR frame, so its gradients are 255
times those of a [0, 1] loss. Adam divides the gradient by its running magnitude plus ``eps``
(1e-8): 255 times larger gradients make ``eps`` act like 1e-8/255, and for a trained network, whose
gradients are mostly below 1e-7 on the [0, 1] scale, the two scales give visibly different steps.
``loss_pixel_range: 255`` is the authors' step; ``1`` the [0, 1] one.
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
        charbonnier_eps: the smoothing of the Charbonnier loss, on the ``pixel_range`` scale.
        pixel_range: both images are multiplied by this before the loss: 255 compares 8-bit pixel
            values as the authors did (the loss, and the logged loss, are then in their units);
            1 compares images in [0, 1].

    Raises:
        ValueError: ``name`` is not one of :data:`LOSSES`.
    """

    def __init__(self, name: str, charbonnier_eps: float, pixel_range: float) -> None:
        if name not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {name!r}")
        if not pixel_range > 0:
            raise ValueError(f"the loss's pixel range must be positive, got {pixel_range!r}")
        self.name = name
        self.charbonnier_eps = charbonnier_eps
        self.pixel_range = pixel_range

    def __call__(self, sr: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        """The loss of ``sr`` against ``gt``.

        Args:
            sr: the network's output, ``(b, 3, s*h, s*w)`` in [0, 1].
            gt: the ground truth, the same shape, in [0, 1].

        Returns:
            A scalar fp32 tensor, on the ``pixel_range`` scale.
        """
        sr, gt = sr.float() * self.pixel_range, gt.float() * self.pixel_range
        if self.name == "charbonnier":
            return charbonnier_loss(sr, gt, self.charbonnier_eps)
        return F.l1_loss(sr, gt)
