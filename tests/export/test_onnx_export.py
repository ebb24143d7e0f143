"""ONNX export: the exported network computes the PyTorch network's output in ONNX Runtime, in both
deformable forms, at several sizes from one dynamic file, and records what it is."""

from __future__ import annotations

import json
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch

import lgfn
from lgfn.checkpoint import DEFAULT_CHECKPOINT
from lgfn.export import OnnxNetwork, export_onnx
from lgfn.export.metadata import file_sha256
from lgfn.models import LGFN, deform_conv

onnx = pytest.importorskip("onnx", reason="the ONNX extra is not installed (pip install -e '.[onnx]')")

#: Two LR sizes (h, w) run through one dynamic file.
SIZES = ((32, 32), (40, 48))


def _node_types(path) -> set[str]:
    return {node.op_type for node in onnx.load(str(path)).graph.node}


def _largest_difference(model: LGFN, network: OnnxNetwork, size: tuple[int, int], seed: int) -> float:
    x = torch.rand(1, model.num_frames, 3, *size, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        expected = model(x)
    return (network(x) - expected).abs().max().item()


@pytest.mark.parametrize("form, operator", [("deform_conv", "DeformConv"), ("grid_sample", "GridSample")])
def test_demo_checkpoint_matches_pytorch_at_two_sizes(demo_onnx, form, operator):
    path = demo_onnx[form]
    types = _node_types(path)
    assert operator in types
    assert ("DeformConv" in types) == (form == "deform_conv")  # grid_sample needs no DeformConv
    model = lgfn.load_model(DEFAULT_CHECKPOINT)  # torchvision's kernel: the reference function
    network = OnnxNetwork(path)
    for seed, size in enumerate(SIZES):
        assert _largest_difference(model, network, size, seed) < 1e-4


def test_metadata_records_what_the_file_is(demo_onnx):
    props = {p.key: p.value for p in onnx.load(str(demo_onnx["deform_conv"])).metadata_props}
    model = lgfn.load_model(DEFAULT_CHECKPOINT)
    assert props["lgfn.scale"] == str(model.scale)
    assert props["lgfn.num_frames"] == str(model.num_frames)
    assert json.loads(props["lgfn.config"]) == model.config.to_dict()
    assert props["lgfn.checkpoint_sha256"] == file_sha256(DEFAULT_CHECKPOINT)
    assert (props["lgfn.layout"], props["lgfn.dcn"], props["lgfn.size"]) == (
        "frames",
        "deform_conv",
        "dynamic",
    )
    assert "opset 19" in props["lgfn.exporter"]


def _authors_network() -> LGFN:
    """The paper's network (7.8 M parameters) with seeded weights, offsets of a few pixels as a trained
    network predicts."""
    torch.manual_seed(2020)
    model = LGFN().eval()  # the authors' configuration
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "conv_offset_mask" in name:
                parameter.normal_(0, 0.02)
    return model


def _export_authors_network(form: str, path: Path) -> tuple[int, int]:
    """Export :func:`_authors_network` in ``form`` (run in a process of its own); its scale and frames."""
    torch.set_num_threads(1)
    info = export_onnx(_authors_network(), path, dcn=form)
    return info.scale, info.num_frames


@pytest.mark.slow
def test_authors_network_with_seeded_weights_matches_in_both_forms(tmp_path):
    """The paper's network to 1e-4. Exporting it takes one to two minutes per form, single-threaded
    Python, so the two forms are exported side by side in two processes."""
    forms = ("deform_conv", "grid_sample")
    paths = {form: tmp_path / f"{form}.onnx" for form in forms}
    with ProcessPoolExecutor(len(forms), mp_context=multiprocessing.get_context("spawn")) as pool:
        exported = {form: pool.submit(_export_authors_network, form, paths[form]) for form in forms}
        infos = {form: future.result() for form, future in exported.items()}
    model = _authors_network()
    for form in forms:
        assert infos[form] == (4, 7)
        network = OnnxNetwork(paths[form])
        for seed, size in enumerate(SIZES):
            assert _largest_difference(model, network, size, seed) < 1e-4, (form, size)


def test_grid_sample_form_holds_the_whole_batch_at_every_size(tmp_path, tiny_net, monkeypatch):
    """The grid_sample backend samples a batch in chunks sized by the frame size; an exported graph must
    not keep the traced size's chunking (at larger frames it would drop windows' neighbours)."""
    # The export traces 32x40 frames: its 4 neighbours (16 channels, 9 taps) then fit one chunk, while
    # at 64x80 four chunks are needed.
    monkeypatch.setattr(deform_conv, "_GRID_SAMPLE_CHUNK", 4 * 16 * 9 * 32 * 40)
    path = tmp_path / "grid.onnx"
    export_onnx(tiny_net, path, dcn="grid_sample")
    x = torch.rand(1, tiny_net.num_frames, 3, 64, 80)
    with torch.no_grad():
        expected = tiny_net(x)
    assert (OnnxNetwork(path)(x) - expected).abs().max() < 1e-4


def test_stacked_layout_with_a_fixed_size(tmp_path, tiny_net):
    path = tmp_path / "stacked.onnx"
    export_onnx(tiny_net, path, layout="stacked", size=(24, 32))
    graph_input = onnx.load(str(path)).graph.input[0]
    dims = [d.dim_value for d in graph_input.type.tensor_type.shape.dim]
    assert dims == [1, 3 * tiny_net.num_frames, 24, 32]  # frames side by side along the channels
    x = torch.rand(2, tiny_net.num_frames, 3, 24, 32)
    with torch.no_grad():
        expected = tiny_net(x)
    stacked = x.reshape(2, -1, 24, 32).numpy()[:1]  # (1, 3t, h, w), as vs-mlrt feeds it
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {session.get_inputs()[0].name: stacked})
    assert np.abs(out - expected[:1].numpy()).max() < 1e-4
    assert (OnnxNetwork(path)(x) - expected).abs().max() < 1e-4  # the runner stacks for itself
    with pytest.raises(lgfn.LGFNError, match="exported for 24x32"):
        OnnxNetwork(path)(torch.rand(1, tiny_net.num_frames, 3, 16, 16))


def test_fp16_export_runs_in_half_precision(tmp_path, tiny_net):
    path = tmp_path / "half.onnx"
    export_onnx(tiny_net, path, precision="fp16")
    graph_input = onnx.load(str(path)).graph.input[0]
    assert graph_input.type.tensor_type.elem_type == onnx.TensorProto.FLOAT16
    x = torch.rand(1, tiny_net.num_frames, 3, 24, 32)
    with torch.no_grad():
        expected = tiny_net(x)
    difference = (OnnxNetwork(path)(x) - expected).abs().max().item()
    assert 0 < difference < 1e-2  # half-precision rounding, no more
