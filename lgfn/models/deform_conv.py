"""Modulated deformable convolution (DCNv2) behind one interface with three backends.

``torchvision`` (the default) calls :func:`torchvision.ops.deform_conv2d`, which runs on CPU and CUDA
with nothing to compile. ``mmcv`` calls ``mmcv.ops.modulated_deform_conv2d`` and is used only when
asked for. ``grid_sample`` is written in plain PyTorch: bilinear sampling of every kernel tap with
:func:`torch.nn.functional.grid_sample`, then one matrix product; it computes the same function
(zero outside the image, the same corner weights) and is several times faster than torchvision's
CPU kernel, so the fast inference path uses it. All take offsets in the standard DCNv2 layout: for
each deformable group, for each kernel tap, the pair ``(dy, dx)``.

The sampling always runs in float32: under autocast or with half-precision inputs the operands are
cast up and the result cast back, because bilinear sampling at fractional offsets in bf16/fp16
loses the sub-pixel precision that alignment relies on.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from lgfn.errors import LGFNError
from lgfn.models.blocks import is_channels_last

BACKENDS = ("torchvision", "mmcv", "grid_sample")
#: The grid_sample backend samples at most about this many values at once (bounds its memory).
_GRID_SAMPLE_CHUNK = 64 * 2**20

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


def _grid_sample_deform_conv(
    x: torch.Tensor,
    offset: torch.Tensor,
    mask: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    padding: int,
    dilation: int,
    deformable_groups: int,
) -> torch.Tensor:
    b, c, h, w = x.shape
    out_channels, _, kh, kw = weight.shape
    g, k = deformable_groups, kh * kw
    ho, wo = h + 2 * padding - dilation * (kh - 1), w + 2 * padding - dilation * (kw - 1)
    device, dtype = x.device, x.dtype
    # Regular sampling positions of each tap (row-major over the kernel), in input pixels, then in
    # grid_sample's coordinates (align_corners=False maps pixel p to (2p + 1) / size - 1), so that
    # an offset d moves a sample by 2d / size there.
    tap_y = (torch.arange(kh, device=device, dtype=dtype) * dilation).repeat_interleave(kw)
    tap_x = (torch.arange(kw, device=device, dtype=dtype) * dilation).repeat(kh)
    base_y = (torch.arange(ho, device=device, dtype=dtype) - padding)[None, :, None] + tap_y[:, None, None]
    base_x = (torch.arange(wo, device=device, dtype=dtype) - padding)[None, None, :] + tap_x[:, None, None]
    base_y, base_x = (2 * base_y + 1) / h - 1, (2 * base_x + 1) / w - 1  # (k, ho, 1), (k, 1, wo)
    weight = weight.reshape(out_channels, c * k)
    # Without autograd the big intermediates are written in place (the same values, less memory).
    inplace = not (torch.is_grad_enabled() and any(t.requires_grad for t in (x, offset, mask)))
    # Channels-last in, channels-last out: the product is then computed pixel-major.
    channels_last = is_channels_last(x)
    step = max(1, _GRID_SAMPLE_CHUNK // max(1, c * k * ho * wo))
    if torch.compiler.is_exporting():
        # An exported graph keeps the loop's trip count of the traced size; a graph for every frame
        # size must sample the whole batch at once.
        step = b
    outs = []
    for start in range(0, b, step):
        xb, ob, mb = x[start : start + step], offset[start : start + step], mask[start : start + step]
        n = xb.shape[0]
        off = ob.reshape(n, g, k, 2, ho, wo)  # per group, per tap, (dy, dx)
        if inplace:
            grid = torch.empty(n, g, k, ho, wo, 2, device=device, dtype=dtype)
            torch.add(base_x, off[:, :, :, 1], alpha=2 / w, out=grid[..., 0])
            torch.add(base_y, off[:, :, :, 0], alpha=2 / h, out=grid[..., 1])
        else:
            grid_x, grid_y = base_x + off[:, :, :, 1] * (2 / w), base_y + off[:, :, :, 0] * (2 / h)
            grid = torch.stack([grid_x, grid_y], dim=-1)
        sampled = F.grid_sample(
            xb.reshape(n * g, c // g, h, w),
            grid.reshape(n * g, k * ho, wo, 2),
            mode="bilinear",
            padding_mode="zeros",
            align_corners=False,
        ).reshape(n, g, c // g, k, ho, wo)  # zero outside the image
        mb = mb.reshape(n, g, 1, k, ho, wo)
        sampled = sampled.mul_(mb) if inplace else sampled * mb
        cols = sampled.reshape(n, c * k, ho * wo)  # channel-major, then tap: the weight's layout
        if channels_last:
            outs.append(
                torch.baddbmm(bias, cols.transpose(1, 2), weight.t().expand(n, -1, -1))
            )  # (n, P, out)
        else:
            outs.append(torch.baddbmm(bias[:, None], weight.expand(n, -1, -1), cols))  # (n, out, P)
    out = outs[0] if len(outs) == 1 else torch.cat(outs)
    if channels_last:
        return out.view(b, ho, wo, out_channels).permute(0, 3, 1, 2)
    return out.view(b, out_channels, ho, wo)


def get_deform_conv(backend: str) -> DeformFn:
    """Return the modulated deformable convolution function of ``backend``.

    Args:
        backend: ``"torchvision"``, ``"mmcv"`` or ``"grid_sample"``.

    Returns:
        ``fn(x, offset, mask, weight, bias, padding, dilation, deformable_groups) -> out``.

    Raises:
        LGFNError: the backend is unknown, or ``"mmcv"`` was asked for but mmcv's compiled ops do
            not import.
    """
    if backend == "torchvision":
        return _torchvision_deform_conv
    if backend == "grid_sample":
        return _grid_sample_deform_conv
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
        backend: ``"torchvision"``, ``"mmcv"`` or ``"grid_sample"`` (see :func:`get_deform_conv`).

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
        self.set_backend(backend)
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.empty(out_channels))
        taps = deformable_groups * kernel_size * kernel_size
        self.conv_offset_mask = nn.Conv2d(guide_channels, 3 * taps, kernel_size, padding=self.padding)
        self.reset_parameters()

    def set_backend(self, backend: str) -> None:
        """Switch the implementation; the weights and the function computed stay the same."""
        self._deform_conv = get_deform_conv(backend)
        self.backend = backend

    def reset_parameters(self) -> None:
        """Weights and bias uniform in ``±1/sqrt(fan_in)`` (the authors' DCN module, like PyTorch's
        convolutions), and a zero offset/mask predictor (the sampling starts on the regular grid)."""
        bound = 1.0 / math.sqrt(self.weight[0].numel())
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)
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
