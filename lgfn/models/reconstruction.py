"""Reconstruction: residual channel attention (RCAN's RCAB and residual group) and the upsampler.

Attribute names (``body``, ``conv_du``) are the authors' so that their checkpoints load as they are.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from lgfn.models.blocks import conv1x1, conv3x3


class ChannelAttention(nn.Module):
    """Squeeze-and-excitation channel attention of RCAN.

    Global average pool, conv1x1 ``c -> c // reduction``, ReLU, conv1x1 back to ``c``, sigmoid, and
    the input multiplied by the resulting per-channel weights.

    Args:
        num_features: channels ``c``.
        reduction: channel reduction of the squeeze step.

    Shapes: ``(b, c, h, w) -> (b, c, h, w)``.
    """

    def __init__(self, num_features: int, reduction: int) -> None:
        super().__init__()
        squeezed = num_features // reduction
        if squeezed < 1:
            raise ValueError(f"reduction {reduction} leaves no channels of {num_features}")
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.conv_du = nn.Sequential(
            conv1x1(num_features, squeezed),
            nn.ReLU(inplace=True),
            conv1x1(squeezed, num_features),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.conv_du(self.avg_pool(x))


class RCAB(nn.Module):
    """Residual channel attention block: conv3x3, ReLU, conv3x3, channel attention, plus the input.

    Args:
        num_features: channels ``c``.
        reduction: channel reduction of the attention.

    Shapes: ``(b, c, h, w) -> (b, c, h, w)``.
    """

    def __init__(self, num_features: int, reduction: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv3x3(num_features, num_features),
            nn.ReLU(inplace=True),
            conv3x3(num_features, num_features),
            ChannelAttention(num_features, reduction),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResidualGroup(nn.Module):
    """``num_blocks`` RCABs then one conv3x3, plus the group input.

    Args:
        num_features: channels ``c``.
        num_blocks: RCABs in the group.
        reduction: channel reduction of each RCAB's attention.

    Shapes: ``(b, c, h, w) -> (b, c, h, w)``.
    """

    def __init__(self, num_features: int, num_blocks: int, reduction: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [RCAB(num_features, reduction) for _ in range(num_blocks)]
        layers.append(conv3x3(num_features, num_features))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class Upsampler(nn.Sequential):
    """Sub-pixel upsampling by ``scale``, without activations.

    For a power of two, ``log2(scale)`` stages of (conv3x3 ``c -> 4c``, pixel shuffle 2); for 3 one
    conv3x3 ``c -> 9c`` and pixel shuffle 3.

    Args:
        scale: upsampling factor, a power of two or 3.
        num_features: channels ``c``.

    Shapes: ``(b, c, h, w) -> (b, c, scale*h, scale*w)``.
    """

    def __init__(self, scale: int, num_features: int) -> None:
        layers: list[nn.Module] = []
        if scale >= 2 and scale & (scale - 1) == 0:
            for _ in range(int(math.log2(scale))):
                layers += [conv3x3(num_features, 4 * num_features), nn.PixelShuffle(2)]
        elif scale == 3:
            layers += [conv3x3(num_features, 9 * num_features), nn.PixelShuffle(3)]
        else:
            raise ValueError(f"scale must be 3 or a power of two >= 2, got {scale}")
        super().__init__(*layers)
