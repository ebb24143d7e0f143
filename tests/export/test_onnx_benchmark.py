"""``scripts/benchmark.py``'s ONNX Runtime path: timed beside the plain PyTorch forward, and equal to it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helpers import REPO, TINY_MODEL

pytest.importorskip("onnxruntime", reason="the ONNX extra is not installed (pip install -e '.[onnx]')")


def test_benchmark_runs_the_onnx_path_beside_plain_pytorch():
    tiny = [f"{k}={v}" for k, v in TINY_MODEL.items()]
    out = subprocess.run(
        [sys.executable, "scripts/benchmark.py", "--lr-size", "8x10", "--frames", "3", "--threads", "1",
         "--paths", "onnx", "--set", *tiny],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    rows = {line.split()[0]: line.split() for line in out.splitlines()[2:]}
    assert {"plain", "onnx", "exported"} <= set(rows), out
    assert float(rows["onnx"][1]) > 0  # frames/s
    assert float(rows["onnx"][-1]) < 1e-4  # ONNX Runtime computes the plain output to rounding
    assert rows["exported"][-1] == "MiB"
