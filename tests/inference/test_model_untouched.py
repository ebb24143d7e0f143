"""A resolver never changes the model it is handed, and runs the deformable backend of its path."""

from __future__ import annotations

import copy

import pytest
import torch

from lgfn.inference import VideoSuperResolver
from lgfn.models import LGFN, ModulatedDeformConv
from lgfn.models import deform_conv as deform_conv_module
from tests.helpers import TINY_MODEL


def _trained_like(training: bool) -> LGFN:
    torch.manual_seed(0)
    net = LGFN(scale=2, num_frames=5, **TINY_MODEL).train(training)
    for dcn in net.cd_align.dc:
        torch.nn.init.normal_(dcn.conv_offset_mask.weight, std=0.05)
    return net


def _state(net: LGFN) -> dict:
    """Everything a resolver could change: values, memory layout and identity of every tensor, the
    mode of every module and the deformable backend of every deformable convolution."""
    return {
        "tensors": {name: (t.clone(), t.stride(), t.data_ptr()) for name, t in net.state_dict().items()},
        "training": [module.training for module in net.modules()],
        "backend": net.dcn_backend,
        "backends": [m.backend for m in net.modules() if isinstance(m, ModulatedDeformConv)],
    }


def _assert_same_state(net: LGFN, before: dict) -> None:
    after = _state(net)
    assert after["training"] == before["training"]
    assert after["backend"] == before["backend"] and after["backends"] == before["backends"]
    assert after["tensors"].keys() == before["tensors"].keys()
    for name, (value, stride, pointer) in before["tensors"].items():
        now_value, now_stride, now_pointer = after["tensors"][name]
        assert torch.equal(now_value, value), name
        assert (now_stride, now_pointer) == (stride, pointer), name


@pytest.mark.parametrize(
    ("training", "options"),
    [
        (True, {}),  # the CPU fast path: channels-last weights and grid_sample
        (False, {}),
        (True, {"reuse_features": False, "channels_last": False}),  # the reference path
        (True, {"batch": 2, "tile": 6, "tile_overlap": 2, "self_ensemble": True}),
        (False, {"reuse_features": False, "dcn_backend": "grid_sample"}),
    ],
)
def test_the_handed_model_is_unchanged_after_building_and_running_a_resolver(clip, training, options):
    net = _trained_like(training)
    before = _state(net)
    resolver = VideoSuperResolver(net, **options)
    frames = [frame[:8, :10] for frame in clip[:3]]
    list(resolver.upscale_clip(frames))
    list(resolver.stream(iter(frames), start=1))
    _assert_same_state(net, before)
    assert net.training == training


def test_a_model_already_prepared_is_run_as_it_is_and_gives_the_same_frames(clip):
    """The copy changes nothing but who owns it: the frames are those of the model prepared in place
    (what the resolver used to do to the handed model), bit for bit."""
    handed = _trained_like(training=True)
    prepared = copy.deepcopy(handed).eval().to(memory_format=torch.channels_last)
    prepared.set_dcn_backend("grid_sample")
    on_prepared = VideoSuperResolver(prepared)
    assert on_prepared.model is prepared  # nothing to change: no copy
    on_handed = VideoSuperResolver(handed)
    assert on_handed.model is not handed
    for (_, a), (_, b) in zip(
        on_handed.upscale_clip(clip, as_float=True),
        on_prepared.upscale_clip(clip, as_float=True),
        strict=True,
    ):
        assert torch.equal(a, b)
    plain = VideoSuperResolver(handed.eval(), reuse_features=False, channels_last=False)
    assert plain.model is handed  # eval mode, contiguous, its own backend: run as it is


@pytest.fixture
def kernel_calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Count the calls of each deformable-convolution kernel (of models built after this fixture)."""
    calls = {"torchvision": 0, "grid_sample": 0}
    for backend in calls:
        name = f"_{backend}_deform_conv"
        kernel = getattr(deform_conv_module, name)

        def counted(*args, backend=backend, kernel=kernel, **kwargs):
            calls[backend] += 1
            return kernel(*args, **kwargs)

        monkeypatch.setattr(deform_conv_module, name, counted)
    return calls


def test_fast_path_runs_grid_sample_on_cpu_plain_path_torchvision(clip, kernel_calls):
    net = _trained_like(training=False)
    before = _state(net)
    frames = clip[:5]
    list(VideoSuperResolver(net, reuse_features=False).upscale_clip(frames))
    assert kernel_calls["torchvision"] > 0 and kernel_calls["grid_sample"] == 0
    kernel_calls["torchvision"] = 0
    list(VideoSuperResolver(net).upscale_clip(frames))
    assert kernel_calls["grid_sample"] > 0 and kernel_calls["torchvision"] == 0
    _assert_same_state(net, before)
    assert net.dcn_backend == "torchvision"
