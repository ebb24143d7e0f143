"""scripts/gpu_demo_data.py: training frames packed losslessly, unpacked with their LR frames, and
never written through the links to ../shared/data that prepare_demo_data.py makes."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest

from lgfn.data.degradations import bi_degrade
from lgfn.data.io import read_image, write_image
from tests.helpers import REPO

_spec = importlib.util.spec_from_file_location("gpu_demo_data", REPO / "scripts" / "gpu_demo_data.py")
gpu_demo_data = importlib.util.module_from_spec(_spec)
sys.modules["gpu_demo_data"] = gpu_demo_data  # its process pool pickles functions by module name
_spec.loader.exec_module(gpu_demo_data)


def test_pack_unpack_round_trip_and_no_writes_through_links(tmp_path):
    rng = np.random.default_rng(0)
    shared = tmp_path / "shared" / "clip_a"  # stands for a clip of ../shared/data
    frames = [rng.integers(0, 256, (16, 24, 3), dtype=np.uint8) for _ in range(3)]
    for i, frame in enumerate(frames):
        write_image(shared / f"{i:08d}.png", frame)
    before = {p.name: p.read_bytes() for p in shared.iterdir()}
    train = tmp_path / "train"
    train.mkdir()
    (train / "clip_a").symlink_to(shared)  # as prepare_demo_data.py links it

    packed = tmp_path / "packed"
    gpu_demo_data.pack(train, packed)
    assert sorted(p.name for p in (packed / "clip_a").iterdir()) == [f"{i:08d}.webp" for i in range(3)]

    with pytest.raises(SystemExit, match="already holds files"):
        gpu_demo_data.unpack(packed, train, tmp_path / "lq")
    assert {p.name: p.read_bytes() for p in shared.iterdir()} == before  # untouched

    gpu_demo_data.unpack(packed, tmp_path / "hr", tmp_path / "lq")
    for i, frame in enumerate(frames):
        np.testing.assert_array_equal(read_image(tmp_path / "hr" / "clip_a" / f"{i:08d}.png"), frame)
        np.testing.assert_array_equal(
            read_image(tmp_path / "lq" / "clip_a" / f"{i:08d}.png"), bi_degrade(frame, 4)
        )
