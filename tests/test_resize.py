"""MATLAB-compatible bicubic imresize against MATLAB's definition written out with explicit loops."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lgfn.data.resize import imresize, resize_weights

# --- an independent, deliberately naive transcription of MATLAB's imresize (bicubic) -------------


def cubic_scalar(x: float) -> float:
    x = abs(x)
    if x <= 1:
        return 1.5 * x**3 - 2.5 * x**2 + 1
    if x <= 2:
        return -0.5 * x**3 + 2.5 * x**2 - 4 * x + 2
    return 0.0


def mirror_scalar(i: int, n: int) -> int:
    """Symmetric mirroring of a 1-based index: 0 -> 1, -1 -> 2, n + 1 -> n, n + 2 -> n - 1."""
    while i < 1 or i > n:
        i = 1 - i if i < 1 else 2 * n + 1 - i
    return i


def resize_line(values: list[float], out_length: int, scale: float) -> list[float]:
    n = len(values)
    antialias = scale < 1
    width = 4 / scale if antialias else 4
    out = []
    for x in range(1, out_length + 1):
        u = x / scale + 0.5 * (1 - 1 / scale)
        left = math.floor(u - width / 2)
        taps = range(left, left + math.ceil(width) + 2)
        weights = [scale * cubic_scalar(scale * (u - j)) if antialias else cubic_scalar(u - j) for j in taps]
        total = sum(weights)
        acc = 0.0
        for j, w in zip(taps, weights, strict=True):
            acc += (w / total) * values[mirror_scalar(j, n) - 1]
        out.append(acc)
    return out


def reference_resize(
    img: np.ndarray, out_size: tuple[int, int], scales: tuple[float, float], round_passes: bool = False
) -> np.ndarray:
    """Resize a (h, w) or (h, w, c) array with explicit loops in MATLAB's pass order.

    With ``round_passes`` each pass is rounded (halves away from zero) and clipped to 0..255, as
    MATLAB does for a uint8 image.
    """
    img = img.astype(np.float64)
    squeeze = img.ndim == 2
    if squeeze:
        img = img[:, :, None]
    order = [0, 1] if scales[0] <= scales[1] else [1, 0]
    for dim in order:
        h, w, c = img.shape
        if dim == 0:
            out = np.zeros((out_size[0], w, c))
            for col in range(w):
                for ch in range(c):
                    out[:, col, ch] = resize_line(list(img[:, col, ch]), out_size[0], scales[0])
        else:
            out = np.zeros((h, out_size[1], c))
            for row in range(h):
                for ch in range(c):
                    out[row, :, ch] = resize_line(list(img[row, :, ch]), out_size[1], scales[1])
        if round_passes:
            out = np.clip(np.floor(out + 0.5), 0, 255)
        img = out
    return img[:, :, 0] if squeeze else img


CASES = [
    # (input (h, w), scale, size) -> output size and per-dimension scales follow MATLAB's rules
    ((5, 7), None, (3, 4)),  # shrink, two different scales: width (4/7) goes first
    ((3, 3), None, (7, 7)),  # enlarge by 7/3
    ((8, 12), 0.25, None),
    ((6, 5), 2.0, None),
    ((9, 10), 1 / 3, None),
    ((5, 7), 0.6, None),  # ceil(4.2) = 5 columns
    ((4, 9), None, (7, 3)),  # enlarge one side, shrink the other: width first
]


def expected_size_and_scales(in_size, scale, size):
    if scale is not None:
        return (math.ceil(scale * in_size[0]), math.ceil(scale * in_size[1])), (scale, scale)
    return size, (size[0] / in_size[0], size[1] / in_size[1])


@pytest.mark.parametrize(("in_size", "scale", "size"), CASES)
def test_float_matches_explicit_matlab_definition(in_size, scale, size):
    rng = np.random.default_rng(0)
    img = rng.uniform(0, 255, size=(*in_size, 3))
    out_size, scales = expected_size_and_scales(in_size, scale, size)
    got = imresize(img, scale=scale, size=size)
    want = reference_resize(img, out_size, scales)
    assert got.shape == (*out_size, 3)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-10)
    np.testing.assert_allclose(imresize(img[:, :, 1], scale=scale, size=size), want[:, :, 1], atol=1e-10)


@pytest.mark.parametrize(("in_size", "scale", "size"), CASES)
def test_uint8_rounding_modes(in_size, scale, size):
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, size=in_size, dtype=np.uint8)
    out_size, scales = expected_size_and_scales(in_size, scale, size)
    unrounded = reference_resize(img, out_size, scales)
    # Default: float64, neither rounded nor clipped.
    got = imresize(img, scale=scale, size=size)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, unrounded, atol=1e-10)
    # round_uint8: the float64 result rounded once, halves away from zero, clipped.
    got = imresize(img, scale=scale, size=size, round_uint8=True)
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, np.clip(np.floor(unrounded + 0.5), 0, 255))
    # round_between_passes: MATLAB's uint8 path, every pass rounded.
    got = imresize(img, scale=scale, size=size, round_uint8=True, round_between_passes=True)
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, reference_resize(img, out_size, scales, round_passes=True))


def test_rounding_between_passes_can_differ_from_rounding_once():
    rng = np.random.default_rng(4)
    img = rng.integers(0, 256, size=(12, 16, 3), dtype=np.uint8)
    once = imresize(img, 0.5, round_uint8=True)
    each = imresize(img, 0.5, round_uint8=True, round_between_passes=True)
    diff = np.abs(once.astype(int) - each.astype(int))
    assert diff.max() >= 1  # the option changes something ...
    assert diff.max() <= 2  # ... but only by rounding noise


def test_hand_computed_enlargement():
    # Row [0, 64, 0] enlarged x2. Output 1 sits at u = 0.75 with taps at distances 1.75, 0.75, 0.25,
    # 1.25 from input pixels 2 (mirrored from -1), 1 (mirrored from 0), 1, 2: cubic gives
    # -0.0234375, 0.2265625, 0.8671875, -0.0703125, so out1 = 64 * (-0.0234375 - 0.0703125) = -6.
    # Output 2 (u = 1.25): 64 * 0.2265625 = 14.5; output 3 (u = 1.75): 64 * 0.8671875 = 55.5.
    row = np.array([[0.0, 64.0, 0.0]])
    got = imresize(row, size=(1, 6))
    np.testing.assert_allclose(got, [[-6.0, 14.5, 55.5, 55.5, 14.5, -6.0]], atol=1e-12)
    # uint8: clipped at 0, and 14.5 / 55.5 round half away from zero like MATLAB (not to even).
    got8 = imresize(row.astype(np.uint8), size=(1, 6), round_uint8=True)
    np.testing.assert_array_equal(got8, [[0, 15, 56, 56, 15, 0]])


def test_hand_computed_antialiased_shrink():
    # Row [0, 0, 0, 64] halved. The kernel is 0.5 * cubic(0.5 d), 8 pixels wide. Output 1 sits at
    # u = 1.5; pixel 4 is reached at distances 2.5 and 3.5 (index 5 mirrors to 4): weights
    # 0.5 * cubic(1.25) + 0.5 * cubic(1.75) = -0.03515625 - 0.01171875, so out1 = -3. Output 2 sits
    # at u = 3.5; pixel 4 at distances 0.5 and 1.5 (index 5): 0.43359375 + 0.11328125 -> 35.
    row = np.array([[0.0, 0.0, 0.0, 64.0]])
    np.testing.assert_allclose(imresize(row, size=(1, 2)), [[-3.0, 35.0]], atol=1e-12)


def test_weights_rows_sum_to_one_and_indices_in_range():
    for in_len, out_len, scale in [(576, 144, 0.25), (144, 576, 4.0), (7, 4, 4 / 7), (3, 7, 7 / 3)]:
        weights, indices = resize_weights(in_len, out_len, scale)
        assert weights.shape == indices.shape
        assert weights.shape[0] == out_len
        np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-12)
        assert indices.min() >= 0 and indices.max() < in_len
    # x4 shrink: 4 / 0.25 = 16 wide kernel, 18 taps, of which the two outermost are always zero.
    assert resize_weights(576, 144, 0.25)[0].shape[1] == 16


def test_constant_image_stays_constant():
    img = np.full((13, 17, 3), 77, dtype=np.uint8)
    for scale in (0.25, 1 / 3, 0.5, 2.0, 3.0, 4.0):
        np.testing.assert_allclose(imresize(img, scale), 77.0, atol=1e-9)
        assert np.all(imresize(img, scale, round_uint8=True) == 77)


def test_torch_matches_numpy_any_leading_dims():
    rng = np.random.default_rng(2)
    img = rng.uniform(0, 1, size=(2, 3, 11, 14))
    for kwargs in ({"scale": 0.25}, {"scale": 3.0}, {"size": (5, 20)}):
        got = imresize(torch.from_numpy(img), **kwargs)
        for b in range(2):
            want = imresize(img[b].transpose(1, 2, 0), **kwargs).transpose(2, 0, 1)
            np.testing.assert_allclose(got[b].numpy(), want, atol=1e-12)
    # float32 and a permuted (non-contiguous) view agree with float64 within float32 precision
    t = torch.from_numpy(img[0].transpose(1, 2, 0).copy()).permute(2, 0, 1).float()
    assert not t.is_contiguous()
    got32 = imresize(t, 0.5)
    assert got32.dtype == torch.float32
    want64 = imresize(torch.from_numpy(img[0]), 0.5)
    np.testing.assert_allclose(got32.numpy(), want64.numpy(), atol=1e-5)


def test_torch_is_differentiable():
    x = torch.rand(1, 2, 6, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: imresize(t, 0.5), (x,))
    y = imresize(x, 2.0)
    y.sum().backward()
    # Every output pixel's weights sum to 1, so d(sum of outputs)/d(input) sums to the output count.
    assert math.isclose(float(x.grad.sum()), y.numel(), rel_tol=1e-9)


def test_float32_numpy_keeps_dtype():
    img = np.random.default_rng(3).uniform(size=(8, 8)).astype(np.float32)
    out = imresize(img, 0.5)
    assert out.dtype == np.float32 and out.shape == (4, 4)


@pytest.mark.parametrize(
    ("img", "kwargs"),
    [
        (np.zeros((4, 4)), {}),
        (np.zeros((4, 4)), {"scale": 0.5, "size": (2, 2)}),
        (np.zeros((4, 4)), {"scale": -1.0}),
        (np.zeros((4, 4)), {"size": (0, 2)}),
        (np.zeros((4, 4, 3, 1)), {"scale": 0.5}),
        (np.zeros((0, 4)), {"scale": 0.5}),
        (np.zeros((4, 4)), {"scale": 0.5, "round_uint8": True}),
        (np.zeros((4, 4), np.uint8), {"scale": 0.5, "round_between_passes": True}),
        (torch.zeros(4, 4, dtype=torch.uint8), {"scale": 0.5}),
    ],
)
def test_bad_arguments_raise_value_error(img, kwargs):
    with pytest.raises(ValueError, match="imresize"):
        imresize(img, **kwargs)
