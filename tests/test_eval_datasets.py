"""Evaluation datasets on small trees the tests write (and on the real Vimeo septuplets when present)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lgfn.data.degradations import bd_degrade, bi_degrade
from lgfn.data.eval_datasets import (
    FolderDataset,
    FramesDataset,
    SPMCSDataset,
    Vid4Dataset,
    Vimeo90KTestDataset,
    scored_indices,
)
from lgfn.data.io import write_image
from lgfn.errors import InputDataError, MissingDataError
from tests.helpers import shared_data_path


def _frame(h: int, w: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _write_clip(
    folder: Path, num_frames: int, h: int, w: int, seed: int = 0, names: str = "{:08d}.png"
) -> None:
    for i in range(num_frames):
        write_image(folder / names.format(i), _frame(h, w, seed * 100 + i))


@pytest.fixture
def vid4_root(tmp_path: Path) -> Path:
    root = tmp_path / "Vid4"
    _write_clip(root / "GT" / "walk", 5, 16, 20, seed=1)
    _write_clip(root / "GT" / "calendar", 4, 18, 22, seed=2)  # not a multiple of 4: cropped to 16x20
    return root


def test_scored_indices() -> None:
    assert scored_indices(5, "inner") == [1, 2, 3]
    assert scored_indices(5, "all") == [0, 1, 2, 3, 4]
    assert scored_indices(7, "centre") == [3]
    with pytest.raises(ValueError, match="no frames between"):
        scored_indices(2, "inner")
    with pytest.raises(ValueError, match="unknown score mode"):
        scored_indices(5, "middle")


def test_constructors_do_no_io(tmp_path: Path) -> None:
    # Nothing is read until the clips are needed, so a missing folder only fails on use.
    dataset = Vid4Dataset(tmp_path / "missing")
    SPMCSDataset(tmp_path / "missing")
    Vimeo90KTestDataset(tmp_path / "missing")
    with pytest.raises(InputDataError, match=r"Vid4 folder not found: .*missing"):
        len(dataset)


def test_vid4_items(vid4_root: Path) -> None:
    dataset = Vid4Dataset(vid4_root)
    assert len(dataset) == 2
    assert [clip.key for clip in dataset.clips] == ["calendar", "walk"]
    item = dataset[1]
    assert item["key"] == "walk"
    assert item["scored"] == [1, 2, 3]  # first and last frames are not scored
    assert item["names"] == [f"{i:08d}.png" for i in range(5)]
    assert len(item["gt"]) == len(item["lq"]) == 5
    np.testing.assert_array_equal(item["gt"][2], _frame(16, 20, 102))
    assert item["lq"][2].shape == (4, 5, 3) and item["lq"][2].dtype == np.uint8
    np.testing.assert_array_equal(item["lq"][2], bi_degrade(_frame(16, 20, 102), 4))

    calendar = dataset[0]
    assert calendar["scored"] == [1, 2]
    # Ground truth cropped to a multiple of the scale, keeping the top-left corner.
    np.testing.assert_array_equal(calendar["gt"][0], _frame(18, 22, 200)[:16, :20])
    assert calendar["lq"][0].shape == (4, 5, 3)


def test_vid4_options(vid4_root: Path) -> None:
    all_frames = Vid4Dataset(vid4_root, score="all", clips=["walk"])
    assert len(all_frames) == 1 and all_frames[0]["scored"] == [0, 1, 2, 3, 4]
    bd = Vid4Dataset(vid4_root, degradation="bd", clips=["walk"])[0]
    np.testing.assert_array_equal(bd["lq"][0], bd_degrade(_frame(16, 20, 100), 4))
    x2 = Vid4Dataset(vid4_root, scale=2, clips=["calendar"])[0]
    assert x2["gt"][0].shape == (18, 22, 3) and x2["lq"][0].shape == (9, 11, 3)
    assert Vid4Dataset(vid4_root).protocol() == {
        "scale": 4,
        "lr": "BI degradation of GT",
        "scored_frames": "inner",
    }
    with pytest.raises(InputDataError, match=r"no clip named foliage; available: calendar, walk"):
        len(Vid4Dataset(vid4_root, clips=["foliage"]))
    with pytest.raises(ValueError, match="unknown degradation"):
        Vid4Dataset(vid4_root, degradation="bilinear")


def test_vid4_lr_from_files(vid4_root: Path) -> None:
    lr_root = vid4_root / "BIx4"
    _write_clip(lr_root / "walk", 5, 4, 5, seed=7)
    _write_clip(lr_root / "calendar", 4, 4, 5, seed=8)
    dataset = Vid4Dataset(vid4_root, lr_root=lr_root)
    np.testing.assert_array_equal(dataset[1]["lq"][3], _frame(4, 5, 703))
    assert dataset.protocol()["lr"] == f"read from {lr_root}"

    _write_clip(lr_root / "walk", 5, 5, 5, seed=7)  # wrong LR size
    with pytest.raises(InputDataError, match=r"00000000\.png: LR frame is 5x5, expected 5x4"):
        dataset[1]
    (lr_root / "calendar" / "00000003.png").unlink()
    with pytest.raises(InputDataError, match=r"calendar: 3 LR frames, expected 4"):
        len(Vid4Dataset(vid4_root, lr_root=lr_root))
    with pytest.raises(InputDataError, match=r"LR clip folder not found: .*elsewhere.walk"):
        len(Vid4Dataset(vid4_root, lr_root=vid4_root / "elsewhere", clips=["walk"]))


def test_vid4_bad_input(vid4_root: Path, tmp_path: Path) -> None:
    with pytest.raises(InputDataError, match=r"ground-truth folder not found: .*GT"):
        len(Vid4Dataset(tmp_path))
    (vid4_root / "GT" / "empty").mkdir()
    with pytest.raises(InputDataError, match=r"no frames in .*empty"):
        len(Vid4Dataset(vid4_root))

    root = tmp_path / "short"
    _write_clip(root / "GT" / "two", 2, 8, 8)
    with pytest.raises(InputDataError, match=r"two: a clip of 2 frames .*--score-all-frames"):
        len(Vid4Dataset(root))
    assert Vid4Dataset(root, score="all")[0]["scored"] == [0, 1]

    bad = tmp_path / "bad"
    _write_clip(bad / "GT" / "c", 3, 8, 8)
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(bad / "GT" / "c" / "00000001.png")
    with pytest.raises(
        InputDataError, match=r"00000001\.png: expected a 3-channel RGB image, got grey-scale"
    ):
        Vid4Dataset(bad)[0]
    write_image(bad / "GT" / "c" / "00000001.png", _frame(8, 12, 0))
    with pytest.raises(InputDataError, match=r"00000001\.png: frame size 12x8 differs"):
        Vid4Dataset(bad)[0]
    data = (bad / "GT" / "c" / "00000000.png").read_bytes()
    (bad / "GT" / "c" / "00000001.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputDataError, match=r"00000001\.png: corrupt or truncated"):
        Vid4Dataset(bad)[0]
    _write_clip(bad / "GT" / "c", 3, 3, 8)
    with pytest.raises(InputDataError, match=r"00000000\.png: frame of 8x3 is smaller than the scale 4"):
        Vid4Dataset(bad)[0]


def test_folder_dataset(tmp_path: Path) -> None:
    _write_clip(tmp_path / "mine" / "a", 4, 8, 12, names="f{:03d}.jpg")
    _write_clip(tmp_path / "mine" / "b", 3, 8, 8)
    dataset = FolderDataset(tmp_path / "mine")
    assert [clip.key for clip in dataset.clips] == ["a", "b"]
    assert dataset.name == "folder"
    item = dataset[0]
    assert item["names"] == ["f000.jpg", "f001.jpg", "f002.jpg", "f003.jpg"]
    assert item["scored"] == [1, 2] and item["lq"][0].shape == (2, 3, 3)
    lr = tmp_path / "lr"
    _write_clip(lr / "a", 4, 2, 3, seed=3)
    _write_clip(lr / "b", 3, 2, 2, seed=4)
    np.testing.assert_array_equal(FolderDataset(tmp_path / "mine", lr_root=lr)[1]["lq"][2], _frame(2, 2, 402))


def test_spmcs(tmp_path: Path) -> None:
    root = tmp_path / "SPMCS"
    for seed, clip in enumerate(["car05_001", "hk004_001"]):
        _write_clip(root / clip / "truth", 5, 16, 12, seed=seed, names="{:04d}.png")
        _write_clip(root / clip / "input4", 5, 4, 3, seed=seed + 10, names="{:04d}.png")
    made = SPMCSDataset(root)
    assert [clip.key for clip in made.clips] == ["car05_001", "hk004_001"]
    item = made[1]
    assert item["key"] == "hk004_001" and item["scored"] == [1, 2, 3]
    np.testing.assert_array_equal(item["lq"][4], bi_degrade(_frame(16, 12, 104), 4))
    from_files = SPMCSDataset(root, lr_from_files=True)
    np.testing.assert_array_equal(from_files[0]["lq"][1], _frame(4, 3, 1001))
    assert from_files.protocol()["lr"] == f"read from {root}/<clip>/input4"

    (root / "hk004_001" / "input4" / "0000.png").unlink()
    with pytest.raises(InputDataError, match=r"input4: 4 LR frames, expected 5"):
        len(SPMCSDataset(root, lr_from_files=True))
    (root / "car05_001" / "truth").rename(root / "car05_001" / "gt")
    with pytest.raises(InputDataError, match=r"ground-truth folder not found: .*car05_001.truth"):
        len(SPMCSDataset(root))


def _write_vimeo(root: Path, entries: list[str], h: int = 8, w: int = 12) -> None:
    for seed, entry in enumerate(entries):
        _write_clip(root / "sequences" / entry, 7, h, w, seed=seed, names="im{}.png")
        # im{} above is 0-based; rename to the official 1-based names.
        for i in reversed(range(7)):
            (root / "sequences" / entry / f"im{i}.png").rename(root / "sequences" / entry / f"im{i + 1}.png")


def test_vimeo90k(tmp_path: Path) -> None:
    root = tmp_path / "vimeo"
    entries = ["00001/0266", "00001/0268", "00002/0001"]
    _write_vimeo(root, entries)
    (root / "sep_testlist.txt").write_text("\n".join(entries) + "\n\n")
    (root / "slow_testset.txt").write_text("00001/0266\n00002/0001\n")
    (root / "fast_testset.txt").write_text("00001/0268\n09999/0001\n")
    dataset = Vimeo90KTestDataset(root)
    assert [clip.key for clip in dataset.clips] == entries
    item = dataset[2]
    assert item["key"] == "00002/0001"
    assert item["scored"] == [3] and item["names"][3] == "im4.png"
    np.testing.assert_array_equal(item["gt"][3], _frame(8, 12, 203))
    assert item["lq"][3].shape == (2, 3, 3)
    # Splits found beside the list; entries not evaluated (09999/0001) are left out.
    assert dataset.splits == {"slow": ["00001/0266", "00002/0001"], "fast": ["00001/0268"]}
    subset = Vimeo90KTestDataset(root, clips=["00001/0268"], split_lists={"fast": root / "fast_testset.txt"})
    assert len(subset) == 1 and subset.splits == {"fast": ["00001/0268"]}
    assert Vimeo90KTestDataset(root, split_lists={}).splits == {}

    lr_root = tmp_path / "vimeo_lr"
    _write_vimeo(lr_root, entries, h=2, w=3)
    with_lr = Vimeo90KTestDataset(root, lr_root=lr_root)
    np.testing.assert_array_equal(with_lr[0]["lq"][6], _frame(2, 3, 6))


def test_vimeo90k_bad_input(tmp_path: Path) -> None:
    root = tmp_path / "vimeo"
    _write_vimeo(root, ["00001/0001"])
    with pytest.raises(InputDataError, match=r"Vimeo-90K test list not found: .*sep_testlist\.txt"):
        len(Vimeo90KTestDataset(root))
    (root / "list.txt").write_text("00001/0001\n00001/0002\n")
    with pytest.raises(InputDataError, match=r"septuplet 00001/0002 of .*list\.txt not found"):
        len(Vimeo90KTestDataset(root, test_list=root / "list.txt"))
    (root / "empty.txt").write_text("\n")
    with pytest.raises(InputDataError, match=r"empty\.txt: Vimeo-90K test list is empty"):
        len(Vimeo90KTestDataset(root, test_list=root / "empty.txt"))
    with pytest.raises(InputDataError, match=r"Vimeo-90K sequences folder not found"):
        len(Vimeo90KTestDataset(tmp_path))
    (root / "one.txt").write_text("00001/0001\n")
    missing_split = Vimeo90KTestDataset(
        root, test_list=root / "one.txt", split_lists={"slow": root / "nope.txt"}
    )
    with pytest.raises(InputDataError, match=r"'slow' split list not found: .*nope\.txt"):
        len(missing_split.splits)


@pytest.mark.parametrize("entry", ["/data/other/00001/0001", "00001/../../outside", "../vimeo/sequences/x"])
def test_vimeo90k_list_entries_stay_inside_the_root(entry: str, tmp_path: Path) -> None:
    """An entry names a folder under ROOT/sequences and the saved images' folder: never outside."""
    root = tmp_path / "vimeo"
    _write_vimeo(root, ["00001/0001"])
    (root / "list.txt").write_text(f"00001/0001\n{entry}\n")
    with pytest.raises(InputDataError, match=rf"list\.txt: entry 2 '{entry}' is not a septuplet inside"):
        len(Vimeo90KTestDataset(root, test_list=root / "list.txt"))


def test_vimeo90k_real_septuplets(tmp_path: Path) -> None:
    root = shared_data_path("Vimeo90K")
    (tmp_path / "list.txt").write_text("00001/0001\n00001/0008\n")
    dataset = Vimeo90KTestDataset(root, test_list=tmp_path / "list.txt")
    assert len(dataset) == 2 and dataset.splits == {}
    item = dataset[1]
    assert item["key"] == "00001/0008" and item["scored"] == [3] and item["names"][3] == "im4.png"
    assert item["gt"][3].shape == (256, 448, 3) and item["lq"][3].shape == (64, 112, 3)


def test_frames_dataset() -> None:
    frames = [_frame(10, 13, i) for i in range(4)]
    dataset = FramesDataset({"carphone": frames}, name="sample")
    assert dataset.name == "sample" and len(dataset) == 1
    item = dataset[0]
    assert item["key"] == "carphone" and item["scored"] == [1, 2]
    assert item["names"] == ["00000000.png", "00000001.png", "00000002.png", "00000003.png"]
    np.testing.assert_array_equal(item["gt"][1], frames[1][:8, :12])
    np.testing.assert_array_equal(item["lq"][1], bi_degrade(frames[1][:8, :12], 4))
    with pytest.raises(InputDataError, match="clip short: a clip of 1 frames"):
        len(FramesDataset({"short": frames[:1]}))


def test_max_frames_keeps_the_first_frames_of_each_clip(vid4_root: Path, tmp_path: Path) -> None:
    """The inner-frame rule applies to the shortened clip; LR files are cut alike; the protocol says so."""
    _write_clip(tmp_path / "lr" / "walk", 5, 4, 5, seed=3)
    dataset = Vid4Dataset(vid4_root, clips=["walk"], lr_root=tmp_path / "lr", max_frames=3)
    (clip,) = dataset.clips
    assert [p.name for p in clip.gt_paths] == [f"{i:08d}.png" for i in range(3)]
    assert clip.lq_paths is not None and len(clip.lq_paths) == 3 and clip.scored == (1,)
    assert dataset.protocol()["max_frames"] == 3 and "max_frames" not in Vid4Dataset(vid4_root).protocol()
    assert len(dataset[0]["gt"]) == len(dataset[0]["lq"]) == 3
    assert Vid4Dataset(vid4_root, clips=["walk"], max_frames=50).clips[0].scored == (1, 2, 3)

    frames = FramesDataset({"a": [_frame(8, 8, i) for i in range(6)]}, max_frames=4, score="all")
    assert len(frames[0]["gt"]) == 4 and frames.clips[0].scored == (0, 1, 2, 3)
    with pytest.raises(ValueError, match="max_frames must be at least 1, got 0"):
        Vid4Dataset(vid4_root, max_frames=0)


def test_missing_data_names_the_layout_and_the_readme(tmp_path: Path) -> None:
    """Each dataset's missing folder: the layout expected and data/README.md; no "folder folder"."""
    cases = [
        (Vid4Dataset(tmp_path / "v"), "Vid4 folder not found", "ROOT/GT/<clip>/<frames>"),
        (FolderDataset(tmp_path / "f"), "folder of clips not found", "ROOT/<clip>/<frames>"),
        (SPMCSDataset(tmp_path / "s"), "SPMCS folder not found", "ROOT/<clip>/truth/<frames>"),
        (Vimeo90KTestDataset(tmp_path / "m"), "Vimeo-90K sequences folder not found", "ROOT/sequences/"),
    ]
    for dataset, problem, layout in cases:
        with pytest.raises(MissingDataError) as caught:
            len(dataset)
        message = str(caught.value)
        assert message.startswith(problem) and f"(expected {layout}" in message, message
        assert message.endswith("; see data/README.md)") and "folder folder" not in message
        assert pickle.loads(pickle.dumps(caught.value)).args == caught.value.args


def test_numbered_frames_and_clips_come_in_number_order_hidden_ones_left_out(tmp_path: Path) -> None:
    root = tmp_path / "mine"
    for clip in ["clip10", "clip9", ".clip.partial"]:
        _write_clip(root / clip, 12, 8, 8, seed=len(clip), names="{}.png")  # 0.png .. 11.png
    (root / "clip9" / ".hidden.png").write_bytes((root / "clip9" / "0.png").read_bytes())
    dataset = FolderDataset(root, score="all")
    assert [clip.key for clip in dataset.clips] == ["clip9", "clip10"]
    item = dataset[0]
    assert item["names"] == [f"{i}.png" for i in range(12)]
    for i in (2, 10):  # frame 10 is not read as frame 2 (as "10.png" < "2.png" would make it)
        np.testing.assert_array_equal(item["gt"][i], _frame(8, 8, 5 * 100 + i))


@pytest.mark.parametrize("odd", ["16-bit", "grey"])
def test_a_16_bit_or_grey_frame_is_refused_before_any_clip_is_read(tmp_path: Path, odd: str) -> None:
    root = tmp_path / "Vid4"
    _write_clip(root / "GT" / "alpha", 4, 8, 8)
    _write_clip(root / "GT" / "beta", 4, 8, 8)
    frame = np.zeros((8, 8, 3), np.uint16) if odd == "16-bit" else np.zeros((8, 8, 1), np.uint8)
    write_image(root / "GT" / "beta" / "00000003.png", frame)
    dataset = Vid4Dataset(root)
    with pytest.raises(InputDataError, match=r"beta/00000003\.png: expected (an 8-bit|a 3-channel) RGB"):
        dataset.clips  # noqa: B018 (what test.py lists before any work)
