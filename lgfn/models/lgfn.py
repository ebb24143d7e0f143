"""LGFN: Local-Global Fusion Network for video super-resolution.

Su, Wang, Jin, Sun, Peng, "Local-Global Fusion Network for Video Super-Resolution", IEEE Access 8,
2020. The network maps ``t`` consecutive low-resolution frames to the super-resolved centre frame:

1. feature extraction (shared by all frames),
2. stacked deformable alignment of every neighbour to the centre frame (:mod:`.alignment`),
3. local and global fusion (:mod:`.fusion`),
4. reconstruction with residual channel attention and sub-pixel upsampling (:mod:`.reconstruction`),
   plus a bilinear upsampling of the centre frame.

With the default arguments this is the authors' network to the last layer: 7,849,837 parameters
and their state-dict keys, so their released checkpoints load as they are.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn

from lgfn.models.alignment import StackedDeformableAlignment
from lgfn.models.blocks import ResidualBlock, channels_last_frames, conv3x3, lrelu, stack_frames
from lgfn.models.deform_conv import ModulatedDeformConv
from lgfn.models.fusion import DualFusion
from lgfn.models.reconstruction import ResidualGroup, Upsampler


@dataclass(frozen=True)
class LGFNConfig:
    """Every architectural number of LGFN; the defaults are the authors' values.

    Attributes:
        scale: upsampling factor (2, 3, 4, or another power of two).
        num_frames: frames ``t`` in the input window, odd and >= 3.
        num_features: feature channels ``c``.
        num_extract_blocks: residual blocks in feature extraction.
        num_align_blocks: stacked deformable alignment blocks (DMDCU branches ``2*(n-k)``).
        num_local_blocks: local fusion blocks.
        num_global_blocks: global fusion blocks.
        num_rcab: RCABs in the reconstruction's residual group.
        reduction: channel reduction of the RCAB attention.
        deformable_groups: deformable groups of each deformable convolution.

    Which kernel computes the deformable convolutions is not architecture: it is :class:`LGFN`'s
    ``dcn_backend`` argument.
    """

    scale: int = 4
    num_frames: int = 7
    num_features: int = 64
    num_extract_blocks: int = 5
    num_align_blocks: int = 4
    num_local_blocks: int = 10
    num_global_blocks: int = 10
    num_rcab: int = 20
    reduction: int = 8
    deformable_groups: int = 8

    def __post_init__(self) -> None:
        if self.num_frames < 3 or self.num_frames % 2 == 0:
            raise ValueError(f"num_frames must be odd and >= 3, got {self.num_frames}")
        if self.num_features % 2 or self.num_features % self.deformable_groups:
            raise ValueError(
                f"num_features ({self.num_features}) must be even and divisible by "
                f"deformable_groups ({self.deformable_groups})"
            )
        for name in (
            "num_extract_blocks",
            "num_align_blocks",
            "num_local_blocks",
            "num_global_blocks",
            "num_rcab",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> LGFNConfig:
        """Build from a dict, rejecting unknown keys by name."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"unknown LGFN config key(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        return cls(**values)


class LGFN(nn.Module):
    """The Local-Global Fusion Network.

    Args:
        scale, num_frames, num_features, num_extract_blocks, num_align_blocks, num_local_blocks,
        num_global_blocks, num_rcab, reduction, deformable_groups: see :class:`LGFNConfig`;
            defaults are the authors' values.
        dcn_backend: ``"torchvision"`` (default), ``"mmcv"`` or ``"grid_sample"``: which kernel
            computes the deformable convolutions (the same function and weights; see
            :mod:`lgfn.models.deform_conv`). Not part of :attr:`config`.

    Shapes: ``(b, t, 3, h, w)`` RGB in [0, 1] -> ``(b, 3, s*h, s*w)``, the centre frame
    super-resolved (not clamped).
    """

    def __init__(
        self,
        scale: int = 4,
        num_frames: int = 7,
        num_features: int = 64,
        num_extract_blocks: int = 5,
        num_align_blocks: int = 4,
        num_local_blocks: int = 10,
        num_global_blocks: int = 10,
        num_rcab: int = 20,
        reduction: int = 8,
        deformable_groups: int = 8,
        dcn_backend: str = "torchvision",
    ) -> None:
        super().__init__()
        self.config = LGFNConfig(
            scale, num_frames, num_features, num_extract_blocks, num_align_blocks, num_local_blocks,
            num_global_blocks, num_rcab, reduction, deformable_groups,
        )  # fmt: skip
        self.dcn_backend = dcn_backend
        c = num_features
        # Feature extraction: conv, LReLU, residual blocks, conv (no skip around the stack).
        self.feat0 = conv3x3(3, c)
        self.res_feat = nn.Sequential(*[ResidualBlock(c) for _ in range(num_extract_blocks)], conv3x3(c, c))
        self.cd_align = StackedDeformableAlignment(c, num_align_blocks, deformable_groups, dcn_backend)
        self.dual_fusion = DualFusion(c, num_frames, num_local_blocks, num_global_blocks)
        # Reconstruction.
        self.merge = conv3x3(num_frames * c, c)
        self.rg = ResidualGroup(c, num_rcab, reduction)
        self.tail = nn.Sequential(Upsampler(scale, c), conv3x3(c, 3))
        self.act = lrelu()

    @classmethod
    def from_config(cls, config: LGFNConfig, **runtime: str) -> LGFN:
        """Build from a config (a subclass's extra fields, such as ``dcn_backend``, are passed on)."""
        return cls(**config.to_dict(), **runtime)

    def set_dcn_backend(self, backend: str) -> None:
        """Switch every deformable convolution to another backend (same weights, same function)."""
        for module in self.modules():
            if isinstance(module, ModulatedDeformConv):
                module.set_backend(backend)
        self.dcn_backend = backend

    @property
    def scale(self) -> int:
        return self.config.scale

    @property
    def num_frames(self) -> int:
        return self.config.num_frames

    def extract_features(self, frames: torch.Tensor) -> torch.Tensor:
        """Per-frame features, ``(b, t, 3, h, w) -> (b, t, c, h, w)``; frames are independent."""
        b, t, _, h, w = frames.shape
        x = self.act(self.feat0(frames.reshape(b * t, 3, h, w)))
        return self.res_feat(x).reshape(b, t, -1, h, w)

    def align(self, features: torch.Tensor) -> torch.Tensor:
        """Align every neighbour to the centre feature, ``(b, t, c, h, w) -> (b, t, c, h, w)``.

        The centre feature passes through unchanged. The alignment weights are shared by all
        neighbours, so they are stacked along the batch and aligned in one pass.
        """
        b, t, c, h, w = features.shape
        m = t // 2
        frames = features.unbind(1)
        # Frame-major stacks (all samples' neighbour 0, then neighbour 1, ...) built with cat, which
        # keeps channels-last frames channels-last; each sample still meets its own reference.
        neighbours = torch.cat(frames[:m] + frames[m + 1 :])  # ((t-1)*b, c, h, w)
        aligned = self.cd_align(neighbours, torch.cat([frames[m]] * (t - 1))).split(b)
        return stack_frames([*aligned[:m], frames[m], *aligned[m:]])

    def reconstruct(self, fused: torch.Tensor, centre_feature: torch.Tensor) -> torch.Tensor:
        """Fused features ``(b, t, c, h, w)`` and centre feature ``(b, c, h, w)`` -> residual image.

        Returns:
            ``(b, 3, s*h, s*w)``, to be added to the upsampled centre frame.
        """
        b, t, c, h, w = fused.shape
        # Frames side by side along the channels; cat keeps channels-last frames channels-last.
        stacked = (
            torch.cat(fused.unbind(1), dim=1)
            if channels_last_frames(fused)
            else fused.reshape(b, t * c, h, w)
        )
        x = self.act(self.merge(stacked))
        x = self.rg(x) + centre_feature
        return self.tail(x)

    def forward_features(self, features: torch.Tensor, centre_frame: torch.Tensor) -> torch.Tensor:
        """Everything after feature extraction.

        Lets a caller that extracts each frame's features once reuse them in every window that
        contains the frame (see :mod:`lgfn.inference`).

        Args:
            features: ``(b, t, c, h, w)`` from :meth:`extract_features`.
            centre_frame: ``(b, 3, h, w)``, the LR centre frame.

        Returns:
            ``(b, 3, s*h, s*w)``.
        """
        m = features.shape[1] // 2
        fused = self.dual_fusion(self.align(features))
        residual = self.reconstruct(fused, features[:, m])
        skip = F.interpolate(centre_frame, scale_factor=self.scale, mode="bilinear", align_corners=False)
        return residual + skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 5 or x.shape[1] != self.num_frames or x.shape[2] != 3:
            raise ValueError(f"expected input (b, {self.num_frames}, 3, h, w), got {tuple(x.shape)}")
        return self.forward_features(self.extract_features(x), x[:, self.num_frames // 2])
