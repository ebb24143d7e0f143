"""What a run trains and validates on: the dataset factories and errors from loader workers."""

from __future__ import annotations

import dataclasses
import multiprocessing
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lgfn.cli.console import run_main
from lgfn.cli.train import main
from lgfn.config import DataConfig
from lgfn.errors import ConfigError
from lgfn.training.datasets import TRAIN_DATA_TYPES, build_train_dataset, build_val_dataset
from tests.helpers import REPO, tiny_config


def test_trainer_module_builds_each_data_type(clips: Path, tmp_path: Path) -> None:
    vimeo = tiny_config(clips, data={"type": "vimeo90k", "root": str(tmp_path / "v")})
    assert type(build_train_dataset(vimeo, tmp_path)).__name__ == "Vimeo90KDataset"
    videos = tiny_config(clips, data={"type": "video_files", "videos": ["sample:bikes"]})
    assert type(build_train_dataset(videos, tmp_path)).__name__ == "VideoFileDataset"
    with pytest.raises(ConfigError, match="data.videos"):
        build_train_dataset(tiny_config(clips, data={"type": "video_files"}), tmp_path)
    assert build_val_dataset(tiny_config(clips)) is None
    with pytest.raises(ConfigError, match="val.root"):
        build_val_dataset(tiny_config(clips, val={"dataset": "vid4"}))


def test_the_config_offers_the_data_types_the_factory_builds(clips: Path, tmp_path: Path) -> None:
    (data_type,) = [f for f in dataclasses.fields(DataConfig) if f.name == "type"]
    assert data_type.metadata["choices"] == TRAIN_DATA_TYPES == ("vimeo90k", "frame_folders", "video_files")
    assert data_type.default == "vimeo90k"
    assert type(build_train_dataset(tiny_config(clips), tmp_path)).__name__ == "FrameFolderDataset"


def test_a_bad_frame_read_in_a_loader_worker_is_one_line(clips: Path, tmp_path: Path, capsys) -> None:
    (clips / "clip1" / "0002.png").write_bytes(b"not a png")
    raw = tiny_config(clips, data={"num_workers": 1}).to_dict()
    config = tmp_path / "bad_frame.yaml"
    config.write_text(yaml.safe_dump(raw))
    assert run_main(main, ["-c", str(config), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = [line for line in err.splitlines() if line.startswith("error: ")]
    assert "0002.png" in line
    assert multiprocessing.active_children() == []  # the worker was stopped, not left to the exit


def test_a_data_error_in_a_loader_worker_ends_train_py(clips: Path, tmp_path: Path) -> None:
    """The process ends after its error line: a persistent worker left alive at exit ignored the
    SIGTERM that multiprocessing's exit handler sends and hung train.py (and a test session) forever."""
    (clips / "clip1" / "0002.png").write_bytes(b"not a png")
    config = tmp_path / "bad_frame.yaml"
    config.write_text(yaml.safe_dump(tiny_config(clips, data={"num_workers": 1}).to_dict()))
    command = [sys.executable, str(REPO / "train.py"), "-c", str(config), "--out", str(tmp_path / "run")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "0002.png" in done.stderr and "Traceback" not in done.stderr
