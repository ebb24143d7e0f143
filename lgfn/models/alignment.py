"""Stacked deformable alignment driven by decreasing multi-dilation convolution units (DMDCU).

Each neighbouring frame's feature is warped towards the centre frame's feature by a stack of
modulated deformable convolutions; the offsets of block ``k`` are predicted by ``DMDCU_k``, whose
number of dilated branches decreases with depth (8, 6, 4, 2 for four blocks): wide receptive fields
first for large motions, narrow ones later for refinement.

Attribute names (``offset_conv1``, ``offset_conv2``, ``dc``, ``d_list``) are the authors' so that
their checkpoints load as they are.
"""

from __future__ import annotations

import torch
from torch import nn

from lgfn.models.blocks import conv1x1, conv3x3, lrelu
from lgfn.models.deform_conv import ModulatedDeformConv


class DMDCU(nn.Module):
    """Decreasing multi-dilation convolution unit.

    ``y = LReLU(conv3x3(x))``; branch ``d`` (``d = 1..num_branches``) is
    ``LReLU(conv3x3 dilation d, c -> c/2)`` on ``y``; the branches are concatenated (branch 1 first),
    fused by ``LReLU(conv1x1 -> c)`` and added to ``x``.

    Args:
        num_features: channels ``c`` (even).
        num_branches: number of dilated branches ``n``; dilations ``1..n``.

    Shapes: ``(b, c, h, w) -> (b, c, h, w)``.
    """

    def __init__(self, num_features: int, num_branches: int) -> None:
        super().__init__()
        half = num_features // 2
        self.conv1 = conv3x3(num_features, num_features)
        self.d_list = nn.ModuleList(
            conv3x3(num_features, half, dilation=d) for d in range(1, num_branches + 1)
        )
        self.conv2 = conv1x1(num_branches * half, num_features)
        self.act = lrelu()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self.conv1(x))
        branches = [self.act(conv(y)) for conv in self.d_list]  # n x (b, c/2, h, w)
        return x + self.act(self.conv2(torch.cat(branches, dim=1)))


class StackedDeformableAlignment(nn.Module):
    """Align a neighbour's feature to the reference (centre) feature with stacked deformable convs.

    Block ``k`` (``k = 0..num_blocks-1``):
    ``o = LReLU(conv3x3(concat[current, reference]))``, ``o = DMDCU_k(o)`` with
    ``2 * (num_blocks - k)`` branches, ``current = DCN_k(current, guided by o)``.

    Args:
        num_features: channels ``c``.
        num_blocks: stacked alignment blocks.
        deformable_groups: deformable groups of each DCN.
        dcn_backend: ``"torchvision"`` or ``"mmcv"``.

    Shapes: ``neighbour (b, c, h, w)``, ``reference (b, c, h, w)`` -> ``(b, c, h, w)``.
    """

    def __init__(
        self,
        num_features: int = 64,
        num_blocks: int = 4,
        deformable_groups: int = 8,
        dcn_backend: str = "torchvision",
    ) -> None:
        super().__init__()
        c = num_features
        self.offset_conv1 = nn.ModuleList(conv3x3(2 * c, c) for _ in range(num_blocks))
        self.offset_conv2 = nn.ModuleList(DMDCU(c, 2 * (num_blocks - k)) for k in range(num_blocks))
        self.dc = nn.ModuleList(
            ModulatedDeformConv(c, c, c, 3, deformable_groups, dcn_backend) for _ in range(num_blocks)
        )
        self.act = lrelu()

    def forward(self, neighbour: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        current = neighbour
        for conv, dmdcu, dcn in zip(self.offset_conv1, self.offset_conv2, self.dc, strict=True):
            guide = dmdcu(self.act(conv(torch.cat([current, reference], dim=1))))
            current = dcn(current, guide)
        return current
