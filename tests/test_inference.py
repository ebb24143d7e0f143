"""VideoSuperResolver: every optimisation gives the plain forward's output within its tolerance."""

from __future__ import annotations

import weakref

import numpy as np
import pytest
import torch

from lgfn.data.windows import window_indices
from lgfn.errors import LGFNError
from lgfn.inference import VideoSuperResolver, tile_starts, to_tensor
from lgfn.models import LGFN
from tests.helpers import TINY_MODEL


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    net = LGFN(scale=2, num_frames=5, **TINY_MODEL).eval()
    # Non-zero offsets, as in a trained model, so that alignment really deforms.
    for dcn in net.cd_align.dc:
        torch.nn.init.normal_(dcn.conv_offset_mask.weight, std=0.05)
    return net


@pytest.fixture(scope="module")
def clip():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (14, 18, 3))
    # A slowly moving pattern, so neighbouring frames are related as in a video.
    return [np.roll(base, shift=i, axis=1).astype(np.uint8) for i in range(9)]


def plain_outputs(model, frames, padding="new_info"):
    """The reference: model(window) for each centre, written out independently."""
    x = torch.stack([to_tensor(f, torch.device("cpu")) for f in frames])
    outs = []
    with torch.no_grad():
        for k in range(len(frames)):
            idx = window_indices(k, model.num_frames, len(frames), padding)
            outs.append(model(x[idx][None])[0])
    return outs


def run_float(resolver, frames):
    return [sr for _, sr in resolver.upscale_clip(frames, as_float=True)]


def test_reference_path_equals_direct_model_calls(model, clip):
    resolver = VideoSuperResolver(model, reuse_features=False, channels_last=False)
    for got, want in zip(run_float(resolver, clip), plain_outputs(model, clip), strict=True):
        torch.testing.assert_close(got, want, atol=1e-6, rtol=0)


@pytest.mark.parametrize("batch", [1, 3])
def test_feature_reuse_batching_channels_last_match_reference(model, clip, batch):
    fast = VideoSuperResolver(model, batch=batch, reuse_features=True, channels_last=True)
    for got, want in zip(run_float(fast, clip), plain_outputs(model, clip), strict=True):
        torch.testing.assert_close(got, want, atol=1e-4, rtol=0)


def test_uint8_output_is_rounded_and_clamped(model, clip):
    resolver = VideoSuperResolver(model)
    (index, sr), *_ = resolver.upscale_clip(clip, indices=[3])
    want = plain_outputs(model, clip)[3].clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).numpy()
    assert index == 3 and sr.dtype == np.uint8 and sr.shape == (28, 36, 3)
    assert np.abs(sr.astype(int) - want.astype(int)).max() <= 1


@pytest.mark.parametrize("length", [1, 2, 3, 5, 9])
@pytest.mark.parametrize("batch", [1, 2])
def test_stream_matches_whole_clip(model, clip, length, batch):
    frames = clip[:length]
    resolver = VideoSuperResolver(model, batch=batch)
    whole = [sr for _, sr in resolver.upscale_clip(frames)]
    streamed = list(resolver.stream(iter(frames)))
    assert len(streamed) == length
    for a, b in zip(streamed, whole, strict=True):
        np.testing.assert_array_equal(a, b)


def test_stream_holds_a_bounded_number_of_frames(model, clip):
    consumed = []

    def source():
        for i in range(40):
            consumed.append(i)
            yield clip[i % len(clip)]

    resolver = VideoSuperResolver(model, batch=2)
    ahead = []
    for produced, _ in enumerate(resolver.stream(source()), start=1):
        ahead.append(len(consumed) - produced)
    assert len(ahead) == 40
    # Look-ahead of at most a window plus a batch, independent of the stream's length.
    assert max(ahead) <= model.num_frames + 2 + 1


@pytest.mark.parametrize("start", [1, 3, 8, 9])
@pytest.mark.parametrize("batch", [1, 2])
def test_stream_from_a_start_frame_gives_the_whole_runs_frames(model, clip, start, batch):
    resolver = VideoSuperResolver(model, batch=batch)
    whole = [sr for _, sr in resolver.upscale_clip(clip)]
    resumed = list(resolver.stream(iter(clip), start=start))
    assert len(resumed) == len(clip) - start  # start == len(clip): nothing left
    for a, b in zip(resumed, whole[start:], strict=True):
        np.testing.assert_array_equal(a, b)


def test_stream_from_a_start_frame_keeps_only_the_context_it_needs(model, clip):
    refs, most_alive = [], []

    def source():
        for i in range(40):
            frame = clip[i % len(clip)].copy()
            refs.append(weakref.ref(frame))  # arrays are freed as soon as nothing holds them
            most_alive.append(sum(ref() is not None for ref in refs))
            yield frame

    resolver = VideoSuperResolver(model, batch=2)
    assert len(list(resolver.stream(source(), start=30))) == 10
    # The frames before 30 were read and dropped but for a window's context, never all held.
    assert max(most_alive) <= 2 * model.num_frames + 3


def test_tile_starts_cover_the_frame():
    assert tile_starts(10, 0, 4) == [0]
    assert tile_starts(10, 16, 4) == [0]
    assert tile_starts(20, 8, 2) == [0, 6, 12]
    for size, tile, overlap in [(37, 12, 4), (50, 16, 8)]:
        starts = tile_starts(size, tile, overlap)
        assert starts[0] == 0 and starts[-1] + tile == size
        assert all(b - a <= tile - overlap for a, b in zip(starts, starts[1:], strict=False))


def test_tiled_output_is_close_to_untiled(model):
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


def test_self_ensemble_averages_the_eight_transforms(model, clip):
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


def test_bf16_is_close_to_fp32(model, clip):
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


def test_fast_path_switches_to_grid_sample_on_cpu_plain_path_does_not():
    torch.manual_seed(0)
    net = LGFN(scale=2, num_frames=3, **TINY_MODEL).eval()
    VideoSuperResolver(net, reuse_features=False)
    assert net.dcn_backend == "torchvision"
    VideoSuperResolver(net)
    assert net.dcn_backend == "grid_sample"


@pytest.mark.slow
def test_compiled_path_matches_the_eager_one():
    """torch.compile (inductor, C++ on CPU) is an option; it must not change the output."""
    torch.manual_seed(0)
    net = LGFN(scale=2, num_frames=3, **TINY_MODEL).eval()
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (12, 10, 3)).astype(np.uint8) for _ in range(4)]
    eager = run_float(VideoSuperResolver(net), frames)
    compiled = run_float(VideoSuperResolver(net, compile=True), frames)
    for a, b in zip(eager, compiled, strict=True):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=0)


def test_fast_path_feeds_every_convolution_channels_last(model, clip):
    """Layout conversions cost time on CPU: after the first conv (3 RGB channels) none is needed."""
    seen = {}

    def record(name):
        def hook(module, args, output):
            seen.setdefault(name, args[0].is_contiguous(memory_format=torch.channels_last))

        return hook

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
