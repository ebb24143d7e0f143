"""``lgfn export``, ``lgfn upscale --onnx`` and ``test.py --onnx``: the same frames as the PyTorch path,
and one clear error for each bad input."""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest
import torch

from lgfn import cli
from lgfn.checkpoint import DEFAULT_CHECKPOINT
from lgfn.cli import evaluate
from lgfn.media import open_source
from tests.helpers import close_to, error_line, make_frames, run_cli, shared_data_path, write_folder

onnx = pytest.importorskip("onnx", reason="the ONNX extra is not installed (pip install -e '.[onnx]')")


def _frames(folder) -> list[np.ndarray]:
    return list(open_source(folder))


# -------------------------------------------------------------------------------------------------
# Same output as PyTorch


def test_upscale_onnx_on_a_real_clip_is_within_one_grey_level_of_pytorch(tmp_path, demo_onnx):
    clip = shared_data_path("Vid4", "GT", "city")  # 704x576, upscaled from its 176x144 downscaling
    common = ["--reference", "--max-frames", "3", "--device", "cpu"]
    assert run_cli(clip, "-o", tmp_path / "torch", "--ckpt", DEFAULT_CHECKPOINT, *common) == 0
    assert run_cli(clip, "-o", tmp_path / "onnx", "--onnx", demo_onnx["deform_conv"], *common) == 0
    expected, actual = _frames(tmp_path / "torch"), _frames(tmp_path / "onnx")
    assert len(actual) == len(expected) == 3
    for a, b in zip(actual, expected, strict=True):
        assert a.shape == b.shape == (576, 704, 3)
        assert close_to(a, b, 1)


def test_upscale_onnx_tiles_and_resume_like_pytorch(tmp_path, tiny_ckpt, tiny_onnx):
    write_folder(tmp_path / "in", make_frames(7, 24, 20))
    tiles = ["--tile", "12", "--tile-overlap", "4", "--batch", "2", "--device", "cpu"]
    assert run_cli(tmp_path / "in", "-o", tmp_path / "torch", "--ckpt", tiny_ckpt, "--plain", *tiles) == 0
    assert run_cli(tmp_path / "in", "-o", tmp_path / "onnx", "--onnx", tiny_onnx, *tiles) == 0
    for a, b in zip(_frames(tmp_path / "onnx"), _frames(tmp_path / "torch"), strict=True):
        assert close_to(a, b, 1)


def test_upscale_compare_with_onnx_shows_the_onnx_runs_frames_beside_bicubics(tmp_path, tiny_onnx):
    write_folder(tmp_path / "in", make_frames(4, 24, 20))
    assert run_cli(tmp_path / "in", "-o", tmp_path / "onnx", "--onnx", tiny_onnx, "--device", "cpu") == 0
    assert run_cli(tmp_path / "in", "-o", tmp_path / "bicubic", "--method", "bicubic") == 0
    command = [tmp_path / "in", "-o", tmp_path / "both", "--onnx", tiny_onnx, "--device", "cpu"]
    assert run_cli(*command, "--compare", "side-by-side") == 0
    below = 40  # rows under the labels of 80-pixel-high frames
    both, onnx_frames, bicubic = (_frames(tmp_path / n) for n in ("both", "onnx", "bicubic"))
    assert len(both) == 4
    for frame, network, baseline in zip(both, onnx_frames, bicubic, strict=True):
        assert frame.shape == (80, 2 * 96 + 2, 3)
        np.testing.assert_array_equal(frame[below:, :96], baseline[below:])
        np.testing.assert_array_equal(frame[below:, -96:], network[below:])


def test_evaluate_with_onnx_scores_like_pytorch(tmp_path, tiny_ckpt, tiny_onnx):
    write_folder(tmp_path / "clips" / "a", make_frames(5, 32, 32))
    averages = {}
    for name, option in (("torch", "--ckpt"), ("onnx", "--onnx")):
        network = tiny_ckpt if name == "torch" else tiny_onnx
        argv = ["--dataset", "folder", "--data-root", str(tmp_path / "clips"), option, str(network)]
        out = tmp_path / name
        assert evaluate.main([*argv, "--device", "cpu", "--out", str(out), "--no-progress"]) == 0
        averages[name] = json.loads((out / "metrics.json").read_text())["average"]
    assert abs(averages["onnx"]["psnr"] - averages["torch"]["psnr"]) < 1e-3


# -------------------------------------------------------------------------------------------------
# lgfn export


def test_export_command_writes_a_checked_file(tmp_path, tiny_ckpt, capsys):
    out = tmp_path / "sub" / "tiny.onnx"
    assert cli.main(["export", str(tiny_ckpt), "-o", str(out), "--dcn", "grid_sample"]) == 0
    assert "wrote" in capsys.readouterr().out
    props = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert props["lgfn.dcn"] == "grid_sample"
    assert sorted(os.listdir(out.parent)) == ["tiny.onnx"]  # no temporary file left
    assert cli.main(["export", str(tiny_ckpt), "-o", str(out)]) == 2
    assert "--overwrite" in error_line(capsys)


def test_export_refuses_a_checkpoint_that_is_not_lgfn(tmp_path, capsys):
    torch.save({"conv.weight": torch.zeros(3, 3)}, tmp_path / "other.pth")
    assert cli.main(["export", str(tmp_path / "other.pth"), "-o", str(tmp_path / "m.onnx")]) == 2
    assert "other.pth" in error_line(capsys)
    assert os.listdir(tmp_path) == ["other.pth"]


def test_export_to_an_unwritable_place_is_one_error(tmp_path, tiny_ckpt, capsys):
    (tmp_path / "file").write_text("not a folder")
    assert cli.main(["export", str(tiny_ckpt), "-o", str(tmp_path / "file" / "m.onnx")]) == 2
    assert "cannot write" in error_line(capsys)
    assert os.listdir(tmp_path) == ["file"]


def test_without_the_onnx_packages_commands_name_the_install(tmp_path, tiny_ckpt, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as when not installed
    assert cli.main(["export", str(tiny_ckpt), "-o", str(tmp_path / "m.onnx")]) == 2
    assert "pip install -e '.[onnx]'" in error_line(capsys)
    write_folder(tmp_path / "in", make_frames(3, 16, 16))
    assert run_cli(tmp_path / "in", "-o", tmp_path / "out", "--onnx", tmp_path / "m.onnx") == 2
    assert "onnxruntime" in error_line(capsys)
    assert sorted(os.listdir(tmp_path)) == ["in"]


# -------------------------------------------------------------------------------------------------
# Bad --onnx files and options


def _upscale_error(tmp_path, capsys, *options) -> str:
    write_folder(tmp_path / "in", make_frames(3, 16, 16))
    assert run_cli(tmp_path / "in", "-o", tmp_path / "out", "--device", "cpu", *options) == 2
    assert not (tmp_path / "out").exists()
    return error_line(capsys)


def test_an_onnx_file_that_is_not_an_exported_lgfn_is_refused(tmp_path, capsys):
    identity = onnx.helper.make_node("Identity", ["x"], ["y"])
    value = onnx.helper.make_tensor_value_info
    graph = onnx.helper.make_graph(
        [identity], "g", [value("x", onnx.TensorProto.FLOAT, [1])], [value("y", onnx.TensorProto.FLOAT, [1])]
    )
    onnx.save(onnx.helper.make_model(graph), str(tmp_path / "other.onnx"))
    assert "not an exported LGFN" in _upscale_error(tmp_path, capsys, "--onnx", tmp_path / "other.onnx")


def test_a_corrupt_onnx_file_is_refused(tmp_path, tiny_onnx, capsys):
    (tmp_path / "cut.onnx").write_bytes(tiny_onnx.read_bytes()[:5000])
    line = _upscale_error(tmp_path, capsys, "--onnx", tmp_path / "cut.onnx")
    assert "cut.onnx" in line and ("corrupt" in line or "cannot load" in line)


def test_metadata_that_contradicts_the_graph_is_refused(tmp_path, tiny_onnx, capsys):
    proto = onnx.load(str(tiny_onnx))
    for prop in proto.metadata_props:
        if prop.key == "lgfn.config":
            prop.value = prop.value.replace('"num_frames": 5', '"num_frames": 7')
        if prop.key == "lgfn.num_frames":
            prop.value = "7"
    onnx.save(proto, str(tmp_path / "edited.onnx"))
    assert "7 frames" in _upscale_error(tmp_path, capsys, "--onnx", tmp_path / "edited.onnx")


@pytest.mark.parametrize(
    "options, message",
    [
        (["--scale", "2"], "--scale 2 does not match"),
        (["--precision", "bf16"], "--precision bf16 does not apply with --onnx"),
        (["--compile"], "--compile"),
        (["--ckpt", str(DEFAULT_CHECKPOINT)], "--onnx and --ckpt"),
    ],
)
def test_options_that_cannot_apply_to_an_onnx_file(tmp_path, tiny_onnx, capsys, options, message):
    assert message in _upscale_error(tmp_path, capsys, "--onnx", tiny_onnx, *options)
