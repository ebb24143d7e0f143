"""Counting LGFN's parameters and multiply-accumulates (MACs).

Convolutions are counted exactly from the shapes a real forward pass produces. The deformable
convolutions are reported apart from the regular ones, in two parts: the weighted sum over the
sampled values (the MACs of a regular conv of the same size) and the sampling itself (one bilinear
interpolation, 4 MACs, plus one mask multiply for every sampled value). The paper's "about 40.4 M
MACs per LR pixel" is the regular convolutions alone.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import torch
from torch import nn

from lgfn.models.deform_conv import ModulatedDeformConv
from lgfn.models.lgfn import LGFN

#: MACs per sampled value of the deformable sampling: 4 bilinear taps plus the mask.
SAMPLING_MACS_PER_VALUE = 5


@dataclass
class MacCount:
    """MACs of one forward pass, by top-level component.

    Attributes:
        conv: regular-convolution MACs per component (``feat0``, ``res_feat``, ``cd_align``, ...).
        deform: MACs of the deformable convolutions' weighted sums.
        sampling: MACs of the deformable sampling (bilinear interpolation and mask).
        output_frames: output frames the pass produced (the batch size).
    """

    conv: dict[str, int] = field(default_factory=dict)
    deform: int = 0
    sampling: int = 0
    output_frames: int = 1

    @property
    def conv_total(self) -> int:
        return sum(self.conv.values())


def count_parameters(model: nn.Module) -> dict[str, int]:
    """Parameters per top-level child, plus ``"total"``."""
    counts = {name: sum(p.numel() for p in child.parameters()) for name, child in model.named_children()}
    counts = {k: v for k, v in counts.items() if v}
    counts["total"] = sum(p.numel() for p in model.parameters())
    return counts


def count_macs(model: LGFN, lr_height: int, lr_width: int) -> MacCount:
    """Run one forward pass on a ``(1, t, 3, h, w)`` zero input and count MACs with hooks.

    Args:
        model: the network (any configuration).
        lr_height, lr_width: low-resolution frame size.

    Returns:
        The MACs for producing one output frame.
    """
    per_component: dict[str, int] = defaultdict(int)
    deform = sampling = 0
    handles = []

    def conv_hook(name: str):
        def hook(module: nn.Conv2d, inputs, output: torch.Tensor) -> None:
            kh, kw = module.kernel_size
            per_component[name] += output.numel() * (module.in_channels // module.groups) * kh * kw

        return hook

    def deform_hook():
        def hook(module: ModulatedDeformConv, inputs, output: torch.Tensor) -> None:
            nonlocal deform, sampling
            x = inputs[0]
            k = module.kernel_size
            positions = output.shape[0] * output.shape[2] * output.shape[3]
            deform += output.numel() * x.shape[1] * k * k
            sampling += positions * x.shape[1] * k * k * SAMPLING_MACS_PER_VALUE

        return hook

    for top, child in model.named_children():
        for module in child.modules():
            if isinstance(module, nn.Conv2d):
                handles.append(module.register_forward_hook(conv_hook(top)))
            if isinstance(module, ModulatedDeformConv):
                handles.append(module.register_forward_hook(deform_hook()))
    try:
        with torch.no_grad():
            model(torch.zeros(1, model.num_frames, 3, lr_height, lr_width))
    finally:
        for handle in handles:
            handle.remove()
    return MacCount(conv=dict(per_component), deform=deform, sampling=sampling, output_frames=1)
