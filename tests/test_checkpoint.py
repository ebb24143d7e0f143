"""Checkpoints: both formats load, bad files get one clear error, writes are atomic."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch

import lgfn
from lgfn.checkpoint import atomic_torch_save, load_checkpoint, save_checkpoint, split_checkpoint
from lgfn.errors import CheckpointError, OutOfMemory
from lgfn.models import LGFN
from tests.helpers import TINY_MODEL


@pytest.fixture
def tiny():
    torch.manual_seed(0)
    return LGFN(scale=2, num_frames=3, **TINY_MODEL)


def test_project_checkpoint_records_config_and_round_trips(tmp_path, tiny):
    path = tmp_path / "tiny.pth"
    save_checkpoint(path, tiny, extra={"iteration": 7})
    raw = load_checkpoint(path)
    assert raw["format"] == "lgfn" and raw["iteration"] == 7
    assert raw["model_config"]["num_features"] == 16
    model = lgfn.load_model(path)  # no arguments needed for a non-default configuration
    assert model.config == tiny.config and not model.training
    for key, value in tiny.state_dict().items():
        assert torch.equal(model.state_dict()[key], value)


def test_plain_state_dict_with_wrapper_prefix_loads(tmp_path, tiny):
    path = tmp_path / "ddp.pth"
    torch.save({f"module.{k}": v for k, v in tiny.state_dict().items()}, path)
    model = lgfn.load_model(path, scale=2, num_frames=3, **TINY_MODEL)
    assert torch.equal(model.feat0.weight, tiny.feat0.weight)


def test_overrides_replace_stored_config(tmp_path, tiny):
    path = tmp_path / "tiny.pth"
    save_checkpoint(path, tiny)
    with pytest.raises(CheckpointError, match="does not fit"):
        lgfn.load_model(path, scale=4)


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match=r"nothere\.pth does not exist"):
        lgfn.load_model(tmp_path / "nothere.pth")


def test_not_a_checkpoint(tmp_path):
    path = tmp_path / "notes.pth"
    path.write_text("these are not weights")
    with pytest.raises(CheckpointError, match=r"notes\.pth is not a readable PyTorch file"):
        lgfn.load_model(path)


def test_a_text_file_is_named_as_no_checkpoint_not_by_a_number(tmp_path):
    path = tmp_path / "notes.pth"
    path.write_text("hello, these are notes")  # torch.load said: 101
    with pytest.raises(CheckpointError) as info:
        lgfn.load_model(path)
    assert str(info.value) == (
        f"checkpoint {path} is not a readable PyTorch file: it is neither a zip archive nor a pickle "
        "(it starts with b'hell'); is it the right file?"
    )


def test_random_bytes_are_corrupt_not_unsafe(tmp_path):
    path = tmp_path / "noise.pth"
    path.write_bytes(b"\x80" + np.random.default_rng(1).integers(0, 256, 3000, dtype=np.uint8).tobytes())
    with pytest.raises(CheckpointError) as info:
        lgfn.load_model(path)
    message = str(info.value)
    assert message.startswith(f"checkpoint {path} is not a readable PyTorch file (truncated or corrupt?): ")
    assert "unpickling failed: Unsupported operand" in message and "\n" not in message


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (KeyError(19), "the bytes are no pickle (KeyError 19: an unknown pickle instruction)"),
        (KeyError("101"), "the bytes are no pickle (KeyError '101': an unknown pickle instruction)"),
        (EOFError(), "the file ends before its pickle does (EOFError): truncated?"),
    ],
)
def test_a_load_error_without_words_gets_some(tmp_path, monkeypatch, error, reason):
    path = tmp_path / "odd.pth"
    path.write_bytes(b"\x80\x02garbage")

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(torch, "load", fail)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    assert (
        str(info.value)
        == f"checkpoint {path} is not a readable PyTorch file (truncated or corrupt?): {reason}"
    )


def test_truncated_checkpoint(tmp_path, tiny):
    path = tmp_path / "cut.pth"
    save_checkpoint(path, tiny)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"cut\.pth is not a readable PyTorch file"):
        lgfn.load_model(path)


def test_checkpoint_of_another_model(tmp_path):
    path = tmp_path / "resnet.pth"
    torch.save(torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.Linear(8, 2)).state_dict(), path)
    with pytest.raises(CheckpointError) as info:
        lgfn.load_model(path)
    message = str(info.value)
    assert "resnet.pth" in message
    assert "556 key(s) missing: feat0.weight" in message
    assert "4 key(s) unexpected: 0.weight, 0.bias, 1.weight, 1.bias" in message


def test_checkpoint_of_another_configuration(tmp_path, tiny):
    path = tmp_path / "tiny_plain.pth"
    torch.save(tiny.state_dict(), path)  # a plain state dict records no configuration
    with pytest.raises(CheckpointError) as info:
        lgfn.load_model(path)
    message = str(info.value)
    assert "of the wrong shape: feat0.weight (16, 3, 3, 3) != (64, 3, 3, 3)" in message
    assert "key(s) missing" in message and "more)" in message


def test_non_tensor_content_is_refused(tmp_path):
    path = tmp_path / "list.pth"
    torch.save([1, 2, 3], path)
    with pytest.raises(CheckpointError, match="holds a list"):
        lgfn.load_model(path)
    path = tmp_path / "empty.pth"
    torch.save({"meta": "x"}, path)
    with pytest.raises(CheckpointError, match="no state dict of tensors"):
        lgfn.load_model(path)


class _Payload:
    def __reduce__(self):
        return (os.system, ("echo should-never-run",))


def test_code_in_a_checkpoint_is_never_executed(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"weights": _Payload()}, path, pickle_module=pickle)
    with pytest.raises(CheckpointError, match="cannot be loaded safely"):
        lgfn.load_model(path)


def test_failed_write_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "latest.pth"
    atomic_torch_save({"v": torch.tensor(1)}, path)

    def broken_save(obj, f, *args, **kwargs):
        f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        atomic_torch_save({"v": torch.tensor(2)}, path)
    monkeypatch.undo()
    assert load_checkpoint(path)["v"].item() == 1
    assert [p.name for p in tmp_path.iterdir()] == ["latest.pth"]


def test_export_script_slims_a_training_checkpoint_to_half_precision(tmp_path, tiny):
    import subprocess
    import sys

    from tests.helpers import REPO

    source = tmp_path / "latest.pth"
    tiny.set_dcn_backend("grid_sample")  # trained with another backend: not part of the weights
    save_checkpoint(source, tiny, extra={"iteration": 42, "optimizer": {"state": {}, "param_groups": []}})
    assert "dcn_backend" not in load_checkpoint(source)["model_config"]
    dest = tmp_path / "slim.pth"
    subprocess.run(
        [sys.executable, "scripts/export_checkpoint.py", str(source), str(dest), "--half"],
        cwd=REPO, check=True, capture_output=True,
    )  # fmt: skip
    raw = load_checkpoint(dest)
    assert "optimizer" not in raw and raw["iteration"] == 42
    assert "dcn_backend" not in raw["model_config"]
    assert raw["state_dict"]["feat0.weight"].dtype == torch.float16
    model = lgfn.load_model(dest)
    assert model.feat0.weight.dtype == torch.float32
    torch.testing.assert_close(model.feat0.weight, tiny.feat0.weight.half().float())


def test_a_checkpoint_that_recorded_its_backend_loads_with_any_backend(tmp_path, tiny):
    """Earlier versions stored dcn_backend in model_config; it is a run-time choice and is ignored."""
    path = tmp_path / "old.pth"
    save_checkpoint(path, tiny)
    raw = load_checkpoint(path)
    raw["model_config"]["dcn_backend"] = "grid_sample"
    torch.save(raw, path)
    model = lgfn.load_model(path, dcn_backend="grid_sample")
    assert model.dcn_backend == "grid_sample" and model.config == tiny.config
    assert lgfn.load_model(path).dcn_backend == "torchvision"


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_weights_that_are_not_finite_are_refused_naming_them(tmp_path, tiny, bad):
    state = tiny.state_dict()
    names = [k for k, v in state.items() if v.is_floating_point()][:7]
    for name in names:
        state[name].view(-1)[0] = bad  # one value in each is enough
    save_checkpoint(tmp_path / "diverged.pth", tiny)
    with pytest.raises(CheckpointError) as caught:
        lgfn.load_model(tmp_path / "diverged.pth")
    message = str(caught.value)
    assert "diverged.pth" in message and f"7 of {len(state)} weight tensors hold inf or NaN" in message
    assert all(name in message for name in names[:5]) and names[5] not in message and "2 more" in message
    torch.save(state, tmp_path / "plain.pth")  # the authors' format, read by resuming and fine-tuning too
    with pytest.raises(CheckpointError, match="plain.pth: 7 of"):
        split_checkpoint(load_checkpoint(tmp_path / "plain.pth"), tmp_path / "plain.pth")


def test_a_stored_configuration_too_large_to_allocate_is_one_error(tmp_path, tiny):
    """A real allocation failure: 200,000 feature channels need terabytes for one convolution."""
    save_checkpoint(tmp_path / "huge.pth", tiny)
    raw = load_checkpoint(tmp_path / "huge.pth")
    raw["model_config"]["num_features"] = 200_000
    torch.save(raw, tmp_path / "huge.pth")
    with pytest.raises(OutOfMemory) as caught:
        lgfn.load_model(tmp_path / "huge.pth")
    message = str(caught.value)
    assert message.startswith("out of memory while building the network of checkpoint")
    assert "huge.pth" in message and "num_features=200000" in message and "GiB" in message
