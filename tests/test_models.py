"""The network: faithfulness to the authors' release, shapes, gradients, determinism."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from lgfn.models import DMDCU, LGFN, GlobalFusionBlock, LocalFusionBlock, ModulatedDeformConv
from lgfn.models.fusion import temporal_channel_shuffle
from tests.helpers import TINY_MODEL

DATA = Path(__file__).parent / "data"


def authors_keys() -> dict[str, list[int]]:
    return json.loads((DATA / "lgfn_x4_authors_state_dict.json").read_text())


def authors_state_dict() -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """The golden recipe: seeded weights in the authors' key order, then the input."""
    g = torch.Generator().manual_seed(2020)
    state = {}
    for key, shape in authors_keys().items():
        t = torch.randn(shape, generator=g)
        if len(shape) == 4:
            gain = 15.0 if "conv_offset_mask" in key else 0.75
            t = t * gain / math.sqrt(shape[1] * shape[2] * shape[3])
        else:
            t = t * 0.01
        state[key] = t
    x = torch.rand((1, 7, 3, 32, 40), generator=g)
    return state, x


def test_default_parameter_count_and_keys_match_the_authors():
    model = LGFN()
    assert sum(p.numel() for p in model.parameters()) == 7_849_837
    keys = authors_keys()
    state = model.state_dict()
    assert len(state) == 556
    assert list(state) == list(keys)
    assert {k: list(v.shape) for k, v in state.items()} == keys


def test_golden_output_through_load_model(tmp_path):
    import lgfn

    state, x = authors_state_dict()
    np.testing.assert_array_equal(x.numpy(), np.load(DATA / "golden_x4" / "input.npy"))
    path = tmp_path / "authors.pth"
    torch.save(state, path)  # the authors' format: a plain state dict
    model = lgfn.load_model(path)
    assert not model.training
    with torch.no_grad():
        y = model(x)
    expected = np.load(DATA / "golden_x4" / "expected_output.npy")
    err = np.abs(y.numpy() - expected).max()
    assert err < 1e-5, f"max abs error {err}"


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("frames", [3, 5, 7])
def test_output_shapes(scale, frames):
    torch.manual_seed(0)
    model = LGFN(scale=scale, num_frames=frames, **TINY_MODEL).eval()
    with torch.no_grad():
        y = model(torch.rand(2, frames, 3, 12, 10))
    assert y.shape == (2, 3, 12 * scale, 10 * scale)
    assert torch.isfinite(y).all()


def test_wrong_input_shape_is_rejected(tiny_model):
    with pytest.raises(ValueError, match=r"expected input \(b, 5, 3, h, w\)"):
        tiny_model(torch.rand(1, 7, 3, 8, 8))


def test_invalid_configurations_are_rejected():
    with pytest.raises(ValueError, match="odd"):
        LGFN(num_frames=4)
    with pytest.raises(ValueError, match="scale"):
        LGFN(scale=5, **TINY_MODEL)


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    model = LGFN(scale=2, num_frames=3, **TINY_MODEL)
    # The offset predictors start at zero, which blocks the gradient to the layers that feed them;
    # a trained model has non-zero ones, so give them small random weights.
    for dcn in model.cd_align.dc:
        torch.nn.init.normal_(dcn.conv_offset_mask.weight, std=0.01)
    y = model(torch.rand(1, 3, 3, 10, 12))
    y.square().mean().backward()
    dead = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert dead == []


def test_same_seed_same_output():
    def run() -> torch.Tensor:
        torch.manual_seed(123)
        model = LGFN(scale=4, num_frames=5, **TINY_MODEL).eval()
        x = torch.rand(1, 5, 3, 9, 11)
        with torch.no_grad():
            return model(x)

    assert torch.equal(run(), run())


def test_offset_predictor_starts_at_zero():
    dcn = ModulatedDeformConv(8, 8, 8, deformable_groups=2)
    offset, mask = dcn.offset_and_mask(torch.rand(1, 8, 5, 5))
    assert offset.shape == (1, 2 * 2 * 9, 5, 5) and mask.shape == (1, 2 * 9, 5, 5)
    assert torch.all(offset == 0) and torch.allclose(mask, torch.full_like(mask, 0.5))
    # With zero offsets the deformable conv is a plain conv scaled by the mask.
    x = torch.rand(1, 8, 5, 5)
    plain = torch.nn.functional.conv2d(x, dcn.weight * 0.5, dcn.bias, padding=1)
    torch.testing.assert_close(dcn(x, torch.rand(1, 8, 5, 5)), plain, atol=1e-5, rtol=1e-5)


def test_offset_layout_is_dcnv2_per_group_per_tap_dy_dx():
    """An offset of (dy, dx) = (0, 1) on every tap shifts the sampling one pixel to the right."""
    dcn = ModulatedDeformConv(1, 1, 1, deformable_groups=1)
    with torch.no_grad():
        dcn.weight.zero_()
        dcn.bias.zero_()
        dcn.weight[0, 0, 1, 1] = 1.0  # identity kernel
        # Channels (a, b, m): a = taps 0..4 as (dy, dx) pairs, b = taps 4.5..8; dx of every tap = 1.
        bias = torch.zeros(27)
        bias[1:18:2] = 1.0
        bias[18:] = 20.0  # sigmoid ~ 1
        dcn.conv_offset_mask.bias.copy_(bias)
    x = torch.arange(25.0).reshape(1, 1, 5, 5)
    y = dcn(x, torch.zeros(1, 1, 5, 5))
    torch.testing.assert_close(y[0, 0, :, :4], x[0, 0, :, 1:], atol=1e-4, rtol=0)


def test_dmdcu_branch_dilations():
    unit = DMDCU(8, 3)
    assert [c.dilation for c in unit.d_list] == [(1, 1), (2, 2), (3, 3)]
    assert [c.out_channels for c in unit.d_list] == [4, 4, 4]
    assert unit.conv2.in_channels == 12


def test_alignment_branch_counts_decrease():
    model = LGFN()
    assert [len(u.d_list) for u in model.cd_align.offset_conv2] == [8, 6, 4, 2]


def test_channel_shuffle_matches_definition_and_is_an_involution():
    b, t, g, h, w = 2, 3, 4, 2, 2
    x = torch.randn(b * t, g * t, h, w)
    y = temporal_channel_shuffle(x, t)
    for s in range(b):
        for j in range(t):
            expected = torch.cat([x[s * t + i, j * g : (j + 1) * g] for i in range(t)])
            torch.testing.assert_close(y[s * t + j], expected)
    torch.testing.assert_close(temporal_channel_shuffle(y, t), x)
    # A channels-last input gives the same values, still channels-last.
    y_cl = temporal_channel_shuffle(x.contiguous(memory_format=torch.channels_last), t)
    assert torch.equal(y_cl, y) and y_cl.is_contiguous(memory_format=torch.channels_last)


def test_local_fusion_block_follows_the_recurrence():
    torch.manual_seed(0)
    block = LocalFusionBlock(8).eval()
    frames = [torch.randn(1, 8, 4, 4) for _ in range(3)]
    act = torch.nn.LeakyReLU(0.1)
    r = frames[0]
    expected = []
    for a in frames:
        p = act(block.conv1(torch.cat([r, a], 1)))
        q = act(block.conv2(torch.cat([p, a], 1)))
        r = block.res_block(q) + a
        expected.append(r)
    for got, want in zip(block(frames), expected, strict=True):
        torch.testing.assert_close(got, want)


def test_global_fusion_block_widths():
    block = GlobalFusionBlock(64, 7)
    assert block.conv1.out_channels == 63 and block.conv2c.out_channels == 31
    assert block.conv2m.in_channels == 93 and block.conv3.out_channels == 64
    assert block(torch.randn(1, 7, 64, 3, 3)).shape == (1, 7, 64, 3, 3)


def test_forward_features_equals_forward(tiny_model):
    x = torch.rand(2, 5, 3, 8, 9)
    with torch.no_grad():
        full = tiny_model(x)
        staged = tiny_model.forward_features(tiny_model.extract_features(x), x[:, 2])
    torch.testing.assert_close(full, staged)
