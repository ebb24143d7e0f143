"""Building blocks shared by several LGFN components.

Attribute names follow the authors' release (``body``) so that their state dicts load
into this package without renaming any key.
"""

from __future__ import annotations

import torch
from torch import nn

#: Negative slope of every LeakyReLU in LGFN.
LRELU_SLOPE = 0.1


def is_channels_last(x: torch.Tensor) -> bool:
    """Whether the ``(b, c, h, w)`` tensor ``x`` is stored channels-last (and not also contiguous)."""
    return x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()


def channels_last_frames(x: torch.Tensor) -> bool:
    """Whether the frames of ``x`` (``(b, t, c, h, w)``) are channels-last: channels innermost."""
    return x.stride(2) == 1 and x.shape[2] > 1


def stack_frames(frames: list[torch.Tensor] | tuple[torch.Tensor, ...]) -> torch.Tensor:
    """``torch.stack(frames, dim=1)`` that keeps channels-last ``(b, c, h, w)`` frames channels-last.

    The result is ``(b, t, c, h, w)``; with channels-last frames its ``reshape(b * t, c, h, w)`` is
    a channels-last view, so the convolutions that follow need no layout conversion.
    """
    first = frames[0]
    if not is_channels_last(first):
        return torch.stack(frames, dim=1)
    b, c, h, w = first.shape
    out = torch.empty(
        (b * len(frames), c, h, w), dtype=first.dtype, device=first.device, memory_format=torch.channels_last
    ).view(b, len(frames), c, h, w)
    for i, frame in enumerate(frames):
        out[:, i] = frame
    return out


def conv3x3(in_channels: int, out_channels: int, dilation: int = 1) -> nn.Conv2d:
    """A 3x3 convolution with bias whose padding keeps the spatial size (padding = dilation)."""
    return nn.Conv2d(in_channels, out_channels, 3, padding=dilation, dilation=dilation)


def conv1x1(in_channels: int, out_channels: int) -> nn.Conv2d:
    """A 1x1 convolution with bias."""
    return nn.Conv2d(in_channels, out_channels, 1)


def lrelu() -> nn.LeakyReLU:
    """The LeakyReLU used throughout LGFN (slope 0.1)."""
    return nn.LeakyReLU(LRELU_SLOPE, inplace=True)


class ResidualBlock(nn.Module):
    """conv3x3 -> LeakyReLU -> conv3x3, plus the input (no residual scaling).

    Args:
        num_features: channels ``c`` of input and output.

    Shapes: ``(b, c, h, w) -> (b, c, h, w)``.
    """

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv3x3(num_features, num_features), lrelu(), conv3x3(num_features, num_features)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)
