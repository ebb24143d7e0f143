"""Spatial tiles and the x8 self-ensemble of VideoSuperResolver."""

from __future__ import annotations

import numpy as np
import torch

from lgfn.data.windows import window_indices
from lgfn.inference import VideoSuperResolver, tile_starts, to_tensor


def test_tile_starts_cover_the_frame():
    assert tile_starts(10, 0, 4) == [0]
    assert tile_starts(10, 16, 4) == [0]
    assert tile_starts(20, 8, 2) == [0, 6, 12]
    for size, tile, overlap in [(37, 12, 4), (50, 16, 8)]:
        starts = tile_starts(size, tile, overlap)
        assert starts[0] == 0 and starts[-1] + tile == size
        assert all(b - a <= tile - overlap for a, b in zip(starts, starts[1:], strict=False))


def test_tiled_output_is_close_to_untiled(model, run_float):
    rng = np.random.default_rng(1)
    base = rng.integers(0, 256, (40, 44, 3))
    frames = [np.roll(base, i, axis=0).astype(np.uint8) for i in range(5)]
    whole = run_float(VideoSuperResolver(model), frames)
    tiled = run_float(VideoSuperResolver(model, tile=32, tile_overlap=16), frames)
    diffs = [(a - b).abs() for a, b in zip(whole, tiled, strict=True)]
    # Tiles see less context near their borders; with 16 px overlap the blend keeps the largest
    # difference under 1e-2 (2.5 grey levels) and the mean under 1e-3.
    assert max(d.max().item() for d in diffs) < 1e-2
    assert np.mean([d.mean().item() for d in diffs]) < 1e-3
    few = run_float(VideoSuperResolver(model, tile=24, tile_overlap=2), frames)
    err_small_overlap = max((a - b).abs().max().item() for a, b in zip(whole, few, strict=True))
    assert max(d.max().item() for d in diffs) < err_small_overlap


def test_self_ensemble_averages_the_eight_transforms(model, clip, run_float):
    frames = clip[:5]
    got = run_float(VideoSuperResolver(model, self_ensemble=True), frames)
    x = torch.stack([to_tensor(f, torch.device("cpu")) for f in frames])
    expected = []
    with torch.no_grad():
        for k in range(5):
            window = x[window_indices(k, 5, 5, "new_info")][None]
            acc = 0
            for transpose in (False, True):
                for dims in ([], [-2], [-1], [-2, -1]):
                    y = window.transpose(-2, -1) if transpose else window
                    y = y.flip(dims) if dims else y
                    out = model(y)
                    out = out.flip(dims) if dims else out
                    acc = acc + (out.transpose(-2, -1) if transpose else out)
            expected.append(acc[0] / 8)
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=0)
