"""An ``--onnx`` file is checked against what it says it is: the graph's output against the metadata's
scale, its input type against the metadata's precision, its weights for inf and NaN; and a run that
overflows or runs out of memory stops with one clear line. Each case in ``lgfn upscale --onnx`` and
``test.py --onnx``, before anything is written."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from lgfn.cli import evaluate
from lgfn.cli.console import run_main
from lgfn.errors import CheckpointError, OutOfMemory
from lgfn.export import OnnxNetwork, export_onnx
from lgfn.inference import InferenceOptions
from tests.helpers import error_line, make_frames, run_cli, write_folder

onnx = pytest.importorskip("onnx", reason="the ONNX extra is not installed (pip install -e '.[onnx]')")
ort = pytest.importorskip("onnxruntime", reason="the ONNX extra is not installed (pip install -e '.[onnx]')")


def _props(path) -> dict[str, str]:
    return {p.key: p.value for p in onnx.load(str(path)).metadata_props}


def _relabelled(source, path, **changes):
    """A copy of ``source`` whose ``lgfn.*`` metadata (and the configuration inside it) say ``changes``."""
    proto = onnx.load(str(source))
    props = {p.key: p.value for p in proto.metadata_props}
    config = json.loads(props["lgfn.config"])
    for key, value in changes.items():
        props[f"lgfn.{key}"] = str(value)
        if key in config:
            config[key] = value
    props["lgfn.config"] = json.dumps(config)
    onnx.helper.set_model_props(proto, props)
    onnx.save(proto, str(path))
    return path


def _foreign(source, path, output_dims):
    """Another graph under ``source``'s metadata and input: it returns the window's centre frame, a
    ``(1, 3, h, w)`` "upscaling", with the output shape declared as ``output_dims``."""
    helper = onnx.helper
    frames = onnx.load(str(source)).graph.input[0]
    centre = onnx.numpy_helper.from_array(np.array(2, dtype=np.int64), "centre")
    output = helper.make_tensor_value_info("sr", onnx.TensorProto.FLOAT, output_dims)
    node = helper.make_node("Gather", [frames.name, "centre"], ["sr"], axis=1)
    graph = helper.make_graph([node], "centre_frame", [frames], [output], initializer=[centre])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)], ir_version=10)
    helper.set_model_props(proto, _props(source))
    onnx.save(proto, str(path))
    return path


def _refused_everywhere(tmp_path, capsys, path, before_loading: bool = True) -> list[str]:
    """The error lines of ``lgfn upscale --onnx`` and ``test.py --onnx`` on ``path``; neither wrote
    (see :func:`_nothing_scored`)."""
    write_folder(tmp_path / "in", make_frames(5, 32, 24))
    write_folder(tmp_path / "clips" / "a", make_frames(5, 32, 32))
    assert run_cli(tmp_path / "in", "-o", tmp_path / "out", "--onnx", path, "--device", "cpu") == 2
    lines = [error_line(capsys)]
    argv = ["--dataset", "folder", "--data-root", str(tmp_path / "clips"), "--onnx", str(path)]
    argv += ["--device", "cpu", "--out", str(tmp_path / "eval"), "--no-progress"]
    assert run_main(evaluate.main, argv) == 2
    lines.append(error_line(capsys))
    assert not (tmp_path / "out").exists()
    _nothing_scored(tmp_path, before_loading)
    return lines


def _nothing_scored(tmp_path, before_loading: bool = True) -> None:
    """``test.py`` wrote nothing (``before_loading``: the file was refused before any work), or
    (refused while running) only bicubic's scores in its resume record."""
    written = os.listdir(tmp_path / "eval") if (tmp_path / "eval").exists() else []
    if before_loading:
        assert written == []
    else:
        assert set(written) <= {"partial.jsonl"}
        for path in (tmp_path / "eval" / name for name in written):
            entries = path.read_text().splitlines()[1:]  # after the run's settings
            assert all("lgfn" not in entry for entry in entries)


def test_a_file_whose_metadata_says_another_scale_is_refused(tmp_path, tiny_onnx, capsys):
    path = _relabelled(tiny_onnx, tmp_path / "x2.onnx", scale=2)  # the graph upscales x4
    for line in _refused_everywhere(tmp_path, capsys, path):
        assert "x2.onnx: the graph's output" in line and "its lgfn metadata (x2)" in line


@pytest.mark.parametrize(
    "declared, message",
    [
        ([1, 3, "height", "width"], "output [('sr', [1, 3, 'height', 'width'])] is not one (1, 3, 4*h"),
        (
            [1, 3, "out_h", "out_w"],
            "made a (1, 3, 32, 32) output of a 32x32 input, but its lgfn metadata says x4",
        ),
    ],
)
def test_a_foreign_graph_under_copied_metadata_is_refused(tmp_path, tiny_onnx, capsys, declared, message):
    """Caught from the declared output where it says enough, else by running a small window at load."""
    path = _foreign(tiny_onnx, tmp_path / "centre.onnx", declared)
    for line in _refused_everywhere(tmp_path, capsys, path):
        assert message in line


def test_an_input_type_other_than_the_metadata_precision_is_refused(tmp_path, tiny_onnx, capsys):
    path = _relabelled(tiny_onnx, tmp_path / "half.onnx", precision="fp16")  # the graph takes float32
    for line in _refused_everywhere(tmp_path, capsys, path):
        assert "the graph takes tensor(float) input, but its lgfn metadata says fp16" in line


def test_weights_that_are_not_finite_are_refused(tmp_path, tiny_onnx, capsys):
    proto = onnx.load(str(tiny_onnx))
    weights = [t for t in proto.graph.initializer if t.data_type == onnx.TensorProto.FLOAT]
    damaged = weights[:2]
    for tensor in damaged:
        array = onnx.numpy_helper.to_array(tensor).copy()
        array.flat[0] = np.nan
        tensor.CopyFrom(onnx.numpy_helper.from_array(array, tensor.name))
    onnx.save(proto, str(tmp_path / "nan.onnx"))
    for line in _refused_everywhere(tmp_path, capsys, tmp_path / "nan.onnx"):
        assert f"nan.onnx: 2 of {len(weights)} weight tensors hold inf or NaN" in line
        assert all(tensor.name in line for tensor in damaged)


def test_an_fp16_file_that_overflows_is_an_error_advising_fp32(tmp_path, tiny_net, capsys):
    """Weights ten times larger: the output reaches about 1e6, past fp16's 65504 but nowhere near fp32's
    limit; the file's own precision is to blame, and the message says so."""
    large = tiny_net.__class__.from_config(tiny_net.config).eval()
    large.load_state_dict(tiny_net.state_dict())
    with torch.no_grad():
        for parameter in large.parameters():
            parameter.mul_(10)
    export_onnx(large, tmp_path / "half.onnx", precision="fp16")
    capsys.readouterr()  # what the exporter printed
    upscale, test = _refused_everywhere(tmp_path, capsys, tmp_path / "half.onnx", before_loading=False)
    advice = "this ONNX file computes in fp16, which can overflow: export it with --precision fp32"
    assert "output for frame 0 holds inf or NaN values" in upscale and advice in upscale
    assert "holds inf or NaN values" in test and advice in test


def test_onnx_runtime_out_of_memory_names_the_frame(tmp_path, tiny_onnx, monkeypatch):
    from onnxruntime.capi.onnxruntime_pybind11_state import RuntimeException

    def run(*args, **kwargs):
        raise RuntimeException("Failed to allocate memory for requested buffer of size 1073741824")

    from lgfn.export import onnx_resolver

    resolver = onnx_resolver(tiny_onnx, InferenceOptions(), torch.device("cpu"))
    monkeypatch.setattr(ort.InferenceSession, "run", run)
    with pytest.raises(OutOfMemory, match=r"super-resolving frame 0 \(32x24 on cpu\) \(ONNX Runtime: Failed"):
        list(resolver.upscale_clip(make_frames(3, 32, 24)))
    with pytest.raises(MemoryError):  # called on its own, as the network
        OnnxNetwork(tiny_onnx)(torch.rand(1, 5, 3, 8, 8))


def test_other_onnx_runtime_failures_are_one_error_naming_the_file(tiny_onnx, monkeypatch):
    from onnxruntime.capi.onnxruntime_pybind11_state import Fail

    def run(*args, **kwargs):
        raise Fail("Non-zero status code returned while running Conv node")

    network = OnnxNetwork(tiny_onnx)
    monkeypatch.setattr(ort.InferenceSession, "run", run)
    with pytest.raises(CheckpointError, match=r"ONNX Runtime failed running .*tiny.onnx: Non-zero status"):
        network(torch.rand(1, 5, 3, 8, 8))


def test_weights_beyond_fp16_are_refused_before_an_fp16_export(tmp_path, tiny_net, capsys):
    large = tiny_net.__class__.from_config(tiny_net.config).eval()
    large.load_state_dict(tiny_net.state_dict())
    with torch.no_grad():
        large.tail[1].weight[0, 0, 0, 0] = 1e5  # finite in fp32, inf in fp16
    with pytest.raises(CheckpointError) as caught:
        export_onnx(large, tmp_path / "half.onnx", precision="fp16")
    assert str(caught.value) == (
        f"the model's weights in fp16: 1 of {len(large.state_dict())} weight tensors hold inf or NaN values "
        "(tail.1.weight); they exceed fp16's range; export with --precision fp32"
    )
    assert not (tmp_path / "half.onnx").exists()
