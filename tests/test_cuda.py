"""CUDA: the same network, inference paths and training step on the GPU as on the CPU.

These run only where CUDA is available (a GPU machine); elsewhere they are skipped with that reason.
TF32 convolutions are switched off so that CUDA fp32 is compared with CPU fp32 at fp32 tolerances.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lgfn.checkpoint import load_checkpoint
from lgfn.inference import VideoSuperResolver
from lgfn.models import LGFN, ModulatedDeformConv
from tests.helpers import TINY_MODEL

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.fixture(autouse=True)
def exact_fp32():
    conv, matmul = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = conv, matmul


def _model(scale: int = 2, frames: int = 5) -> LGFN:
    torch.manual_seed(0)
    net = LGFN(scale=scale, num_frames=frames, **TINY_MODEL).eval()
    for dcn in net.cd_align.dc:
        torch.nn.init.normal_(dcn.conv_offset_mask.weight, std=0.05)
    return net


def _clip(n: int = 7, size: tuple[int, int] = (14, 18)) -> list[np.ndarray]:
    base = np.random.default_rng(0).integers(0, 256, (*size, 3))
    return [np.roll(base, shift=i, axis=1).astype(np.uint8) for i in range(n)]


def _outputs(resolver: VideoSuperResolver, frames: list[np.ndarray]) -> list[torch.Tensor]:
    return [sr.float().cpu() for _, sr in resolver.upscale_clip(frames, as_float=True)]


@pytest.mark.parametrize("backend", ["torchvision", "grid_sample"])
def test_deformable_conv_on_cuda_matches_cpu_with_gradients(backend):
    torch.manual_seed(0)
    cpu = ModulatedDeformConv(16, 16, 16, deformable_groups=4, backend="torchvision").double()
    torch.nn.init.normal_(cpu.conv_offset_mask.weight, std=0.3)
    gpu = ModulatedDeformConv(16, 16, 16, deformable_groups=4, backend=backend).double()
    gpu.load_state_dict(cpu.state_dict())
    gpu = gpu.cuda()
    x, guide = torch.randn(2, 16, 9, 11, dtype=torch.float64), torch.randn(2, 16, 9, 11, dtype=torch.float64)
    xg, gg = x.cuda().requires_grad_(), guide.cuda().requires_grad_()
    x.requires_grad_(), guide.requires_grad_()
    y_cpu, y_gpu = cpu(x, guide), gpu(xg, gg)
    torch.testing.assert_close(y_gpu.cpu(), y_cpu, atol=1e-5, rtol=1e-5)
    y_cpu.square().sum().backward()
    y_gpu.square().sum().backward()
    torch.testing.assert_close(xg.grad.cpu(), x.grad, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(gg.grad.cpu(), guide.grad, atol=1e-5, rtol=1e-5)
    for (name, p_cpu), p_gpu in zip(cpu.named_parameters(), gpu.parameters(), strict=True):
        torch.testing.assert_close(p_gpu.grad.cpu(), p_cpu.grad, atol=1e-5, rtol=1e-5, msg=name)


def test_model_on_cuda_matches_cpu():
    net = _model()
    x = torch.rand(2, 5, 3, 12, 16)
    with torch.no_grad():
        want = net(x)
        got = net.cuda()(x.cuda()).cpu()
    torch.testing.assert_close(got, want, atol=1e-4, rtol=0)


@pytest.mark.parametrize("batch", [1, 3])
def test_fast_cuda_path_matches_the_plain_one(batch):
    frames = _clip()
    plain = _outputs(
        VideoSuperResolver(_model(), device="cuda", reuse_features=False, channels_last=False), frames
    )
    fast = _outputs(VideoSuperResolver(_model(), device="cuda", batch=batch), frames)
    for a, b in zip(fast, plain, strict=True):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=0)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_half_precision_cuda_paths_are_close_to_fp32(precision):
    frames = _clip()
    fp32 = _outputs(VideoSuperResolver(_model(), device="cuda", batch=2), frames)
    half = _outputs(VideoSuperResolver(_model(), device="cuda", batch=2, precision=precision), frames)
    err = max((a - b).abs().max().item() for a, b in zip(fp32, half, strict=True))
    assert 0 < err < 0.05


@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_training_on_cuda_runs_and_its_checkpoint_loads_on_cpu(tmp_path, precision):
    from lgfn.training.trainer import Trainer
    from tests.helpers import tiny_config, write_clips

    clips = write_clips(tmp_path / "clips")
    config = tiny_config(clips, train={"device": "cuda", "precision": precision, "epochs": 2})
    trainer = Trainer.build(config, tmp_path / "run")
    final = trainer.fit()
    assert trainer.iteration == 4 and trainer.skipped_steps == 0
    state = load_checkpoint(final)["state_dict"]
    assert all(t.device.type == "cpu" and torch.isfinite(t).all() for t in state.values())
    torch.manual_seed(config.train.seed)  # the trainer's initial weights
    initial = LGFN.from_config(config.model).state_dict()
    assert any(not torch.equal(state[k], initial[k]) for k in initial)


def test_fast_cuda_path_lets_cudnn_pick_its_algorithms():
    from lgfn.inference import InferenceOptions, resolver_from_options

    before = torch.backends.cudnn.benchmark
    try:
        torch.backends.cudnn.benchmark = False
        resolver_from_options(_model(), InferenceOptions(plain=True), torch.device("cuda"))
        assert not torch.backends.cudnn.benchmark
        resolver_from_options(_model(), InferenceOptions(), torch.device("cuda"))
        assert torch.backends.cudnn.benchmark
    finally:
        torch.backends.cudnn.benchmark = before
