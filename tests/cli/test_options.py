"""The options lgfn upscale and test.py share: the same declaration, the same one-line errors."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lgfn import cli, devices
from lgfn.cli import evaluate, options
from lgfn.cli.console import run_main
from lgfn.inference import InferenceOptions
from tests.helpers import REPO, make_frames, write_folder


def _upscale(tmp_path: Path, extra: list[str]) -> int:
    write_folder(tmp_path / "in", make_frames(2, 10, 8))
    return cli.main(["upscale", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--no-progress", *extra])


def _evaluate(tmp_path: Path, extra: list[str]) -> int:
    argv = ["--dataset", "vid4", "--data-root", str(tmp_path / "Vid4"), "--out", str(tmp_path / "out")]
    return run_main(evaluate.main, [*argv, "--no-progress", *extra])


COMMANDS = {"lgfn upscale": _upscale, "test.py": _evaluate}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--device", "bogus"], "error: --device 'bogus': expected auto, cpu, cuda or cuda:N"),
        (["--batch", "0"], "error: argument --batch: must be >= 1, got 0 (see: {prog} --help)"),
        (["--tile", "-1"], "error: argument --tile: must be >= 0, got -1 (see: {prog} --help)"),
        (["--precision", "fp8"], "error: argument --precision: invalid choice: 'fp8'"),
        (["--padding", "zeros"], "error: argument --padding: invalid choice: 'zeros'"),
        (["--scale", "0"], "error: argument --scale: must be >= 1, got 0 (see: {prog} --help)"),
        (["--tile", "8", "--tile-overlap", "8"], "error: --tile-overlap (8) must be smaller than --tile (8)"),
        (
            ["--precision", "fp16", "--device", "cpu"],
            "error: precision fp16 needs a CUDA device; on CPU use bf16 or fp32",
        ),
    ],
)
def test_a_bad_inference_option_is_one_error_line_in_both_commands(tmp_path, capsys, command, extra, message):
    assert COMMANDS[command](tmp_path, extra) == 2
    err = capsys.readouterr().err  # lgfn upscale logs what the input is before it loads the model
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(message.format(prog=command)), err
    assert "Traceback" not in err and err.strip().splitlines()[-1] == errors[0]
    assert not (tmp_path / "out").exists()


def test_device_bogus_through_the_real_test_script(tmp_path):
    command = [sys.executable, str(REPO / "test.py"), "--dataset", "vid4", "--data-root", str(tmp_path)]
    done = subprocess.run([*command, "--device", "bogus"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip() == "error: --device 'bogus': expected auto, cpu, cuda or cuda:N"


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = options.CommandParser(prog="x")
    options.add_checkpoint_option(parser)  # the commands declare both (--onnx decides precision auto)
    options.add_inference_options(parser)
    return parser.parse_args(argv)


def test_defaults_are_the_libraries_and_values_become_plain_options():
    device, defaults = options.inference_settings(_parse(["--device", "cpu"]))
    assert device == torch.device("cpu") and defaults == InferenceOptions()
    argv = ["--device", "cpu", "--precision", "bf16", "--batch", "3", "--tile", "64", "--tile-overlap", "8"]
    argv += ["--padding", "reflection", "--self-ensemble", "--plain", "--compile"]
    _, chosen = options.inference_settings(_parse(argv))
    assert chosen == InferenceOptions(
        precision="bf16", batch=3, padding="reflection", tile=64, tile_overlap=8, self_ensemble=True,
        plain=True, compile=True,
    )  # fmt: skip


def test_checkpoint_option_one_or_several():
    parser = options.CommandParser(prog="x")
    options.add_checkpoint_option(parser)
    assert parser.parse_args([]).ckpt is None
    assert parser.parse_args(["--ckpt", "a.pth"]).ckpt == Path("a.pth")
    several = options.CommandParser(prog="x")
    options.add_checkpoint_option(several, several=True)
    assert several.parse_args(["--ckpt", "a.pth", "b.pth"]).ckpt == [Path("a.pth"), Path("b.pth")]
    assert options.default_checkpoint() == REPO / "checkpoints" / "lgfn_x4_demo.pth"


@pytest.mark.parametrize("native", [True, False])
def test_precision_auto_is_bf16_where_the_hardware_has_it(monkeypatch, native):
    monkeypatch.setattr(devices, "native_bf16", lambda device: native)
    _, chosen = options.inference_settings(_parse(["--device", "cpu", "--precision", "auto"]))
    assert chosen.precision == ("bf16" if native else "fp32")
    _, given = options.inference_settings(_parse(["--device", "cpu", "--precision", "fp32"]))
    assert given.precision == "fp32"  # a precision given is never replaced


def test_upscale_defaults_to_auto_and_test_py_to_the_papers_fp32():
    upscale = cli.build_parser().parse_args(["upscale", "in", "-o", "out"])
    assert upscale.precision == "auto"
    assert evaluate.build_parser().parse_args([]).precision == "fp32"


def test_native_bf16_reads_the_cpus_feature_flags():
    flags = set(Path("/proc/cpuinfo").read_text().split()) if Path("/proc/cpuinfo").exists() else set()
    if not flags:
        pytest.skip("no /proc/cpuinfo to compare with")
    assert devices.native_bf16(torch.device("cpu")) == bool(flags & {"avx512_bf16", "amx_tile"})


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--ckpt", "x.pth"], "error: --method bicubic takes no --ckpt"),
        (["--onnx", "x.onnx"], "error: --method bicubic takes no --onnx"),
        (
            ["--tile", "64", "--batch", "2"],
            "error: --batch, --tile change how the LGFN network runs, and --method bicubic runs none",
        ),
        (["--precision", "bf16"], "error: --precision changes how the LGFN network runs"),
        (["--device", "cpu", "--plain"], "error: --device, --plain change how the LGFN network runs"),
    ],
)
def test_network_options_with_bicubic_alone_are_refused_not_ignored(
    tmp_path, capsys, command, extra, message
):
    assert COMMANDS[command](tmp_path, ["--method", "bicubic", *extra]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(message), errors
    assert not (tmp_path / "out").exists()


def test_precision_auto_with_an_onnx_file_is_its_own_fp32(monkeypatch):
    monkeypatch.setattr(devices, "native_bf16", lambda device: True)
    auto = ["--device", "cpu", "--precision", "auto"]
    assert options.chosen_precision(_parse([*auto, "--onnx", "model.onnx"])) == "fp32"
    assert options.chosen_precision(_parse(auto)) == "bf16"
