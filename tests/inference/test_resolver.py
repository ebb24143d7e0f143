"""VideoSuperResolver: every optimisation gives the plain forward's output within its tolerance."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from lgfn.errors import LGFNError, OutOfMemory
from lgfn.inference import VideoSuperResolver, to_tensor
from lgfn.models import LGFN
from tests.helpers import TINY_MODEL


def test_reference_path_equals_direct_model_calls(model, clip, plain_outputs, run_float):
    resolver = VideoSuperResolver(model, reuse_features=False, channels_last=False)
    for got, want in zip(run_float(resolver, clip), plain_outputs(model, clip), strict=True):
        torch.testing.assert_close(got, want, atol=1e-6, rtol=0)


@pytest.mark.parametrize("batch", [1, 3])
def test_feature_reuse_batching_channels_last_match_reference(model, clip, batch, plain_outputs, run_float):
    fast = VideoSuperResolver(model, batch=batch, reuse_features=True, channels_last=True)
    for got, want in zip(run_float(fast, clip), plain_outputs(model, clip), strict=True):
        torch.testing.assert_close(got, want, atol=1e-4, rtol=0)


def test_uint8_output_is_rounded_and_clamped(model, clip, plain_outputs):
    resolver = VideoSuperResolver(model)
    (index, sr), *_ = resolver.upscale_clip(clip, indices=[3])
    want = plain_outputs(model, clip)[3].clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).numpy()
    assert index == 3 and sr.dtype == np.uint8 and sr.shape == (28, 36, 3)
    assert np.abs(sr.astype(int) - want.astype(int)).max() <= 1


def test_bf16_is_close_to_fp32(model, clip, run_float):
    fp32 = run_float(VideoSuperResolver(model), clip[:5])
    bf16 = run_float(VideoSuperResolver(model, precision="bf16"), clip[:5])
    err = max((a - b).abs().max().item() for a, b in zip(fp32, bf16, strict=True))
    assert 0 < err < 0.05


def test_invalid_options_are_clear_errors(model):
    with pytest.raises(LGFNError, match="fp16 needs a CUDA device"):
        VideoSuperResolver(model, precision="fp16")
    with pytest.raises(LGFNError, match="precision must be one of"):
        VideoSuperResolver(model, precision="int8")
    with pytest.raises(LGFNError, match="tile_overlap < tile"):
        VideoSuperResolver(model, tile=8, tile_overlap=8)
    with pytest.raises(LGFNError, match="batch must be >= 1"):
        VideoSuperResolver(model, batch=0)
    with pytest.raises(LGFNError, match="no frames"):
        next(VideoSuperResolver(model).upscale_clip([]))


def test_inference_mode_never_leaks_into_the_callers_code(model, clip):
    """Grad mode is thread-wide: a resolver switches it off only while it computes, so that code run
    between its outputs (or interleaved resolvers) keeps the caller's mode."""
    first = VideoSuperResolver(model).upscale_clip(clip[:4])
    second = VideoSuperResolver(model, batch=2).stream(iter(clip[:4]))
    next(first), next(second)
    assert torch.is_grad_enabled() and not torch.is_inference_mode_enabled()
    assert len(list(zip(first, second, strict=True))) == 3
    assert torch.is_grad_enabled() and not torch.is_inference_mode_enabled()


@pytest.mark.slow
def test_compiled_path_matches_the_eager_one(run_float):
    """torch.compile (inductor, C++ on CPU) is an option; it must not change the output."""
    torch.manual_seed(0)
    net = LGFN(scale=2, num_frames=3, **TINY_MODEL).eval()
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (12, 10, 3)).astype(np.uint8) for _ in range(4)]
    eager = run_float(VideoSuperResolver(net), frames)
    compiled = run_float(VideoSuperResolver(net, compile=True), frames)
    for a, b in zip(eager, compiled, strict=True):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=0)


def test_fast_path_feeds_every_convolution_channels_last(model, clip, run_float):
    """Layout conversions cost time on CPU: after the first conv (3 RGB channels) none is needed."""
    seen = {}

    def record(name):
        def hook(module, args, output):
            seen.setdefault(name, args[0].is_contiguous(memory_format=torch.channels_last))

        return hook

    # The resolver runs a copy of the model (see test_model_untouched.py); its modules keep these hooks.
    hooks = [
        module.register_forward_hook(record(name))
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Conv2d) and name != "feat0"
    ]
    try:
        run_float(VideoSuperResolver(model, batch=2), clip[:4])
    finally:
        for hook in hooks:
            hook.remove()
    assert seen and not [name for name, ok in seen.items() if not ok]


def test_stack_frames_keeps_channels_last_and_values():
    from lgfn.models.blocks import channels_last_frames, stack_frames

    frames = [torch.randn(2, 4, 3, 5).contiguous(memory_format=torch.channels_last) for _ in range(3)]
    stacked = stack_frames(frames)
    assert torch.equal(stacked, torch.stack(frames, dim=1)) and channels_last_frames(stacked)
    assert stacked.reshape(6, 4, 3, 5).is_contiguous(memory_format=torch.channels_last)
    plain = stack_frames([f.contiguous() for f in frames])
    assert plain.is_contiguous() and torch.equal(plain, stacked)


@pytest.mark.parametrize(
    "reuse_features, precision, advice",
    [
        (True, "fp32", "in fp32 this means that the weights or the input frames are damaged"),
        (False, "fp32", "in fp32 this means that the weights or the input frames are damaged"),
        (True, "bf16", "bf16 can overflow where fp32 does not; run in fp32 (--precision fp32; in training"),
    ],
)
def test_an_output_that_is_not_finite_is_an_error_naming_the_frame(
    model, clip, reuse_features, precision, advice
):
    """Weights that are finite but large enough that the activations overflow to inf."""
    overflowing = copy.deepcopy(model)
    with torch.no_grad():
        for parameter in overflowing.parameters():
            parameter.mul_(1e10)
    resolver = VideoSuperResolver(overflowing, precision=precision, batch=2, reuse_features=reuse_features)
    with pytest.raises(LGFNError, match="output for frame 3 holds inf or NaN values") as caught:
        list(resolver.upscale_clip(clip, indices=[3, 4]))
    assert advice in str(caught.value)
    with pytest.raises(LGFNError, match="output for frame 5 holds inf or NaN"):
        next(resolver.stream(iter(clip), start=5))


def test_running_out_of_memory_names_the_frames_and_the_options_that_need_less(model, clip, monkeypatch):
    def out_of_memory(frames):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB.")

    monkeypatch.setattr(model, "forward", out_of_memory)
    resolver = VideoSuperResolver(model, batch=2, reuse_features=False, channels_last=False)
    with pytest.raises(OutOfMemory) as caught:
        list(resolver.upscale_clip(clip))
    assert str(caught.value) == (
        "out of memory while super-resolving frame 0 to 1 (18x14 on cpu) (CUDA out of memory. Tried to "
        "allocate 20.00 GiB.); less is needed with --tile 256 (overlapping tiles) and --batch 1"
    )
    tiled = VideoSuperResolver(model, tile=8, tile_overlap=2, reuse_features=False, channels_last=False)
    with pytest.raises(
        OutOfMemory, match=r"frame 0 \(18x14 on cpu\) .*; less is needed with a --tile smaller than 8$"
    ):
        list(tiled.upscale_clip(clip))


def test_grey_frames_feed_three_equal_channels_and_come_back_grey(model, clip, plain_outputs):
    grey = [frame[..., :1] for frame in clip]  # (h, w, 1) uint8
    colour = plain_outputs(model, [np.repeat(frame, 3, axis=2) for frame in grey])
    resolver = VideoSuperResolver(model)
    got = [sr for _, sr in resolver.upscale_clip(grey)]
    assert all(sr.dtype == np.uint8 and sr.shape == (28, 36, 1) for sr in got)
    for sr, want in zip(got, colour, strict=True):
        expected = want.mean(dim=0).clamp(0, 1).mul(255).round().numpy()
        assert np.abs(sr[..., 0].astype(int) - expected).max() <= 1
    streamed = list(VideoSuperResolver(model, batch=2).stream(iter(grey)))
    assert all(np.abs(a.astype(int) - b).max() <= 1 for a, b in zip(streamed, got, strict=True))


def test_16_bit_frames_are_upscaled_from_their_16_bits(model, clip, plain_outputs):
    # Values between the 8-bit levels (x * 257 + 100): an 8-bit path would lose them.
    deep = [frame.astype(np.uint16) * 257 + 100 for frame in clip]
    tensor = to_tensor(deep[0], torch.device("cpu"))
    torch.testing.assert_close(tensor, torch.from_numpy(deep[0] / 65535).float().permute(2, 0, 1))
    exact = plain_outputs(model, deep)  # direct model calls on those tensors
    got = list(VideoSuperResolver(model).stream(iter(deep)))
    assert all(sr.dtype == np.uint16 and sr.shape == (28, 36, 3) for sr in got)
    for sr, want in zip(got, exact, strict=True):
        expected = want.clamp(0, 1).mul(65535).round().permute(1, 2, 0).numpy()
        assert np.abs(sr.astype(int) - expected).max() <= 2  # float32 sums in another order
    assert any((sr % 257).any() for sr in got)  # not 8-bit levels scaled up
