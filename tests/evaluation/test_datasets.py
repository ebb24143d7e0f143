"""The evaluation-dataset factory: each name builds its dataset with the options it takes, and every
refusal is one ConfigError that names the options as the caller spells them."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from lgfn.data.eval_datasets import (
    FolderDataset,
    FramesDataset,
    SPMCSDataset,
    Vid4Dataset,
    Vimeo90KTestDataset,
)
from lgfn.errors import ConfigError, MissingDataError
from lgfn.evaluation.datasets import CONFIG_NAMES, EVAL_DATASETS, OptionNames, build_eval_dataset
from tests.helpers import make_frames, write_folder, write_video_pyav


def _frames(count: int, size: int, level: int) -> list[np.ndarray]:
    """``count`` flat ``(size, size, 3)`` frames whose level tells which tree they were read from."""
    return [np.full((size, size, 3), level + i, np.uint8) for i in range(count)]


def _refused(message: str):
    """``pytest.raises`` for a ConfigError whose whole message is ``message``."""
    return pytest.raises(ConfigError, match=f"^{re.escape(message)}$")


@pytest.fixture
def vid4_root(tmp_path: Path) -> Path:
    """ROOT/GT/walk (4 frames of 16x16) with ready-made LR frames in ROOT/BIx4 and ROOT/BIx2."""
    root = tmp_path / "Vid4"
    write_folder(root / "GT" / "walk", _frames(4, 16, 100))
    write_folder(root / "BIx4" / "walk", _frames(4, 4, 10))
    write_folder(root / "BIx2" / "walk", _frames(4, 8, 20))
    return root


def test_vid4(vid4_root: Path) -> None:
    dataset = build_eval_dataset("vid4", str(vid4_root), 4, degradation="bd", clips=["walk"])
    assert type(dataset) is Vid4Dataset
    assert (dataset.root, dataset.lr_root, dataset.scale) == (vid4_root, None, 4)
    assert (dataset.degradation, dataset.score, dataset.selected) == ("bd", "inner", ["walk"])
    assert build_eval_dataset("vid4", vid4_root, 4, score="all").score == "all"

    # lr_from_files reads ROOT/BIx<scale>, unless an LR root is given.
    from_files = build_eval_dataset("vid4", vid4_root, 4, lr_from_files=True)
    assert from_files.lr_root == vid4_root / "BIx4"
    np.testing.assert_array_equal(from_files[0]["lq"][2], _frames(4, 4, 10)[2])
    x2 = build_eval_dataset("vid4", vid4_root, 2, lr_from_files=True)
    assert x2.lr_root == vid4_root / "BIx2" and x2[0]["lq"][0].shape == (8, 8, 3)
    other = vid4_root / "BIx2"
    assert build_eval_dataset("vid4", vid4_root, 2, lr_root=other, lr_from_files=True).lr_root == other


def test_spmcs(tmp_path: Path) -> None:
    root = tmp_path / "SPMCS"
    write_folder(root / "car05_001" / "truth", _frames(3, 16, 100))
    write_folder(root / "car05_001" / "input4", _frames(3, 4, 10))
    dataset = build_eval_dataset("spmcs", root, 4, lr_from_files=True, score="all")
    assert type(dataset) is SPMCSDataset
    assert (dataset.root, dataset.lr_from_files, dataset.lr_subdir, dataset.score) == (
        root,
        True,
        "input4",
        "all",
    )
    np.testing.assert_array_equal(dataset[0]["lq"][1], _frames(3, 4, 10)[1])
    degraded = build_eval_dataset("spmcs", root, 4, clips=["car05_001"])
    assert not degraded.lr_from_files and degraded.selected == ["car05_001"] and degraded.score == "inner"

    with _refused("spmcs keeps LR frames inside each clip folder: use --lr-from-files, not --lr-root"):
        build_eval_dataset("spmcs", root, 4, lr_root=tmp_path / "lr")
    with _refused("spmcs keeps LR frames inside each clip folder: use lr_from_files, not val.lq_root"):
        build_eval_dataset("spmcs", root, 4, lr_root=tmp_path / "lr", names=CONFIG_NAMES)


def test_vimeo90k(tmp_path: Path) -> None:
    root, lr = tmp_path / "vimeo", tmp_path / "vimeo_lr"
    write_folder(root / "sequences" / "00001" / "0001", _frames(7, 16, 100))
    write_folder(lr / "sequences" / "00001" / "0001", _frames(7, 4, 10))
    (tmp_path / "list.txt").write_text("00001/0001\n")
    (root / "sep_testlist.txt").write_text("00001/0001\n")  # the factory lists the clips at once
    dataset = build_eval_dataset(
        "vimeo90k",
        root,
        4,
        lr_root=lr,
        lr_from_files=True,
        test_list=tmp_path / "list.txt",
        split_lists={"slow": tmp_path / "list.txt"},
    )
    assert type(dataset) is Vimeo90KTestDataset
    assert (dataset.root, dataset.lr_root, dataset.test_list) == (root, lr, tmp_path / "list.txt")
    assert dataset.score == "centre" and dataset.splits == {"slow": ["00001/0001"]}
    np.testing.assert_array_equal(dataset[0]["lq"][3], _frames(7, 4, 10)[3])
    defaults = build_eval_dataset("vimeo90k", root, 4)
    assert defaults.test_list == root / "sep_testlist.txt" and defaults.split_lists is None

    with _refused("vimeo90k keeps LR frames in a separate tree: pass --lr-root"):
        build_eval_dataset("vimeo90k", root, 4, lr_from_files=True)
    with _refused("vimeo90k keeps LR frames in a separate tree: pass val.lq_root"):
        build_eval_dataset("vimeo90k", root, 4, lr_from_files=True, names=CONFIG_NAMES)


def test_folder(tmp_path: Path) -> None:
    write_folder(tmp_path / "gt" / "mine", _frames(3, 16, 100))
    write_folder(tmp_path / "lr" / "mine", _frames(3, 4, 10))
    dataset = build_eval_dataset("folder", tmp_path / "gt", 4, lr_root=tmp_path / "lr")
    assert type(dataset) is FolderDataset
    assert (dataset.root, dataset.lr_root, dataset.score) == (tmp_path / "gt", tmp_path / "lr", "inner")
    np.testing.assert_array_equal(dataset[0]["lq"][0], _frames(3, 4, 10)[0])
    assert build_eval_dataset("folder", tmp_path / "gt", 4, lr_root="").lr_root is None  # an empty config key

    with _refused("folder needs a folder of LR frames: pass --lr-root"):
        build_eval_dataset("folder", tmp_path / "gt", 4, lr_from_files=True)


def test_videos(tmp_path: Path) -> None:
    write_video_pyav(tmp_path / "clip.mp4", make_frames(5))
    dataset = build_eval_dataset("videos", None, 4, clips=[str(tmp_path / "clip.mp4")], max_frames=3)
    assert type(dataset) is FramesDataset and dataset.name == "videos"
    assert list(dataset.frames) == ["clip"] and len(dataset.frames["clip"]) == 3
    assert [clip.scored for clip in dataset.clips] == [(1,)]

    with _refused("--clips must list the validation videos (paths or sample:<name>)"):
        build_eval_dataset("videos", None, 4)
    with _refused("val.clips must list the validation videos (paths or sample:<name>)"):
        build_eval_dataset("videos", None, 4, clips=[], names=CONFIG_NAMES)


@pytest.mark.parametrize(("names", "dataset"), [(OptionNames(), "--dataset"), (CONFIG_NAMES, "val.dataset")])
def test_an_unknown_name_is_refused(names: OptionNames, dataset: str) -> None:
    with _refused(f"{dataset} 'vid5': expected one of {', '.join(EVAL_DATASETS)}"):
        build_eval_dataset("vid5", "anywhere", 4, names=names)


@pytest.mark.parametrize("name", [name for name in EVAL_DATASETS if name != "videos"])
@pytest.mark.parametrize("root", [None, ""])
def test_a_missing_root_is_refused(name: str, root: str | None) -> None:
    with _refused(f"--dataset {name} needs --data-root (folder layouts in data/README.md)"):
        build_eval_dataset(name, root, 4)
    with _refused(f"val.dataset {name} needs val.root (folder layouts in data/README.md)"):
        build_eval_dataset(name, root, 4, names=CONFIG_NAMES)


def test_max_frames_applies_to_frame_folders_and_is_refused_for_vimeo(vid4_root: Path) -> None:
    dataset = build_eval_dataset("vid4", vid4_root, 4, max_frames=3)
    assert dataset.max_frames == 3 and [clip.scored for clip in dataset.clips] == [(1,)]
    assert build_eval_dataset("vid4", vid4_root, 4).max_frames is None  # 0: every frame
    message = (
        "{} does not apply to vimeo90k, whose 7-frame septuplets are scored at their centre: choose "
        "septuplets with {} or {} instead"
    )
    with _refused(message.format("--max-frames", "--clips", "--test-list")):
        build_eval_dataset("vimeo90k", vid4_root, 4, max_frames=3)
    with _refused(message.format("val.max_frames", "val.clips", "test_list")):
        build_eval_dataset("vimeo90k", vid4_root, 4, max_frames=3, names=CONFIG_NAMES)
    with _refused("--test-list is for --dataset vimeo90k only, not vid4"):
        build_eval_dataset("vid4", vid4_root, 4, test_list="list.txt")


@pytest.mark.parametrize(
    ("names", "root", "lr_root"),
    [(OptionNames(), "--data-root", "--lr-root"), (CONFIG_NAMES, "val.root", "val.lq_root")],
)
def test_missing_data_names_the_option_that_sets_the_path(
    vid4_root: Path, tmp_path: Path, names: OptionNames, root: str, lr_root: str
) -> None:
    """Listed at once by the factory, so that the error can say which option sets the path."""
    with pytest.raises(MissingDataError, match=re.escape(f"; {root} sets ROOT; see data/README.md)")):
        build_eval_dataset("spmcs", tmp_path / "nope", 4, names=names)
    with pytest.raises(MissingDataError, match=re.escape(f"; {lr_root} sets LR_ROOT; see data/README.md)")):
        build_eval_dataset("vid4", vid4_root, 4, lr_root=tmp_path / "nope", names=names)
    with pytest.raises(MissingDataError, match=r"^Vimeo-90K sequences folder not found: .*; .* sets ROOT"):
        build_eval_dataset("vimeo90k", tmp_path / "nope", 4, names=names)
