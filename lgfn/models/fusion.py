"""Local and global fusion of the aligned features, and the dual-branch module that merges them.

The local branch fuses the frames one after another, carrying a running feature ``r`` through the
sequence; the global branch mixes all frames at once through a channel shuffle across time. Their
outputs are merged frame by frame.

Attribute names (``lc_fusion_blocks``, ``gl_fusion_blocks``, ``conv2c``, ...) are the authors' so that
their checkpoints load as they are.
"""

from __future__ import annotations

import torch
from torch import nn

from lgfn.models.blocks import ResidualBlock, conv1x1, conv3x3, lrelu, stack_frames


class LocalFusionBlock(nn.Module):
    """One local fusion block: fuse a running feature with each frame in turn.

    Start ``r = A[0]``; for ``i = 0..t-1`` (frame 0 fused with itself):
    ``p = LReLU(conv3x3(concat[r, A[i]]))``, ``q = LReLU(conv1x1(concat[p, A[i]]))``,
    ``r = two residual blocks (q) + A[i]``, and ``output[i] = r``.

    Args:
        num_features: channels ``c``.

    Shapes: a list of ``t`` tensors ``(b, c, h, w)`` -> a list of ``t`` tensors ``(b, c, h, w)``.
    """

    def __init__(self, num_features: int = 64) -> None:
        super().__init__()
        c = num_features
        self.conv1 = conv3x3(2 * c, c)
        self.conv2 = conv1x1(2 * c, c)
        self.res_block = nn.Sequential(ResidualBlock(c), ResidualBlock(c))
        self.act = lrelu()

    def forward(self, frames: list[torch.Tensor]) -> list[torch.Tensor]:
        running = frames[0]
        outputs = []
        for frame in frames:
            p = self.act(self.conv1(torch.cat([running, frame], dim=1)))
            q = self.act(self.conv2(torch.cat([p, frame], dim=1)))
            running = self.res_block(q) + frame
            outputs.append(running)
        return outputs


def temporal_channel_shuffle(x: torch.Tensor, num_frames: int) -> torch.Tensor:
    """Exchange channel groups across frames; the operation is its own inverse.

    New frame ``j`` is the concatenation over source frames ``i = 0..t-1`` of channels
    ``[j*g, (j+1)*g)`` of frame ``i``, where ``g = e // t``.

    Args:
        x: ``(b*t, e, h, w)`` with ``e`` divisible by ``t``, frames of one sample consecutive.
        num_frames: ``t``.

    Returns:
        ``(b*t, e, h, w)``.
    """
    bt, e, h, w = x.shape
    t = num_frames
    g = e // t
    shape = (bt // t, t, t, g, h, w)  # (b, source i, group j, g, h, w)
    out = torch.empty_like(x)  # keeps x's memory format (channels-last in fast inference)
    out.view(shape).copy_(x.reshape(shape).transpose(1, 2))  # (b, group j, source i, g, h, w)
    return out


class GlobalFusionBlock(nn.Module):
    """One global fusion block: multi-branch convolutions on temporally shuffled channels.

    With ``g = c // t`` and ``e = g * t``: ``u = LReLU(conv3x3 c -> e)`` per frame; shuffle;
    ``v = LReLU(conv1x1 e -> e//2)``; three branches ending in LReLU (conv1x1; conv3x3;
    conv3x3-LReLU-conv3x3); concatenated and fused by ``LReLU(conv3x3 3*(e//2) -> e)``; shuffle
    back; ``conv3x3 e -> c``; plus the block input.

    Args:
        num_features: channels ``c``.
        num_frames: frames ``t``; ``c // t`` must be at least 1.

    Shapes: ``(b, t, c, h, w) -> (b, t, c, h, w)``.
    """

    def __init__(self, num_features: int = 64, num_frames: int = 7) -> None:
        super().__init__()
        c, t = num_features, num_frames
        g = c // t
        if g < 1:
            raise ValueError(f"global fusion needs num_features >= num_frames, got {c} < {t}")
        e = g * t
        half = e // 2
        self.num_frames = t
        self.conv1 = conv3x3(c, e)
        self.conv2c = conv1x1(e, half)
        self.conv21 = conv1x1(half, half)
        self.conv22 = conv3x3(half, half)
        self.conv23 = nn.Sequential(conv3x3(half, half), lrelu(), conv3x3(half, half))
        self.conv2m = conv3x3(3 * half, e)
        self.conv3 = conv3x3(e, c)
        self.act = lrelu()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c, h, w = x.shape
        u = self.act(self.conv1(x.reshape(b * t, c, h, w)))  # (b*t, e, h, w)
        u = temporal_channel_shuffle(u, t)
        v = self.act(self.conv2c(u))  # (b*t, e//2, h, w)
        branches = [self.act(self.conv21(v)), self.act(self.conv22(v)), self.act(self.conv23(v))]
        u = self.act(self.conv2m(torch.cat(branches, dim=1)))  # (b*t, e, h, w)
        u = temporal_channel_shuffle(u, t)
        return x + self.conv3(u).reshape(b, t, c, h, w)


class DualFusion(nn.Module):
    """Local and global fusion branches side by side, merged per frame by ``LReLU(conv1x1 2c -> c)``.

    Args:
        num_features: channels ``c``.
        num_frames: frames ``t``.
        num_local_blocks: local fusion blocks in series.
        num_global_blocks: global fusion blocks in series.

    Shapes: aligned features ``(b, t, c, h, w)`` -> fused features ``(b, t, c, h, w)``.
    """

    def __init__(
        self,
        num_features: int = 64,
        num_frames: int = 7,
        num_local_blocks: int = 10,
        num_global_blocks: int = 10,
    ) -> None:
        super().__init__()
        c = num_features
        self.lc_fusion_blocks = nn.ModuleList(LocalFusionBlock(c) for _ in range(num_local_blocks))
        self.gl_fusion_blocks = nn.ModuleList(
            GlobalFusionBlock(c, num_frames) for _ in range(num_global_blocks)
        )
        self.merge = conv1x1(2 * c, c)
        self.act = lrelu()

    def forward(self, aligned: torch.Tensor) -> torch.Tensor:
        b, t, c, h, w = aligned.shape
        local = list(aligned.unbind(dim=1))
        for block in self.lc_fusion_blocks:
            local = block(local)
        glob = aligned
        for block in self.gl_fusion_blocks:
            glob = block(glob)
        # Both branches, frames along the batch, so that the shared merge conv runs once.
        both = torch.cat([stack_frames(local).reshape(b * t, c, h, w), glob.reshape(b * t, c, h, w)], dim=1)
        merged = self.act(self.merge(both))  # (b*t, c, h, w)
        return merged.reshape(b, t, c, h, w)
