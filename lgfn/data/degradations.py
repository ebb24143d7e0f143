"""The degradations that make low-resolution frames from ground truth, and the bicubic baseline.

- **BI** (what LGFN's paper reports): MATLAB ``imresize(hr, 1/s, 'bicubic')`` of the 8-bit frame,
  stored as 8 bits. :func:`bi_degrade`.
- **BD** (the protocol DUF introduced and TDAN, RBPN and others reuse): a 13x13 Gaussian blur of
  standard deviation 1.6, then every ``s``-th pixel. :func:`bd_degrade` documents the exact
  conventions (edge padding, sampling phase) taken from DUF's release.
- **Bicubic baseline**: MATLAB bicubic upscaling of the LR frame, stored as 8 bits
  (:func:`bicubic_upscale`); the "Bicubic" row of the paper's tables.

All functions take and return numpy arrays ``(h, w, c)`` (``(h, w)`` also works); the degradations
first crop the ground truth to a multiple of the scale (top-left anchored), as the benchmarks do.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from scipy import ndimage

from lgfn.data.resize import imresize

#: scipy.ndimage's names for the two mirror paddings: numpy/torch/TensorFlow "reflect" repeats no
#: pixel (``c b | a b c``), "symmetric" repeats the edge pixel (``b a | a b c``).
_SCIPY_PAD_MODE = {"reflect": "mirror", "symmetric": "reflect"}


def crop_to_multiple(img: np.ndarray, scale: int) -> np.ndarray:
    """Crop an image to a height and width that are multiples of ``scale``, keeping the top-left.

    Args:
        img: ``(h, w, c)`` or ``(h, w)``.
        scale: the integer factor the sides must divide by.

    Returns:
        A view ``(h - h % scale, w - w % scale[, c])``.

    Raises:
        ValueError: ``scale`` is not a positive integer or the image is smaller than ``scale``.
    """
    _check_scale(scale)
    h, w = img.shape[:2]
    if h < scale or w < scale:
        raise ValueError(f"image of {h}x{w} pixels is smaller than the scale {scale}")
    return img[: h - h % scale, : w - w % scale]


def bi_degrade(hr: np.ndarray, scale: int = 4) -> np.ndarray:
    """BI degradation: MATLAB ``imresize(hr, 1/scale, 'bicubic')`` on the 8-bit frame.

    The frame is first cropped to a multiple of ``scale``, resized in double precision and rounded
    once to 8 bits (MATLAB's ``im2uint8(imresize(im2double(hr), 1/scale))``). With the matching
    :func:`bicubic_upscale` this reproduces the paper's Vid4 Bicubic row (see
    :mod:`lgfn.data.resize` for MATLAB's own uint8 path, which also rounds between the two passes).

    Args:
        hr: ground truth ``(h, w, c)`` uint8.
        scale: integer downscaling factor.

    Returns:
        ``(h // scale, w // scale, c)`` uint8.
    """
    _check_uint8(hr, "bi_degrade")
    hr = crop_to_multiple(hr, scale)
    # The explicit size gives the same per-dimension scale as MATLAB's 1/scale (out / in is the
    # same rational number) and rules out ceil() of a product that rounding pushed above an integer.
    size = (hr.shape[0] // scale, hr.shape[1] // scale)
    return imresize(hr, size=size, round_uint8=True)


def bicubic_upscale(lr: np.ndarray, scale: int = 4) -> np.ndarray:
    """The Bicubic baseline: MATLAB ``imresize(lr, scale, 'bicubic')`` on the 8-bit (or 16-bit) frame.

    Args:
        lr: low-resolution frame ``(h, w, c)`` uint8, or uint16 (16-bit frames, ``lgfn upscale``).
        scale: integer upscaling factor.

    Returns:
        ``(scale * h, scale * w, c)`` of ``lr``'s type, computed in double precision and rounded once
        (halves away from zero, as MATLAB's ``im2uint16`` too).
    """
    _check_scale(scale)
    if isinstance(lr, np.ndarray) and lr.dtype == np.uint16 and lr.ndim in (2, 3):
        return np.clip(np.floor(imresize(lr, float(scale)) + 0.5), 0, 65535).astype(np.uint16)
    _check_uint8(lr, "bicubic_upscale")
    return imresize(lr, float(scale), round_uint8=True)


def gaussian_kernel_1d(kernel_size: int = 13, sigma: float = 1.6) -> np.ndarray:
    """A sampled Gaussian normalised to sum 1; its outer product with itself is the BD blur kernel.

    DUF builds its 2-D kernel by Gaussian-filtering a centred delta with scipy; for ``sigma = 1.6``
    scipy's filter radius is 6, so that kernel is exactly this 13-tap kernel's outer product.

    Args:
        kernel_size: odd number of taps.
        sigma: standard deviation in pixels.

    Returns:
        ``(kernel_size,)`` float64.
    """
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be a positive odd integer, got {kernel_size}")
    if not sigma > 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    x = np.arange(kernel_size, dtype=np.float64) - kernel_size // 2
    kernel = np.exp(-0.5 * (x / sigma) ** 2)
    return kernel / kernel.sum()


def bd_degrade(
    hr: np.ndarray,
    scale: int = 4,
    sigma: float = 1.6,
    kernel_size: int = 13,
    padding: Literal["reflect", "symmetric"] = "reflect",
) -> np.ndarray:
    """BD degradation: Gaussian blur, then keep every ``scale``-th pixel, stored as 8 bits.

    Conventions, as in DUF's release (``DownSample`` in its ``utils.py``, which later BD results
    such as TDAN's and RBPN's reuse):

    - the blur is a ``kernel_size`` x ``kernel_size`` Gaussian, ``sigma`` 1.6 for x4, normalised;
    - the frame is padded by ``kernel_size // 2`` pixels with ``"reflect"`` padding, the mirror
      that does not repeat the edge pixel (TensorFlow's ``REFLECT``); ``"symmetric"`` (edge pixel
      repeated, MATLAB's ``imfilter(..., 'symmetric')``) is available for other protocols;
    - sampling starts at the first pixel: LR pixel ``(i, j)`` is the blurred HR pixel
      ``(scale * i, scale * j)`` (0-based), i.e. a stride-``scale`` 'valid' convolution;
    - the result is rounded (halves up) and clipped to uint8.

    Args:
        hr: ground truth ``(h, w, c)`` or ``(h, w)`` uint8; cropped to a multiple of ``scale`` first.
        scale: integer downscaling factor.
        sigma: blur standard deviation.
        kernel_size: odd blur support.
        padding: ``"reflect"`` (DUF) or ``"symmetric"``.

    Returns:
        ``(h // scale, w // scale[, c])`` uint8.
    """
    _check_uint8(hr, "bd_degrade")
    if padding not in _SCIPY_PAD_MODE:
        raise ValueError(f"padding must be 'reflect' or 'symmetric', got {padding!r}")
    hr = crop_to_multiple(hr, scale).astype(np.float64)
    kernel = gaussian_kernel_1d(kernel_size, sigma)
    mode = _SCIPY_PAD_MODE[padding]
    # Blurring rows only at the kept row positions saves scale-fold work on the second pass.
    blurred = ndimage.correlate1d(hr, kernel, axis=0, mode=mode)[::scale]
    blurred = ndimage.correlate1d(blurred, kernel, axis=1, mode=mode)[:, ::scale]
    return np.clip(np.floor(blurred + 0.5), 0, 255).astype(np.uint8)


def degrade(hr: np.ndarray, scale: int = 4, kind: Literal["bi", "bd"] = "bi") -> np.ndarray:
    """Make the low-resolution frame of a uint8 ground-truth frame with the named degradation.

    Args:
        hr: ``(h, w, c)`` uint8.
        scale: integer factor.
        kind: ``"bi"`` (:func:`bi_degrade`) or ``"bd"`` (:func:`bd_degrade` with its defaults).

    Returns:
        ``(h // scale, w // scale, c)`` uint8.
    """
    if kind == "bi":
        return bi_degrade(hr, scale)
    if kind == "bd":
        return bd_degrade(hr, scale)
    raise ValueError(f"unknown degradation {kind!r}: expected 'bi' or 'bd'")


def _check_scale(scale: int) -> None:
    if isinstance(scale, bool) or not isinstance(scale, (int, np.integer)) or scale < 1:
        raise ValueError(f"scale must be a positive integer, got {scale!r}")


def _check_uint8(img: np.ndarray, name: str) -> None:
    if not isinstance(img, np.ndarray) or img.dtype != np.uint8 or img.ndim not in (2, 3):
        got = f"{img.dtype} array of shape {img.shape}" if isinstance(img, np.ndarray) else type(img).__name__
        raise ValueError(f"{name} expects a uint8 numpy image (h, w, c) or (h, w), got {got}")
