"""BI / BD degradations and the bicubic baseline: shapes, dtypes, and BD against a direct 2-D convolution."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage, signal

from lgfn.data.degradations import (
    bd_degrade,
    bi_degrade,
    bicubic_upscale,
    crop_to_multiple,
    degrade,
    gaussian_kernel_1d,
)
from lgfn.data.resize import imresize


@pytest.fixture
def hr() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(37, 50, 3), dtype=np.uint8)


def test_crop_to_multiple_keeps_top_left(hr):
    cropped = crop_to_multiple(hr, 4)
    assert cropped.shape == (36, 48, 3)
    np.testing.assert_array_equal(cropped, hr[:36, :48])
    assert crop_to_multiple(hr, 1).shape == hr.shape
    assert crop_to_multiple(hr[:, :, 0], 3).shape == (36, 48)
    with pytest.raises(ValueError, match="scale"):
        crop_to_multiple(hr, 0)
    with pytest.raises(ValueError, match="smaller than the scale"):
        crop_to_multiple(hr[:3], 4)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_bi_degrade_is_rounded_matlab_bicubic_of_the_cropped_frame(hr, scale):
    lr = bi_degrade(hr, scale)
    assert lr.dtype == np.uint8
    assert lr.shape == (37 // scale, 50 // scale, 3)
    cropped = hr[: 37 - 37 % scale, : 50 - 50 % scale].astype(np.float64)
    expected = np.clip(np.floor(imresize(cropped, 1 / scale) + 0.5), 0, 255)
    np.testing.assert_array_equal(lr, expected)


def test_bicubic_upscale_shape_dtype_and_rounding(hr):
    lr = bi_degrade(hr, 4)
    sr = bicubic_upscale(lr, 4)
    assert sr.dtype == np.uint8
    assert sr.shape == (36, 48, 3)
    np.testing.assert_array_equal(sr, np.clip(np.floor(imresize(lr, 4.0) + 0.5), 0, 255))
    # Bicubic upscaling recovers a smooth image far better than the noise it started from.
    assert np.abs(sr.astype(int) - hr[:36, :48]).mean() < 100


@pytest.mark.parametrize("kind", ["bi", "bd"])
def test_constant_frame_stays_constant(kind):
    hr = np.full((40, 44, 3), 201, dtype=np.uint8)
    lr = degrade(hr, 4, kind)
    assert lr.shape == (10, 11, 3) and lr.dtype == np.uint8
    assert np.all(lr == 201)
    assert np.all(bicubic_upscale(lr, 4) == 201)


def duf_blur_kernel(kernel_size: int, sigma: float) -> np.ndarray:
    """DUF's construction: Gaussian-filter a centred delta with scipy."""
    delta = np.zeros((kernel_size, kernel_size))
    delta[kernel_size // 2, kernel_size // 2] = 1.0
    return ndimage.gaussian_filter(delta, sigma)


def test_gaussian_kernel_outer_product_is_duf_kernel():
    g = gaussian_kernel_1d(13, 1.6)
    np.testing.assert_allclose(np.outer(g, g), duf_blur_kernel(13, 1.6), rtol=0, atol=1e-15)
    assert g.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("padding", ["reflect", "symmetric"])
@pytest.mark.parametrize("scale", [4, 3])
def test_bd_degrade_matches_direct_2d_convolution(hr, padding, scale):
    sigma = 1.6
    lr = bd_degrade(hr, scale, sigma=sigma, kernel_size=13, padding=padding)
    cropped = hr[: 37 - 37 % scale, : 50 - 50 % scale].astype(np.float64)
    kernel = duf_blur_kernel(13, sigma)
    expected = np.empty((cropped.shape[0] // scale, cropped.shape[1] // scale, 3))
    for c in range(3):
        padded = np.pad(cropped[:, :, c], 6, mode=padding)  # numpy's names: the ones bd_degrade uses
        blurred = signal.convolve2d(padded, kernel, mode="valid")  # symmetric kernel: conv == corr
        assert blurred.shape == cropped.shape[:2]
        expected[:, :, c] = blurred[::scale, ::scale]  # LR (i, j) <- blurred HR (scale i, scale j)
    assert lr.dtype == np.uint8
    np.testing.assert_array_equal(lr, np.clip(np.floor(expected + 0.5), 0, 255))


def test_bd_padding_modes_differ_only_near_the_border(hr):
    reflect = bd_degrade(hr, 4, padding="reflect").astype(int)
    symmetric = bd_degrade(hr, 4, padding="symmetric").astype(int)
    assert np.any(reflect != symmetric)
    # The 13-tap kernel reaches 6 HR pixels, i.e. LR rows/columns 0 and 1 from each border at most.
    np.testing.assert_array_equal(reflect[2:-2, 2:-2], symmetric[2:-2, 2:-2])


def test_bad_inputs_raise_value_error(hr):
    with pytest.raises(ValueError, match="uint8"):
        bi_degrade(hr.astype(np.float32), 4)
    with pytest.raises(ValueError, match="uint8"):
        bicubic_upscale(hr.astype(np.float32), 4)
    with pytest.raises(ValueError, match="uint8"):
        bd_degrade(hr.astype(np.uint16), 4)
    with pytest.raises(ValueError, match="padding"):
        bd_degrade(hr, 4, padding="zeros")
    with pytest.raises(ValueError, match="kernel_size"):
        bd_degrade(hr, 4, kernel_size=12)
    with pytest.raises(ValueError, match="degradation"):
        degrade(hr, 4, "nearest")
    with pytest.raises(ValueError, match="scale"):
        bicubic_upscale(hr, 2.5)
