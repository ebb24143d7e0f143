"""The deformable-convolution backends."""

from __future__ import annotations

import importlib.util
import math

import pytest
import torch

from lgfn.errors import LGFNError
from lgfn.models import LGFN, ModulatedDeformConv, get_deform_conv


def _mmcv_ops_available() -> bool:
    if importlib.util.find_spec("mmcv") is None:
        return False
    try:
        from mmcv.ops import modulated_deform_conv2d  # noqa: F401
    except Exception:
        return False
    return True


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(LGFNError, match="unknown deformable-convolution backend 'cuda_ext'"):
        get_deform_conv("cuda_ext")


@pytest.mark.skipif(
    _mmcv_ops_available(), reason="mmcv is installed here; the missing-mmcv message cannot show"
)
def test_mmcv_backend_without_mmcv_says_how_to_fix_it():
    with pytest.raises(LGFNError, match=r"mim install mmcv.*dcn_backend='torchvision'"):
        LGFN(dcn_backend="mmcv")


@pytest.mark.skipif(not _mmcv_ops_available(), reason="mmcv with compiled ops is not installed")
def test_mmcv_and_torchvision_backends_agree():
    torch.manual_seed(0)
    ref = ModulatedDeformConv(16, 16, 16, deformable_groups=4, backend="torchvision")
    torch.nn.init.normal_(ref.conv_offset_mask.weight, std=0.3)
    other = ModulatedDeformConv(16, 16, 16, deformable_groups=4, backend="mmcv")
    other.load_state_dict(ref.state_dict())
    device = "cuda" if torch.cuda.is_available() else "cpu"
    ref, other = ref.to(device), other.to(device)
    x, guide = torch.randn(2, 16, 9, 11, device=device), torch.randn(2, 16, 9, 11, device=device)
    torch.testing.assert_close(other(x, guide), ref(x, guide), atol=1e-4, rtol=1e-4)


def test_sampling_stays_fp32_under_bf16_autocast():
    torch.manual_seed(0)
    dcn = ModulatedDeformConv(8, 8, 8, deformable_groups=2)
    torch.nn.init.normal_(dcn.conv_offset_mask.weight, std=0.3)
    x, guide = torch.randn(1, 8, 6, 6), torch.randn(1, 8, 6, 6)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = dcn(x, guide)
    assert y.dtype == torch.float32
    # Only the offset predictor ran in bf16; the result stays close to the fp32 one.
    torch.testing.assert_close(y, dcn(x, guide), atol=0.1, rtol=0.05)


def test_nan_offsets_do_not_crash_the_process():
    dcn = ModulatedDeformConv(4, 4, 4, deformable_groups=1)
    with torch.no_grad():
        dcn.conv_offset_mask.bias[:5] = float("nan")
        dcn.conv_offset_mask.bias[5:7] = float("inf")
    out = dcn(torch.rand(1, 4, 6, 6), torch.rand(1, 4, 6, 6))
    assert torch.isfinite(out).all()
    nan_input = torch.full((1, 4, 6, 6), float("nan"))
    assert torch.isnan(dcn(nan_input, nan_input)).any()


@pytest.mark.parametrize("groups,dilation", [(1, 1), (4, 1), (2, 2)])
def test_grid_sample_backend_matches_torchvision_forward_and_backward(groups, dilation):
    from torchvision.ops import deform_conv2d

    from lgfn.models.deform_conv import _grid_sample_deform_conv

    torch.manual_seed(0)
    b, c, o, h, w = 2, 8, 6, 7, 9
    x = torch.randn(b, c, h, w, dtype=torch.float64, requires_grad=True)
    # Offsets up to 5 px: many taps land between pixels and some fall outside the image.
    offset = (torch.randn(b, 2 * groups * 9, h, w, dtype=torch.float64) * 2.5).requires_grad_()
    mask = torch.rand(b, groups * 9, h, w, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(o, c, 3, 3, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(o, dtype=torch.float64, requires_grad=True)
    inputs = (x, offset, mask, weight, bias)
    ref = deform_conv2d(x, offset, weight, bias, padding=dilation, dilation=dilation, mask=mask)
    got = _grid_sample_deform_conv(x, offset, mask, weight, bias, dilation, dilation, groups)
    torch.testing.assert_close(got, ref, atol=1e-10, rtol=1e-10)
    with torch.no_grad():  # inference writes the intermediates in place: the same values
        inplace = _grid_sample_deform_conv(x, offset, mask, weight, bias, dilation, dilation, groups)
    torch.testing.assert_close(inplace, ref, atol=1e-10, rtol=1e-10)
    grad_out = torch.randn_like(ref)
    ref_grads = torch.autograd.grad(ref, inputs, grad_out)
    got_grads = torch.autograd.grad(got, inputs, grad_out)
    for name, a, r in zip(("x", "offset", "mask", "weight", "bias"), got_grads, ref_grads, strict=True):
        # Offsets exactly on a pixel row/column have a one-sided derivative; random ones never do.
        torch.testing.assert_close(a, r, atol=1e-8, rtol=1e-8, msg=name)


def test_switching_backend_keeps_the_network_output():
    from tests.helpers import TINY_MODEL

    torch.manual_seed(0)
    model = LGFN(scale=2, num_frames=3, **TINY_MODEL).eval()
    for dcn in model.cd_align.dc:
        torch.nn.init.normal_(dcn.conv_offset_mask.weight, std=0.3)
    x = torch.rand(1, 3, 3, 12, 10)
    with torch.no_grad():
        ref = model(x)
        model.set_dcn_backend("grid_sample")
        got = model(x)
    assert model.dcn_backend == "grid_sample" and "dcn_backend" not in model.config.to_dict()
    assert all(m.backend == "grid_sample" for m in model.cd_align.dc)
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=1e-5)


def test_grid_sample_backend_chunks_large_batches(monkeypatch):
    from lgfn.models import deform_conv

    torch.manual_seed(0)
    x, offset = torch.randn(5, 4, 6, 6), torch.randn(5, 2 * 9, 6, 6)
    mask, weight, bias = torch.rand(5, 9, 6, 6), torch.randn(3, 4, 3, 3), torch.randn(3)
    whole = deform_conv._grid_sample_deform_conv(x, offset, mask, weight, bias, 1, 1, 1)
    monkeypatch.setattr(deform_conv, "_GRID_SAMPLE_CHUNK", 4 * 9 * 36 * 2)  # two samples a chunk
    torch.testing.assert_close(
        deform_conv._grid_sample_deform_conv(x, offset, mask, weight, bias, 1, 1, 1), whole
    )


def test_grid_sample_backend_answers_channels_last_with_channels_last():
    from lgfn.models import deform_conv

    torch.manual_seed(0)
    x, offset = torch.randn(2, 8, 6, 7), torch.randn(2, 2 * 2 * 9, 6, 7) * 2
    mask, weight, bias = torch.rand(2, 2 * 9, 6, 7), torch.randn(5, 8, 3, 3), torch.randn(5)
    with torch.no_grad():
        ref = deform_conv._grid_sample_deform_conv(x, offset, mask, weight, bias, 1, 1, 2)
        got = deform_conv._grid_sample_deform_conv(
            x.contiguous(memory_format=torch.channels_last), offset, mask, weight, bias, 1, 1, 2
        )
    assert ref.is_contiguous() and got.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=1e-5)


def test_initialisation_is_the_authors():
    """Weight and bias uniform in +-1/sqrt(fan_in) (the authors' DCN module); the offset/mask
    predictor starts at zero, so the first sampling is the regular grid with mask 1/2."""
    torch.manual_seed(0)
    dcn = ModulatedDeformConv(64, 64, 64, 3, 8)
    bound = 1 / math.sqrt(64 * 9)
    for tensor in (dcn.weight, dcn.bias):
        assert tensor.abs().max() <= bound and tensor.abs().max() > 0.9 * bound
    assert dcn.bias.std() > bound / 3  # uniform on +-bound has std bound/sqrt(3)
    assert not dcn.conv_offset_mask.weight.any() and not dcn.conv_offset_mask.bias.any()
