"""Image quality metrics as the video super-resolution literature computes them.

- :func:`rgb_to_y`: BT.601 luma (the Y of MATLAB's ``rgb2ycbcr``), for numpy arrays and tensors.
- :func:`psnr` and :func:`ssim`: on 8-bit RGB frames ``(h, w, 3)``, by default on the luma channel
  computed in floating point from the 8-bit values (Y in ``[16, 235]`` on the 0..255 scale, not
  rounded), optionally with a border cropped.
- SSIM is the MATLAB reference of Wang et al. (2004): 11x11 Gaussian window of standard deviation
  1.5, ``K1 = 0.01``, ``K2 = 0.03``, dynamic range 255, statistics of 'valid' windows only (no
  padding, so the map is 10 pixels smaller than the image in each dimension), score = mean of the
  map. On RGB (``luma=False``) it is the mean of the three channels' scores.

The super-resolved frame is expected already rounded to uint8, as it is when saved; the metrics
also accept float arrays holding values on the ``0..data_range`` scale.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch

#: BT.601 luma weights applied to R, G, B in [0, 1]; the result is on the 0..255 scale.
LUMA_WEIGHTS = (65.481, 128.553, 24.966)
#: Luma of black on the 0..255 scale (video "studio" range: Y spans 16..235).
LUMA_OFFSET = 16.0

#: MATLAB SSIM constants (Wang et al. 2004).
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def rgb_to_y(
    img: np.ndarray | torch.Tensor, data_range: float | None = None, channel_axis: int | None = None
) -> np.ndarray | torch.Tensor:
    """BT.601 luma: ``Y = (65.481 R + 128.553 G + 24.966 B) / 255 + 16 * data_range / 255``.

    The output is on the same scale as the input: for RGB in [0, 1] (``data_range=1``), Y lies in
    ``[16/255, 235/255]``; for RGB on 0..255 (``data_range=255``), Y lies in ``[16, 235]``. These are
    the Y of MATLAB's ``rgb2ycbcr`` without its final rounding to 8 bits.

    Args:
        img: RGB image. numpy: channels last by default, ``(..., 3)``; torch: channels at
            ``-3`` by default, ``(..., 3, h, w)``.
        data_range: value of full white: None means 255 for integer input, 1.0 for float input.
        channel_axis: the RGB axis, overriding the default above.

    Returns:
        Y without the channel axis (``(h, w)`` from ``(h, w, 3)``; ``(..., h, w)`` from
        ``(..., 3, h, w)``). Integer input gives float64; float input keeps its dtype.
    """
    is_tensor = isinstance(img, torch.Tensor)
    if channel_axis is None:
        channel_axis = -3 if is_tensor else -1
    if img.shape[channel_axis] != 3:
        raise ValueError(f"rgb_to_y expects 3 channels on axis {channel_axis}, got shape {tuple(img.shape)}")
    if data_range is None:
        integer = not img.is_floating_point() if is_tensor else not np.issubdtype(img.dtype, np.floating)
        data_range = 255.0 if integer else 1.0
    if is_tensor:
        img = img if img.is_floating_point() else img.double()
        r, g, b = img.unbind(channel_axis)
    else:
        img = img if np.issubdtype(img.dtype, np.floating) else img.astype(np.float64)
        r, g, b = np.moveaxis(img, channel_axis, 0)
    luma = (LUMA_WEIGHTS[0] * r + LUMA_WEIGHTS[1] * g + LUMA_WEIGHTS[2] * b) / 255.0
    return luma + LUMA_OFFSET * data_range / 255.0


def psnr(
    a: np.ndarray, b: np.ndarray, crop_border: int = 0, luma: bool = True, data_range: float = 255.0
) -> float:
    """Peak signal-to-noise ratio ``10 log10(data_range^2 / MSE)`` in dB.

    Args:
        a, b: images of the same shape, ``(h, w, 3)`` RGB (uint8, or float on ``0..data_range``);
            with ``luma=False`` also ``(h, w)`` or ``(h, w, c)``.
        crop_border: pixels removed from each side before scoring.
        luma: score the BT.601 luma (float, see :func:`rgb_to_y`) instead of all channels.
        data_range: peak value (255 for 8-bit images).

    Returns:
        PSNR in dB; ``inf`` for identical images.
    """
    x, y = _prepare(a, b, crop_border, luma, data_range)
    return _psnr(x, y, data_range)


def ssim(
    a: np.ndarray, b: np.ndarray, crop_border: int = 0, luma: bool = True, data_range: float = 255.0
) -> float:
    """MATLAB-compatible SSIM (Wang et al. 2004): the mean of the 'valid' SSIM map.

    Args:
        a, b: images of the same shape, ``(h, w, 3)`` RGB (uint8, or float on ``0..data_range``);
            with ``luma=False`` also ``(h, w)`` or ``(h, w, c)``. At least 11x11 after cropping.
        crop_border: pixels removed from each side before scoring.
        luma: score the BT.601 luma; otherwise average the per-channel scores.
        data_range: dynamic range ``L`` in the constants ``(K L)^2`` (255 for 8-bit images).

    Returns:
        SSIM, at most 1.
    """
    x, y = _prepare(a, b, crop_border, luma, data_range)
    return _ssim(x, y, data_range)


def calculate_psnr_ssim(
    sr: np.ndarray, gt: np.ndarray, crop_border: int = 0, luma: bool = True
) -> tuple[float, float]:
    """PSNR and SSIM of an 8-bit super-resolved frame against its 8-bit ground truth.

    Same as :func:`psnr` and :func:`ssim` with ``data_range=255``, converting to luma only once.

    Args:
        sr: super-resolved frame ``(h, w, 3)`` uint8.
        gt: ground truth ``(h, w, 3)`` uint8.
        crop_border: pixels removed from each side before scoring.
        luma: score the BT.601 luma instead of RGB.

    Returns:
        ``(psnr_db, ssim)``.
    """
    x, y = _prepare(sr, gt, crop_border, luma, 255.0)
    return _psnr(x, y, 255.0), _ssim(x, y, 255.0)


def ssim_map(x: np.ndarray, y: np.ndarray, data_range: float = 255.0) -> np.ndarray:
    """The SSIM map of two single-channel images over 'valid' 11x11 windows.

    Args:
        x, y: ``(h, w)`` float images, ``h, w >= 11``.
        data_range: dynamic range ``L``.

    Returns:
        ``(h - 10, w - 10)`` float64: the SSIM of the window centred on each interior pixel.
    """
    if x.shape != y.shape or x.ndim != 2:
        raise ValueError(f"ssim_map expects two (h, w) images of one shape, got {x.shape} and {y.shape}")
    if min(x.shape) < SSIM_WINDOW:
        raise ValueError(f"SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW}, got {x.shape}")
    c1 = (SSIM_K1 * data_range) ** 2
    c2 = (SSIM_K2 * data_range) ** 2
    x = x.astype(np.float64, copy=False)
    y = y.astype(np.float64, copy=False)
    # All five local statistics in one separable filtering of a (5, h, w) stack.
    mu_x, mu_y, xx, yy, xy = _window_means(np.stack([x, y, x * x, y * y, x * y]))
    var_x = xx - mu_x * mu_x
    var_y = yy - mu_y * mu_y
    cov = xy - mu_x * mu_y
    numerator = (2.0 * mu_x * mu_y + c1) * (2.0 * cov + c2)
    denominator = (mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2)
    return numerator / denominator


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> np.ndarray:
    """The 1-D factor of MATLAB's ``fspecial('gaussian', size, sigma)``, normalised to sum 1.

    Args:
        size: number of taps.
        sigma: standard deviation in pixels.

    Returns:
        ``(size,)`` float64; its outer product with itself is the 2-D SSIM window.
    """
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    window = np.exp(-(x * x) / (2.0 * sigma * sigma))
    return window / window.sum()


def _window_means(stack: np.ndarray) -> np.ndarray:
    """Gaussian-weighted means over every 'valid' window of each float64 plane of ``(n, h, w)``.

    Returns ``(n, h - 10, w - 10)``: filtering with any edge mode and dropping the 5-pixel border
    leaves exactly the windows that lie inside the image.
    """
    window = gaussian_window()
    pad = SSIM_WINDOW // 2
    # OpenCV's separable filter runs in float64 here and is several times faster than scipy.ndimage.
    planes = [
        cv2.sepFilter2D(plane, cv2.CV_64F, window, window, borderType=cv2.BORDER_REFLECT) for plane in stack
    ]
    return np.stack(planes)[:, pad:-pad, pad:-pad]


def _prepare(
    a: np.ndarray, b: np.ndarray, crop_border: int, luma: bool, data_range: float
) -> tuple[np.ndarray, np.ndarray]:
    """Validate, crop and convert a pair to float64 planes ``(h, w)`` (luma) or ``(h, w, c)``."""
    a = np.asarray(a)
    b = np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"images to compare differ in shape: {a.shape} vs {b.shape}")
    if luma and (a.ndim != 3 or a.shape[-1] != 3):
        raise ValueError(f"luma metrics need RGB images (h, w, 3), got shape {a.shape}")
    if a.ndim not in (2, 3):
        raise ValueError(f"expected an image (h, w) or (h, w, c), got shape {a.shape}")
    if crop_border < 0 or 2 * crop_border >= min(a.shape[:2]):
        raise ValueError(f"crop_border={crop_border} leaves nothing of a {a.shape[0]}x{a.shape[1]} image")
    if crop_border:
        a = a[crop_border:-crop_border, crop_border:-crop_border]
        b = b[crop_border:-crop_border, crop_border:-crop_border]
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    if luma:
        return rgb_to_y(a, data_range), rgb_to_y(b, data_range)
    return a, b


def _psnr(x: np.ndarray, y: np.ndarray, data_range: float) -> float:
    mse = float(np.mean((x - y) ** 2))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(data_range * data_range / mse)


def _ssim(x: np.ndarray, y: np.ndarray, data_range: float) -> float:
    if x.ndim == 2:
        return float(ssim_map(x, y, data_range).mean())
    return float(np.mean([ssim_map(x[..., c], y[..., c], data_range).mean() for c in range(x.shape[-1])]))
