"""Spatial tiles: large frames cut into overlapping tiles so that memory stays bounded, the tiles'
outputs blended with linear ramps across each overlap so that no seam shows."""

from __future__ import annotations

from collections.abc import Callable

import torch

#: Runs the network on (cropped) windows: ``(frames (b, t, 3, h, w), features (b, t, c, h, w) or None)``
#: -> float32 ``(b, 3, s*h, s*w)``.
CropForward = Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor]


def tile_starts(size: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of length ``tile`` covering ``[0, size)`` with at least ``overlap`` shared."""
    if tile <= 0 or tile >= size:
        return [0]
    stride = tile - overlap
    starts = list(range(0, size - tile, stride))
    starts.append(size - tile)
    return starts


def _ramp(length: int, overlap_before: int, overlap_after: int) -> torch.Tensor:
    """1-D blending weights: rising over the leading overlap, falling over the trailing one."""
    w = torch.ones(length)
    if overlap_before > 0:
        w[:overlap_before] = torch.arange(1, overlap_before + 1) / (overlap_before + 1)
    if overlap_after > 0:
        w[length - overlap_after :] = torch.arange(overlap_after, 0, -1) / (overlap_after + 1)
    return w


def run_tiled(
    forward: CropForward,
    frames: torch.Tensor,
    features: torch.Tensor | None,
    scale: int,
    tile: int,
    overlap: int,
) -> torch.Tensor:
    """Run ``forward`` tile by tile over the windows and blend the tiles' outputs.

    Args:
        forward: the network on a crop of the windows.
        frames: LR windows ``(b, t, 3, h, w)``.
        features: their extracted features ``(b, t, c, h, w)``, or ``None``.
        scale: the network's upscaling factor ``s``.
        tile: LR tile size in pixels (0 or at least the frame: one pass on whole frames).
        overlap: LR pixels shared by neighbouring tiles.

    Returns:
        float32 ``(b, 3, s*h, s*w)``.
    """
    b, _, _, h, w = frames.shape
    s, device = scale, frames.device
    ys, xs = tile_starts(h, tile, overlap), tile_starts(w, tile, overlap)
    if len(ys) == 1 and len(xs) == 1:
        return forward(frames, features)
    th, tw = min(tile, h), min(tile, w)
    out = torch.zeros(b, 3, s * h, s * w, device=device)
    weight = torch.zeros(1, 1, s * h, s * w, device=device)
    for iy, y0 in enumerate(ys):
        for ix, x0 in enumerate(xs):
            crop = (..., slice(y0, y0 + th), slice(x0, x0 + tw))
            sr = forward(frames[crop], None if features is None else features[crop])
            # Overlap with the previous / next tile on each axis, in HR pixels.
            top = s * (ys[iy - 1] + th - y0) if iy > 0 else 0
            bottom = s * (y0 + th - ys[iy + 1]) if iy + 1 < len(ys) else 0
            left = s * (xs[ix - 1] + tw - x0) if ix > 0 else 0
            right = s * (x0 + tw - xs[ix + 1]) if ix + 1 < len(xs) else 0
            wy = _ramp(s * th, top, bottom).to(device)
            wx = _ramp(s * tw, left, right).to(device)
            wmap = wy[:, None] * wx[None, :]
            region = (..., slice(s * y0, s * (y0 + th)), slice(s * x0, s * (x0 + tw)))
            out[region] += sr * wmap
            weight[region] += wmap
    return out / weight
