"""Parameter and MAC counts."""

from __future__ import annotations

import re
import subprocess
import sys

from lgfn.models import LGFN
from lgfn.stats import SAMPLING_MACS_PER_VALUE, count_macs, count_parameters
from tests.helpers import REPO, TINY_MODEL


def test_parameter_count_by_component_sums_to_total():
    counts = count_parameters(LGFN())
    assert counts["total"] == 7_849_837
    assert sum(v for k, v in counts.items() if k != "total") == counts["total"]


def test_mac_count_by_hand_for_the_extraction_and_deformable_parts():
    h, w, t, c = 6, 7, 5, 16
    model = LGFN(scale=2, num_frames=t, **TINY_MODEL)
    macs = count_macs(model, h, w)
    assert macs.conv["feat0"] == t * h * w * c * 3 * 9
    # One residual block (two 3x3 convs) and the closing conv, on every frame.
    assert macs.conv["res_feat"] == 3 * t * h * w * c * c * 9
    # Two alignment blocks, each one deformable 3x3 conv on each of the t-1 neighbours.
    assert macs.deform == 2 * (t - 1) * h * w * c * c * 9
    assert macs.sampling == 2 * (t - 1) * h * w * c * 9 * SAMPLING_MACS_PER_VALUE


def test_default_model_costs_the_papers_40_4m_macs_per_lr_pixel():
    macs = count_macs(LGFN().eval(), 8, 10)
    assert round(macs.conv_total / 80 / 1e6, 1) == 40.4


def test_model_stats_script_prints_the_table():
    done = subprocess.run(
        [sys.executable, "scripts/model_stats.py", "--lr-size", "8x10", "--set", "num_rcab=2"],
        cwd=REPO, capture_output=True, text=True, check=True,
    )  # fmt: skip
    out = done.stdout
    assert "total (convolutions)" in out and "deformable sampling" in out
    assert "dual_fusion" in out and "TFLOP per output frame" in out
    # The forward pass (a minute for the paper's network) is announced on stderr, then timed.
    lines = done.stderr.splitlines()
    assert lines[0] == "counting multiply-accumulates: one forward pass of 7 frames of 10x8 ..."
    assert re.fullmatch(
        r"counting multiply-accumulates: one forward pass of 7 frames of 10x8: \d+\.\d s", lines[1]
    )


def test_benchmark_script_compares_paths_with_the_plain_forward():
    tiny = [f"{k}={v}" for k, v in TINY_MODEL.items()]
    out = subprocess.run(
        [sys.executable, "scripts/benchmark.py", "--lr-size", "8x10", "--frames", "3", "--threads", "1",
         "--paths", "plain", "reuse", "--set", *tiny],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    rows = {line.split()[0]: line.split() for line in out.splitlines()[2:]}
    assert set(rows) == {"plain", "reuse"}, out  # the step lines went to stderr
    assert rows["plain"][-2:] == ["1.00x", "0.00e+00"]
    assert float(rows["reuse"][-1]) < 1e-4  # feature reuse: the plain output to rounding


def test_benchmark_script_rejects_an_unknown_model_field():
    command = [sys.executable, "scripts/benchmark.py", "--set", "num_rcabs=2"]
    proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 2 and "num_rcabs" in proc.stderr and "Traceback" not in proc.stderr
