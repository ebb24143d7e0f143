"""Luma, PSNR and SSIM against hand-computed values, the textbook formula and scikit-image."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from lgfn.data.degradations import bi_degrade, bicubic_upscale, crop_to_multiple
from lgfn.data.io import list_frames, read_image
from lgfn.metrics import calculate_psnr_ssim, psnr, rgb_to_y, ssim, ssim_map
from tests.helpers import shared_data_path


@pytest.fixture
def pair() -> tuple[np.ndarray, np.ndarray]:
    """A smooth-ish 8-bit frame and a noisy copy of it, (40, 52, 3)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:40, 0:52]
    base = (
        128 + 60 * np.sin(xx / 5.0)[..., None] * np.cos(yy / 7.0)[..., None] + rng.normal(0, 10, (40, 52, 3))
    )
    gt = np.clip(np.round(base), 0, 255).astype(np.uint8)
    sr = np.clip(gt.astype(int) + rng.integers(-12, 13, size=gt.shape), 0, 255).astype(np.uint8)
    return sr, gt


def explicit_luma(img: np.ndarray) -> np.ndarray:
    """BT.601 luma of an 8-bit RGB image, on 0..255, written per pixel."""
    h, w, _ = img.shape
    out = np.empty((h, w))
    for i in range(h):
        for j in range(w):
            r, g, b = (float(v) for v in img[i, j])
            out[i, j] = 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0
    return out


def test_luma_hand_computed_values():
    img = np.array(
        [[[0, 0, 0], [255, 255, 255], [255, 0, 0]], [[0, 255, 0], [0, 0, 255], [10, 20, 30]]], np.uint8
    )
    # white: 16 + 65.481 + 128.553 + 24.966 = 235; pure red: 16 + 65.481; 10/20/30:
    # 16 + (654.81 + 2571.06 + 748.98) / 255 = 16 + 3974.85 / 255
    expected = np.array([[16.0, 235.0, 81.481], [16.0 + 128.553, 16.0 + 24.966, 16.0 + 3974.85 / 255.0]])
    y = rgb_to_y(img)
    assert y.dtype == np.float64 and y.shape == (2, 3)
    np.testing.assert_allclose(y, expected, rtol=0, atol=1e-12)
    # the same image on [0, 1]: Y on [16/255, 235/255]
    np.testing.assert_allclose(rgb_to_y(img / 255.0), expected / 255.0, rtol=0, atol=1e-14)
    np.testing.assert_allclose(rgb_to_y(img.astype(np.float64), data_range=255), expected, atol=1e-12)


def test_luma_torch_channels_first_matches_numpy():
    rng = np.random.default_rng(1)
    img = rng.uniform(size=(2, 5, 6, 3))
    t = torch.from_numpy(img).permute(0, 3, 1, 2)  # (b, 3, h, w)
    y = rgb_to_y(t)
    assert y.shape == (2, 5, 6)
    np.testing.assert_allclose(y.numpy(), rgb_to_y(img), atol=1e-14)
    np.testing.assert_allclose(
        rgb_to_y(torch.from_numpy(img), channel_axis=-1).numpy(), rgb_to_y(img), atol=1e-14
    )
    assert rgb_to_y(t.float()).dtype == torch.float32
    with pytest.raises(ValueError, match="3 channels"):
        rgb_to_y(np.zeros((4, 4, 4)))


def test_psnr_luma_against_explicit_formula(pair):
    sr, gt = pair
    mse = np.mean((explicit_luma(sr) - explicit_luma(gt)) ** 2)
    assert psnr(sr, gt) == pytest.approx(10 * math.log10(255.0**2 / mse), abs=1e-10)


def test_psnr_rgb_and_crop_border(pair):
    sr, gt = pair
    diff = sr.astype(np.float64) - gt.astype(np.float64)
    assert psnr(sr, gt, luma=False) == pytest.approx(
        20 * math.log10(255.0 / math.sqrt(np.mean(diff**2))), abs=1e-10
    )
    inner = diff[4:-4, 4:-4]
    assert psnr(sr, gt, crop_border=4, luma=False) == pytest.approx(
        10 * math.log10(255.0**2 / np.mean(inner**2)), abs=1e-10
    )
    assert psnr(gt, gt) == math.inf


def test_ssim_luma_matches_scikit_image(pair):
    sr, gt = pair
    ya, yb = rgb_to_y(sr), rgb_to_y(gt)
    options = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255)
    # scikit-image filters the whole image with reflected borders, then averages its map without
    # the 5-pixel border (its window radius: int(3.5 * 1.5 + 0.5) = 5). The remaining values use
    # only windows inside the image, i.e. exactly MATLAB's 'valid' map.
    score, full_map = structural_similarity(ya, yb, full=True, **options)
    np.testing.assert_allclose(ssim_map(ya, yb), full_map[5:-5, 5:-5], rtol=0, atol=1e-12)
    assert ssim(sr, gt) == pytest.approx(score, abs=1e-12)
    # the border of scikit-image's full map comes from padded windows and would change the score
    assert abs(full_map.mean() - score) > 1e-5


def test_ssim_rgb_is_mean_over_channels_and_crop(pair):
    sr, gt = pair
    options = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255)
    per_channel = [
        structural_similarity(sr[..., c].astype(float), gt[..., c].astype(float), **options) for c in range(3)
    ]
    assert ssim(sr, gt, luma=False) == pytest.approx(np.mean(per_channel), abs=1e-12)
    cropped = structural_similarity(rgb_to_y(sr[3:-3, 3:-3]), rgb_to_y(gt[3:-3, 3:-3]), **options)
    assert ssim(sr, gt, crop_border=3) == pytest.approx(cropped, abs=1e-12)
    assert ssim(gt, gt) == pytest.approx(1.0, abs=1e-12)


def test_ssim_map_hand_computed_for_constant_images():
    # Constant images a and b: zero variances, so SSIM = (2ab + C1) / (a^2 + b^2 + C1), C1 = 2.55^2.
    a, b = np.full((11, 13), 100.0), np.full((11, 13), 120.0)
    c1 = (0.01 * 255) ** 2
    m = ssim_map(a, b)
    assert m.shape == (1, 3)
    np.testing.assert_allclose(m, (2 * 100 * 120 + c1) / (100**2 + 120**2 + c1), rtol=1e-12)


def test_calculate_psnr_ssim_is_both_metrics(pair):
    sr, gt = pair
    p, s = calculate_psnr_ssim(sr, gt, crop_border=2)
    assert p == pytest.approx(psnr(sr, gt, crop_border=2), abs=1e-12)
    assert s == pytest.approx(ssim(sr, gt, crop_border=2), abs=1e-12)
    p, s = calculate_psnr_ssim(sr, gt, luma=False)
    assert (p, s) == (pytest.approx(psnr(sr, gt, luma=False)), pytest.approx(ssim(sr, gt, luma=False)))


def test_errors_name_the_problem(pair):
    sr, gt = pair
    with pytest.raises(ValueError, match="differ in shape"):
        psnr(sr, gt[:-1])
    with pytest.raises(ValueError, match="differ in shape"):
        calculate_psnr_ssim(sr, gt[:, :, :2])
    with pytest.raises(ValueError, match="RGB"):
        ssim(sr[..., 0], gt[..., 0])
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim(sr[:10], gt[:10])
    with pytest.raises(ValueError, match="crop_border"):
        psnr(sr, gt, crop_border=20)


@pytest.mark.slow
def test_vid4_city_bicubic_reproduces_the_paper():
    """BI x4 down and up with MATLAB bicubic, luma PSNR/SSIM over every frame but the first and last.

    The paper's Bicubic row for Vid4 city (reference/paper_tables.md) is 25.17 dB / 0.6024.
    """
    frames = list_frames(shared_data_path("Vid4", "GT", "city"))
    assert len(frames) == 34
    scores = []
    for path in frames[1:-1]:
        gt = crop_to_multiple(read_image(path), 4)
        sr = bicubic_upscale(bi_degrade(gt, 4), 4)
        assert sr.shape == gt.shape == (576, 704, 3)
        scores.append(calculate_psnr_ssim(sr, gt))
    mean_psnr, mean_ssim = np.mean(scores, axis=0)
    assert abs(mean_psnr - 25.17) <= 0.01
    assert abs(mean_ssim - 0.6024) <= 0.0003
