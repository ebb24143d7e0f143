"""lgfn.vapoursynth.model_file, the metadata reader that needs neither onnx nor torch, checked here
(in the project's own environment) against the onnx package and lgfn.export.metadata."""

from __future__ import annotations

import subprocess
import sys

import onnx
import pytest
from onnx import TensorProto, helper

from lgfn.export import metadata
from lgfn.vapoursynth import model_file
from lgfn.vapoursynth.model_file import ModelFileError, read_metadata_props, read_model_file
from tests.helpers import REPO


def test_the_reader_knows_the_values_the_exporter_writes():
    names = ("FORMAT", "FORMAT_VERSION", "DCN_FORMS", "LAYOUTS", "ONNX_PRECISIONS")
    assert {n: getattr(model_file, n) for n in names} == {n: getattr(metadata, n) for n in names}


def test_metadata_props_read_as_the_onnx_package_reads_them(demo_stacked):
    for form, path in demo_stacked.items():
        expected = {entry.key: entry.value for entry in onnx.load(str(path)).metadata_props}
        assert read_metadata_props(path) == expected
        info = read_model_file(path)
        assert (info.scale, info.num_frames, info.layout, info.dcn, info.precision, info.size) == (
            4,
            5,
            "stacked",
            form,
            "fp32",
            None,
        )


def _plain_model(props: dict[str, str]) -> onnx.ModelProto:
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])], "plain",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 15, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 15, 8, 8])],
    )  # fmt: skip
    model = helper.make_model(graph)
    helper.set_model_props(model, props)
    return model


GOOD = {
    "lgfn.format": "lgfn-onnx", "lgfn.format_version": "1", "lgfn.scale": "2", "lgfn.num_frames": "3",
    "lgfn.layout": "stacked", "lgfn.dcn": "grid_sample", "lgfn.precision": "fp32", "lgfn.size": "24x32",
}  # fmt: skip


def test_a_small_file_with_every_entry_reads_back(tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save(_plain_model(GOOD), str(path))
    info = read_model_file(path)
    assert (info.scale, info.num_frames, info.dcn, info.size) == (2, 3, "grid_sample", (24, 32))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"lgfn.format": "other"}, "has no lgfn metadata"),
        ({"lgfn.format_version": "9"}, r"newer lgfn \(format 9\)"),
        ({"lgfn.scale": "four"}, "metadata is damaged"),
        ({"lgfn.num_frames": "4"}, "contradicts itself"),
        ({"lgfn.layout": "planar"}, "contradicts itself"),
        ({"lgfn.size": "24"}, "contradicts itself"),
    ],
)
def test_bad_metadata_is_one_clear_error(tmp_path, change, message):
    path = tmp_path / "m.onnx"
    onnx.save(_plain_model({**GOOD, **change}), str(path))
    with pytest.raises(ModelFileError, match=message) as caught:
        read_model_file(path)
    assert str(path) in str(caught.value)


def test_a_file_without_the_entry_is_refused_without_the_key_error(tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save(_plain_model({k: v for k, v in GOOD.items() if k != "lgfn.dcn"}), str(path))
    with pytest.raises(ModelFileError, match="damaged.*lgfn.dcn"):
        read_model_file(path)


@pytest.mark.parametrize("cut", [0.5, 0.999])
def test_a_truncated_export_is_not_an_onnx_file(demo_stacked, tmp_path, cut):
    data = demo_stacked["deform_conv"].read_bytes()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[: int(len(data) * cut)])
    with pytest.raises(ModelFileError, match="is not an ONNX file"):
        read_model_file(path)


def test_a_missing_file_names_itself(tmp_path):
    with pytest.raises(ModelFileError, match="no such file"):
        read_model_file(tmp_path / "absent.onnx")


def test_the_parts_a_vapoursynth_python_imports_need_no_torch():
    # lgfn's network and checkpoint names are imported on first use; the metadata reader needs neither
    # torch nor VapourSynth.
    probe = (
        "import sys, lgfn, lgfn.errors, lgfn.data.windows, lgfn.vapoursynth, lgfn.vapoursynth.model_file; "
        "sys.exit('torch' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", probe], cwd=REPO, check=False).returncode == 0
