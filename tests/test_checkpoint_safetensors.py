"""Checkpoints as .safetensors files: they load as the .pth form does, the shipped ones hold the same
tensors, and a file of another model or a corrupt one gets the same clear errors."""

from __future__ import annotations

import importlib.util
import sys

import pytest
import torch

import lgfn
from lgfn.checkpoint import load_checkpoint, save_checkpoint
from lgfn.errors import CheckpointError
from lgfn.models import LGFN
from tests.helpers import REPO, TINY_MODEL

needs_safetensors = pytest.mark.skipif(
    importlib.util.find_spec("safetensors") is None, reason="the safetensors package is not installed"
)

_spec = importlib.util.spec_from_file_location("export_checkpoint", REPO / "scripts" / "export_checkpoint.py")
export_checkpoint = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(export_checkpoint)


def save_file(tensors: dict[str, torch.Tensor], path, metadata: dict[str, str] | None = None) -> None:
    """A safetensors file written by the package itself, as other tools write them."""
    from safetensors.torch import save_file as write

    write(tensors, str(path), metadata)


@pytest.fixture
def tiny():
    torch.manual_seed(0)
    return LGFN(scale=2, num_frames=3, **TINY_MODEL)


@needs_safetensors
def test_safetensors_checkpoint_reads_as_the_pth_form(tmp_path, tiny):
    save_checkpoint(tmp_path / "tiny.pth", tiny, extra={"iteration": 7, "note": "n"})
    save_checkpoint(tmp_path / "tiny.safetensors", tiny, extra={"iteration": 7, "note": "n"})
    assert (tmp_path / "tiny.safetensors").read_bytes()[8:9] == b"{"  # a safetensors header, no pickle
    pth, st = load_checkpoint(tmp_path / "tiny.pth"), load_checkpoint(tmp_path / "tiny.safetensors")
    assert {k: v for k, v in st.items() if k != "state_dict"} == {
        k: v for k, v in pth.items() if k != "state_dict"
    }
    assert st["iteration"] == 7 and st["format_version"] == 1
    model = lgfn.load_model(tmp_path / "tiny.safetensors")  # the configuration comes from the metadata
    assert model.config == tiny.config and not model.training
    for key, value in tiny.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key


@needs_safetensors
def test_a_training_state_does_not_fit_a_safetensors_file(tmp_path, tiny):
    path = tmp_path / "latest.safetensors"
    with pytest.raises(ValueError, match=r"save training checkpoints as \.pth"):
        save_checkpoint(path, tiny, extra={"optimizer": {"state": {0: torch.zeros(2)}}})
    assert not path.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["lgfn_x4_demo", "lgfn_x4_full"])
@needs_safetensors
def test_shipped_safetensors_hold_the_same_tensors_as_the_pth(name):
    pth = load_checkpoint(REPO / "checkpoints" / f"{name}.pth")
    st = load_checkpoint(REPO / "checkpoints" / f"{name}.safetensors")
    assert st["model_config"] == {k: v for k, v in pth["model_config"].items() if k != "dcn_backend"}
    assert st["iteration"] == pth["iteration"]
    assert st["state_dict"].keys() == pth["state_dict"].keys()
    for key, value in pth["state_dict"].items():
        assert st["state_dict"][key].dtype == value.dtype and torch.equal(st["state_dict"][key], value), key


@needs_safetensors
def test_shipped_demo_safetensors_gives_the_outputs_of_the_pth():
    pth = lgfn.load_model(REPO / "checkpoints" / "lgfn_x4_demo.pth")
    st = lgfn.load_model(REPO / "checkpoints" / "lgfn_x4_demo.safetensors")
    window = torch.rand(1, pth.num_frames, 3, 12, 16, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert torch.equal(st(window), pth(window))


@needs_safetensors
def test_export_checkpoint_script_writes_safetensors(tmp_path, tiny, capsys):
    save_checkpoint(tmp_path / "final.pth", tiny, extra={"iteration": 12, "note": "run 2"})
    assert export_checkpoint.main([str(tmp_path / "final.pth"), str(tmp_path / "slim.safetensors")]) == 0
    assert "wrote" in capsys.readouterr().out
    raw = load_checkpoint(tmp_path / "slim.safetensors")
    assert raw["iteration"] == 12 and raw["note"] == "run 2"  # the source's note is kept
    model = lgfn.load_model(tmp_path / "slim.safetensors")
    assert torch.equal(model.feat0.weight, tiny.feat0.weight)


@needs_safetensors
def test_plain_safetensors_state_dict_loads_like_a_plain_pth(tmp_path, tiny):
    path = tmp_path / "converted.safetensors"
    # As other tools write them: their own metadata, no LGFN configuration, a wrapper prefix.
    save_file({f"module.{k}": v.contiguous() for k, v in tiny.state_dict().items()}, path, {"format": "pt"})
    model = lgfn.load_model(path, scale=2, num_frames=3, **TINY_MODEL)
    assert torch.equal(model.feat0.weight, tiny.feat0.weight)


@needs_safetensors
def test_safetensors_of_another_model(tmp_path):
    path = tmp_path / "resnet.safetensors"
    save_file(torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.Linear(8, 2)).state_dict(), path)
    with pytest.raises(CheckpointError) as info:
        lgfn.load_model(path)
    message = str(info.value)
    assert "resnet.safetensors" in message
    assert "556 key(s) missing: feat0.weight" in message
    assert "4 key(s) unexpected: 0.bias, 0.weight, 1.bias, 1.weight" in message  # a file keeps no order


@needs_safetensors
def test_safetensors_of_another_configuration(tmp_path, tiny):
    path = tmp_path / "tiny_plain.safetensors"
    save_file({k: v.contiguous() for k, v in tiny.state_dict().items()}, path)  # records no configuration
    with pytest.raises(CheckpointError, match=r"of the wrong shape: feat0\.weight \(16, 3, 3, 3\) != \(64"):
        lgfn.load_model(path)


@needs_safetensors
def test_truncated_safetensors(tmp_path, tiny):
    path = tmp_path / "cut.safetensors"
    save_checkpoint(path, tiny)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError) as info:
        lgfn.load_model(path)
    message = str(info.value)
    expected = f"checkpoint {path} is not a readable safetensors file (truncated or corrupt?): "
    assert message.startswith(expected)
    assert "\n" not in message


@needs_safetensors
def test_a_text_file_named_safetensors(tmp_path):
    path = tmp_path / "notes.safetensors"
    path.write_text("hello, these are notes")
    with pytest.raises(CheckpointError) as info:
        lgfn.load_model(path)
    assert str(info.value) == (
        f"checkpoint {path} is not a readable safetensors file: it has no safetensors header "
        "(it starts with b'hell'); is it the right file?"
    )


@needs_safetensors
def test_unreadable_lgfn_metadata(tmp_path, tiny):
    path = tmp_path / "odd.safetensors"
    tensors = {k: v.contiguous() for k, v in tiny.state_dict().items()}
    save_file(tensors, path, {"format": "lgfn", "format_version": "1", "model_config": "{not json"})
    with pytest.raises(CheckpointError, match=r"odd\.safetensors has unreadable LGFN metadata"):
        lgfn.load_model(path)


@needs_safetensors
def test_a_newer_format_version_is_named(tmp_path, tiny):
    path = tmp_path / "new.safetensors"
    tensors = {k: v.contiguous() for k, v in tiny.state_dict().items()}
    save_file(tensors, path, {"format": "lgfn", "format_version": "9", "model_config": "{}"})
    with pytest.raises(CheckpointError, match="format version 9, newer than this lgfn"):
        lgfn.load_model(path)


def test_without_the_package_a_safetensors_file_gets_one_clear_error(tmp_path, tiny, monkeypatch):
    monkeypatch.setitem(sys.modules, "safetensors", None)  # import fails as when not installed
    with pytest.raises(CheckpointError, match="needs the safetensors package"):
        save_checkpoint(tmp_path / "tiny.safetensors", tiny)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(CheckpointError, match="needs the safetensors package"):
        lgfn.load_model(REPO / "checkpoints" / "lgfn_x4_demo.safetensors")
