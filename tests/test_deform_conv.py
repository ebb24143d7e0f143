"""The deformable-convolution backends."""

from __future__ import annotations

import importlib.util

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
