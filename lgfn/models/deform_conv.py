"""Modulated deformable convolution (DCNv2) behind one interface with two backends.

``torchvision`` (the default) calls :func:`torchvision.ops.deform_conv2d`, which runs on CPU and CUDA
with nothing to compile. ``mmcv`` calls ``mmcv.ops.modulated_deform_conv2d`` and is used only when
asked for. Both take offsets in the standard DCNv2 layout: for each deformable group, for each
kernel tap, the pair ``(dy, dx)``.

The sampling always runs in float32: under autocast or with half-precision inputs the operands are
cast up and the result cast back, because bilinear sampling at fractional offsets in bf16/fp16
loses the sub-pixel precision that alignment relies on.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from lgfn.errors import LGFNError

BACKENDS = ("torchvision", "mmcv")

DeformFn = Callable[..., torch.Tensor]


def _torchvision_deform_conv(
    x: torch.Tensor,
    offset: torch.Tensor,
    mask: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    padding: int,
    dilation: int,
    deformable_groups: int,
) -> torch.Tensor:
    from torchvision.ops import deform_conv2d

    # torchvision infers the number of deformable groups from the offset's channel count.
    del deformable_groups
    return deform_conv2d(x, offset, weight, bias, padding=padding, dilation=dilation, mask=mask)


def _mmcv_deform_conv(
    x: torch.Tensor,
    offset: torch.Tensor,
    mask: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    padding: int,
    dilation: int,
    deformable_groups: int,
) -> torch.Tensor:
    from mmcv.ops import modulated_deform_conv2d

    return modulated_deform_conv2d(
        x.contiguous(), offset.contiguous(), mask.contiguous(), weight, bias, 1, padding, dilation, 1,
        deformable_groups,
    )  # fmt: skip


def get_deform_conv(backend: str) -> DeformFn:
    """Return the modulated deformable convolution function of ``backend``.

    Args:
        backend: ``"torchvision"`` or ``"mmcv"``.

    Returns:
        ``fn(x, offset, mask, weight, bias, padding, dilation, deformable_groups) -> out``.

    Raises:
        LGFNError: the backend is unknown, or ``"mmcv"`` was asked for but mmcv's compiled ops do
            not import.
    """
    if backend == "torchvision":
        return _torchvision_deform_conv
    if backend == "mmcv":
        try:
            from mmcv.ops import modulated_deform_conv2d  # noqa: F401
        except Exception as exc:  # ImportError, or a build of mmcv without its compiled ops
            raise LGFNError(
                "the 'mmcv' deformable-convolution backend needs mmcv with its compiled ops "
                f"({type(exc).__name__}: {exc}). Install it with `pip install -U openmim && "
                "mim install mmcv`, or use the default backend: dcn_backend='torchvision'."
            ) from exc
        return _mmcv_deform_conv
    raise LGFNError(f"unknown deformable-convolution backend {backend!r}; choose one of {BACKENDS}")


class ModulatedDeformConv(nn.Module):
    """A modulated deformable 3x3 convolution whose offsets and mask come from a guide feature.

    ``conv_offset_mask`` maps the guide to ``3 * groups * k * k`` channels, split in order into
    ``(a, b, m)``: offset = ``concat[a, b]``, mask = ``sigmoid(m)``. It starts at zero, so a fresh
    module samples the regular grid with mask 0.5.

    Args:
        in_channels: channels of the feature being sampled.
        out_channels: output channels.
        guide_channels: channels of the guide that predicts offsets and mask.
        kernel_size: square kernel size ``k``.
        deformable_groups: deformable groups; ``in_channels`` must divide by it.
        backend: ``"torchvision"`` or ``"mmcv"`` (see :func:`get_deform_conv`).

    Shapes: ``x (b, in, h, w)``, ``guide (b, guide, h, w)`` -> ``(b, out, h, w)``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        guide_channels: int,
        kernel_size: int = 3,
        deformable_groups: int = 8,
        backend: str = "torchvision",
    ) -> None:
        super().__init__()
        if in_channels % deformable_groups:
            raise ValueError(f"in_channels {in_channels} is not divisible by {deformable_groups} groups")
        self.kernel_size = kernel_size
        self.padding = kernel_size // 2
        self.deformable_groups = deformable_groups
        self.backend = backend
        self._deform_conv = get_deform_conv(backend)
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.empty(out_channels))
        taps = deformable_groups * kernel_size * kernel_size
        self.conv_offset_mask = nn.Conv2d(guide_channels, 3 * taps, kernel_size, padding=self.padding)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Uniform weights in ``±1/sqrt(fan_in)``, zero bias, and a zero offset/mask predictor."""
        bound = 1.0 / math.sqrt(self.weight[0].numel())
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.zeros_(self.bias)
        nn.init.zeros_(self.conv_offset_mask.weight)
        nn.init.zeros_(self.conv_offset_mask.bias)

    def offset_and_mask(self, guide: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Predict sampling offsets ``(b, 2*groups*k*k, h, w)`` and mask ``(b, groups*k*k, h, w)``."""
        a, b, m = torch.chunk(self.conv_offset_mask(guide), 3, dim=1)
        # torchvision's CPU kernel crashes the process on NaN offsets (a diverged model, a NaN
        # input); zero them so the NaN surfaces in the output, where the trainer skips the step.
        offset = torch.nan_to_num(torch.cat([a, b], dim=1), nan=0.0, posinf=0.0, neginf=0.0)
        return offset, torch.sigmoid(m)

    def forward(self, x: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
        offset, mask = self.offset_and_mask(guide)
        dtype = x.dtype
        with torch.autocast(device_type=x.device.type, enabled=False):
            out = self._deform_conv(
                x.float(), offset.float(), mask.float(), self.weight.float(), self.bias.float(),
                self.padding, 1, self.deformable_groups,
            )  # fmt: skip
        return out.to(dtype)

    def extra_repr(self) -> str:
        return f"groups={self.deformable_groups}, backend={self.backend!r}"
