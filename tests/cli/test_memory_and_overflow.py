"""Out of memory, and weights or outputs that are not finite, in every command: one ``error:`` line,
exit status 2, no traceback, nothing written under the output's name."""

from __future__ import annotations

import os

import pytest
import torch
import yaml

import lgfn
from lgfn import cli
from lgfn.cli import evaluate
from lgfn.cli import train as train_command
from lgfn.cli.console import run_main
from lgfn.models import LGFN
from tests.helpers import TINY_MODEL, error_line, make_frames, run_cli, tiny_config, write_clips, write_folder


@pytest.fixture
def tiny_ckpt(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "ckpt" / "tiny.pth"
    lgfn.save_checkpoint(path, LGFN(scale=2, num_frames=3, **TINY_MODEL))
    return path


def _cuda_out_of_memory(*args, **kwargs):
    raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 30.00 GiB.")


def test_upscale_out_of_memory_names_the_frame_and_tile(tmp_path, tiny_ckpt, monkeypatch, capsys):
    write_folder(tmp_path / "in", make_frames(3, 16, 12))
    monkeypatch.setattr(LGFN, "forward", _cuda_out_of_memory)
    assert (
        run_cli(tmp_path / "in", "-o", tmp_path / "out", "--ckpt", tiny_ckpt, "--plain", "--device", "cpu")
        == 2
    )
    line = error_line(capsys)
    assert "out of memory while super-resolving frame 0 (16x12 on cpu)" in line and "--tile 256" in line
    assert sorted(os.listdir(tmp_path)) == ["ckpt", "in"]


def test_upscale_refuses_to_write_an_output_that_overflowed(tmp_path, tiny_ckpt, capsys):
    model = lgfn.load_model(tiny_ckpt)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.mul_(1e10)  # finite weights, activations past float32's range
    lgfn.save_checkpoint(tiny_ckpt, model)
    write_folder(tmp_path / "in", make_frames(3, 16, 12))
    assert run_cli(tmp_path / "in", "-o", tmp_path / "out", "--ckpt", tiny_ckpt, "--device", "cpu") == 2
    assert "output for frame 0 holds inf or NaN values" in error_line(capsys)
    assert sorted(os.listdir(tmp_path)) == ["ckpt", "in"]


def test_evaluate_out_of_memory_is_one_line(tmp_path, tiny_ckpt, monkeypatch, capsys):
    write_folder(tmp_path / "clips" / "a", make_frames(3, 16, 16))  # the LR frames are 8x8
    monkeypatch.setattr(LGFN, "forward", _cuda_out_of_memory)
    argv = ["--dataset", "folder", "--data-root", str(tmp_path / "clips"), "--ckpt", str(tiny_ckpt)]
    argv += ["--plain", "--device", "cpu", "--out", str(tmp_path / "eval"), "--no-progress"]
    assert run_main(evaluate.main, argv) == 2
    assert "out of memory while super-resolving frame 1 (8x8 on cpu)" in error_line(capsys)


def test_export_of_a_model_too_large_to_allocate(tmp_path, tiny_ckpt, capsys):
    raw = torch.load(tiny_ckpt, weights_only=True)
    raw["model_config"]["num_features"] = 200_000  # terabytes of weights: allocation fails at once
    torch.save(raw, tiny_ckpt)
    assert cli.main(["export", str(tiny_ckpt), "-o", str(tmp_path / "m.onnx")]) == 2
    assert "out of memory while building the network of checkpoint" in error_line(capsys)
    assert sorted(os.listdir(tmp_path)) == ["ckpt"]


def test_training_a_model_too_large_to_allocate(tmp_path, capsys):
    config = tiny_config(write_clips(tmp_path / "clips"), model={"num_features": 200_000})
    (tmp_path / "huge.yaml").write_text(yaml.safe_dump(config.to_dict()))
    assert (
        run_main(train_command.main, ["-c", str(tmp_path / "huge.yaml"), "--out", str(tmp_path / "run")]) == 2
    )
    line = error_line(capsys)
    assert "out of memory (DefaultCPUAllocator: can't allocate memory" in line and "GiB" in line
    assert "train.batch_size" in line
    assert not (tmp_path / "run").exists()  # the run folder it made is removed again


def test_evaluate_and_upscale_refuse_weights_that_are_not_finite(tmp_path, tiny_ckpt, capsys):
    model = lgfn.load_model(tiny_ckpt)
    with torch.no_grad():
        model.tail[1].weight[0, 0, 0, 0] = float("nan")  # one value of one tensor
    lgfn.save_checkpoint(tiny_ckpt, model)
    write_folder(tmp_path / "clips" / "a", make_frames(3, 16, 16))
    argv = ["--dataset", "folder", "--data-root", str(tmp_path / "clips"), "--ckpt", str(tiny_ckpt)]
    assert run_main(evaluate.main, [*argv, "--device", "cpu", "--out", str(tmp_path / "eval")]) == 2
    assert "tiny.pth: 1 of" in error_line(capsys)
    assert run_cli(tmp_path / "clips" / "a", "-o", tmp_path / "out", "--ckpt", tiny_ckpt) == 2
    assert "weight tensors hold inf or NaN values (tail.1.weight)" in error_line(capsys)
    assert sorted(os.listdir(tmp_path)) == ["ckpt", "clips"]
