"""Training datasets: layouts, LR frames, the paper's crop and flips, determinism, caching."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from lgfn.data import train_datasets
from lgfn.data.degradations import bi_degrade, crop_to_multiple
from lgfn.data.io import write_image
from lgfn.data.samples import sample_clip_path
from lgfn.data.train_datasets import (
    FrameFolderDataset,
    LQFrameCache,
    VideoFileDataset,
    Vimeo90KDataset,
    random_crop_augment,
    sample_rng,
)
from lgfn.data.windows import window_indices
from lgfn.errors import InputDataError
from lgfn.media import read_video_frames
from lgfn.training.distributed import ShardedEpochSampler


def random_frame(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def to_uint8(tensor: torch.Tensor) -> np.ndarray:
    """(..., 3, h, w) float in [0, 1] -> (..., h, w, 3) uint8 (exact for values made from uint8)."""
    return (tensor.movedim(-3, -1) * 255).round().to(torch.uint8).numpy()


@pytest.fixture
def vimeo_tree(tmp_path: Path) -> tuple[Path, dict[str, list[np.ndarray]]]:
    """Three septuplets of 40x24 HR frames (x4 -> 10x6) in the official layout."""
    rng = np.random.default_rng(0)
    frames = {}
    for key in ("00001/0001", "00001/0002", "00002/0001"):
        frames[key] = [random_frame(rng, 24, 40) for _ in range(7)]
        for n, frame in enumerate(frames[key], start=1):
            write_image(tmp_path / "vimeo" / "sequences" / key / f"im{n}.png", frame)
    (tmp_path / "vimeo" / "sep_trainlist.txt").write_text("\n".join(frames) + "\n")
    return tmp_path / "vimeo", frames


# ------------------------------------------------------------------------------------------------
# The crop and the flips


def test_crop_and_flips_are_the_same_for_every_frame_and_the_ground_truth() -> None:
    scale, t = 2, 3
    rng = np.random.default_rng(1)
    base = rng.integers(0, 200, (12, 10, 3), dtype=np.uint8)
    # Frame i is the base plus 20*i: any frame transformed differently from frame 0 breaks that.
    lq = np.stack([base + 20 * i for i in range(t)]).astype(np.uint8)
    gt = np.kron(base, np.ones((scale, scale, 1), dtype=np.uint8))  # nearest upscaling of the base
    seen = set()
    for seed in range(64):
        out_lq, out_gt = random_crop_augment(lq, gt, scale, 6, sample_rng(seed, 0, 0))
        assert out_lq.shape == (t, 6, 6, 3) and out_gt.shape == (12, 12, 3)
        for i in range(t):
            np.testing.assert_array_equal(out_lq[i].astype(int) - out_lq[0], 20 * i)
        # The HR crop sits exactly under the LR crop, with the same flips and transpose.
        np.testing.assert_array_equal(out_gt, np.kron(out_lq[0], np.ones((scale, scale, 1), dtype=np.uint8)))
        seen.add(out_lq[0].tobytes())
    assert len(seen) > 20  # crops and flips vary with the seed


def test_each_flip_happens_about_half_the_time_and_in_the_documented_order() -> None:
    lq = np.arange(2 * 2 * 3).reshape(1, 2, 2, 3).astype(np.uint8)  # a 2x2 image, no room to crop
    gt = lq[0]
    counts = np.zeros(3)
    for index in range(400):
        out, _ = random_crop_augment(lq, gt, 1, 2, sample_rng(0, 0, index))
        # Replay the documented draws: top, left, then three flip decisions.
        replay = sample_rng(0, 0, index)
        replay.integers(0, 1), replay.integers(0, 1)
        hflip, vflip, transpose = replay.random(3) < 0.5
        expected = lq[0]
        expected = expected[:, ::-1] if hflip else expected
        expected = expected[::-1] if vflip else expected
        expected = expected.transpose(1, 0, 2) if transpose else expected
        np.testing.assert_array_equal(out[0], expected)
        counts += [hflip, vflip, transpose]
    assert np.all(np.abs(counts / 400 - 0.5) < 0.08)


def test_no_augment_is_a_plain_aligned_crop() -> None:
    rng = np.random.default_rng(2)
    lq = rng.integers(0, 256, (3, 9, 11, 3), dtype=np.uint8)
    gt = rng.integers(0, 256, (36, 44, 3), dtype=np.uint8)
    out_lq, out_gt = random_crop_augment(lq, gt, 4, 5, sample_rng(3, 1, 7), augment=False)
    replay = sample_rng(3, 1, 7)
    top, left = int(replay.integers(0, 5)), int(replay.integers(0, 7))
    np.testing.assert_array_equal(out_lq, lq[:, top : top + 5, left : left + 5])
    np.testing.assert_array_equal(out_gt, gt[4 * top : 4 * top + 20, 4 * left : 4 * left + 20])


def test_crop_errors() -> None:
    lq = np.zeros((3, 8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="smaller than the LR patch"):
        random_crop_augment(lq, np.zeros((32, 32, 3), np.uint8), 4, 9, sample_rng(0, 0, 0))
    with pytest.raises(ValueError, match="is not 4 x"):
        random_crop_augment(lq, np.zeros((30, 32, 3), np.uint8), 4, 4, sample_rng(0, 0, 0))


# ------------------------------------------------------------------------------------------------
# Vimeo-90K


def test_vimeo_sample_is_the_bi_degraded_window_and_im4(vimeo_tree) -> None:
    root, frames = vimeo_tree
    dataset = Vimeo90KDataset(root, scale=4, num_frames=5, lq_patch=6, augment=False)
    assert len(dataset) == 3
    # LR frames are 10x6, the patch 6: the crop spans the full height, only the column varies.
    sample = dataset[(1, 0)]
    assert sample["key"] == "00001/0002"
    assert sample["lq"].shape == (5, 3, 6, 6) and sample["gt"].shape == (3, 24, 24)
    assert sample["lq"].dtype == torch.float32 and 0 <= sample["lq"].min() and sample["lq"].max() <= 1
    lq, gt = to_uint8(sample["lq"]), to_uint8(sample["gt"])
    expected_lq = np.stack([bi_degrade(f, 4) for f in frames["00001/0002"][1:6]])  # im2..im6
    left = next(x for x in range(5) if np.array_equal(expected_lq[:, :, x : x + 6], lq))
    np.testing.assert_array_equal(gt, frames["00001/0002"][3][:, 4 * left : 4 * left + 24])


def test_vimeo_reads_ready_made_lr_frames(vimeo_tree, tmp_path: Path) -> None:
    root, frames = vimeo_tree
    rng = np.random.default_rng(5)
    lr = {key: [random_frame(rng, 6, 10) for _ in range(7)] for key in frames}
    for key, clip in lr.items():
        for n, frame in enumerate(clip, start=1):
            write_image(tmp_path / "lr" / "sequences" / key / f"im{n}.png", frame)
    dataset = Vimeo90KDataset(root, lq_root=tmp_path / "lr", num_frames=7, lq_patch=6, augment=False)
    lq, gt, key = dataset.load(2)
    assert key == "00002/0001"
    np.testing.assert_array_equal(lq, np.stack(lr[key]))
    np.testing.assert_array_equal(gt, frames[key][3])


def test_vimeo_custom_list_and_errors(vimeo_tree, tmp_path: Path) -> None:
    root, _ = vimeo_tree
    listing = tmp_path / "mine.txt"
    listing.write_text("00002/0001\n\n")
    assert len(Vimeo90KDataset(root, list_file=listing)) == 1
    with pytest.raises(InputDataError, match="sequences folder not found"):
        Vimeo90KDataset(tmp_path / "nowhere").prepare()
    with pytest.raises(InputDataError, match="training list not found"):
        Vimeo90KDataset(root, list_file=tmp_path / "absent.txt").prepare()
    listing.write_text("09999/0001\n")
    with pytest.raises(InputDataError, match="09999/0001"):
        Vimeo90KDataset(root, list_file=listing).prepare()
    with pytest.raises(InputDataError, match="smaller than the LR patch"):
        Vimeo90KDataset(root, lq_patch=8)[0]


def test_disk_cache_writes_once_and_is_reused(vimeo_tree, tmp_path: Path, monkeypatch) -> None:
    root, frames = vimeo_tree
    dataset = Vimeo90KDataset(root, lq_patch=6, cache="disk", cache_dir=tmp_path / "cache")
    first = dataset[(0, 0)]
    cached = tmp_path / "cache" / "x4" / "sequences" / "00001" / "0001" / "im1.png"
    assert cached.is_file()
    assert sorted(p.name for p in cached.parent.iterdir()) == [f"im{n}.png" for n in range(1, 8)]

    def fail(*args, **kwargs):
        raise AssertionError("degraded again instead of reading the cache")

    monkeypatch.setattr(train_datasets, "bi_degrade", fail)
    again = Vimeo90KDataset(root, lq_patch=6, cache="disk", cache_dir=tmp_path / "cache")[(0, 0)]
    assert torch.equal(first["lq"], again["lq"]) and torch.equal(first["gt"], again["gt"])


def test_memory_cache_degrades_each_frame_once(tmp_path: Path, monkeypatch) -> None:
    frame = random_frame(np.random.default_rng(3), 16, 16)
    write_image(tmp_path / "f.png", frame)
    calls = []
    monkeypatch.setattr(train_datasets, "bi_degrade", lambda hr, s: calls.append(1) or bi_degrade(hr, s))
    cache = LQFrameCache(4, "memory")
    a, b = cache.get(tmp_path / "f.png", "f"), cache.get(tmp_path / "f.png", "f")
    assert len(calls) == 1
    np.testing.assert_array_equal(a, bi_degrade(frame, 4))
    np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------------------------------------
# Folders of clips and video files


def test_frame_folders_sample_every_frame_with_padded_windows(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    clips = {
        "a": [random_frame(rng, 13, 17) for _ in range(4)],
        "b": [random_frame(rng, 13, 17) for _ in range(2)],
    }
    for name, frames in clips.items():
        for i, frame in enumerate(frames):
            write_image(tmp_path / "clips" / name / f"{i:04d}.png", frame)
    (tmp_path / "clips" / "notes.txt").write_text("not a clip")
    dataset = FrameFolderDataset(tmp_path / "clips", scale=4, num_frames=3, lq_patch=3, augment=False)
    assert len(dataset) == 6
    lq, gt, key = dataset.load(0)  # clip a, centre 0: window [2, 0, 1] with new_info padding
    assert key == "a/0000"
    assert window_indices(0, 3, 4) == [2, 0, 1]
    np.testing.assert_array_equal(lq, np.stack([bi_degrade(clips["a"][i], 4) for i in (2, 0, 1)]))
    np.testing.assert_array_equal(gt, crop_to_multiple(clips["a"][0], 4))  # 13x17 -> 12x16
    lq, gt, key = dataset.load(5)  # clip b, centre 1
    assert key == "b/0001"
    np.testing.assert_array_equal(gt, crop_to_multiple(clips["b"][1], 4))
    sample = dataset[5]
    assert sample["lq"].shape == (3, 3, 3, 3) and sample["gt"].shape == (3, 12, 12)


def test_frame_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(InputDataError, match="training data folder not found"):
        len(FrameFolderDataset(tmp_path / "absent"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputDataError, match="one sub-folder"):
        len(FrameFolderDataset(tmp_path / "empty"))


def test_video_files_are_decoded_and_degraded_once() -> None:
    path = sample_clip_path("carphone_pristine")
    dataset = VideoFileDataset(["sample:carphone_pristine"], max_frames=4, num_frames=3, lq_patch=8)
    assert len(dataset) == 4
    hr = read_video_frames(path, max_frames=4)
    lq, gt, key = dataset.load(3)  # last frame: window [2, 3, 1]
    assert key == "carphone_pristine/00000003"
    np.testing.assert_array_equal(gt, hr[3])  # 176x144 is a multiple of 4
    np.testing.assert_array_equal(lq, np.stack([bi_degrade(hr[i], 4) for i in window_indices(3, 3, 4)]))
    sample = dataset[(3, 2)]
    assert sample["lq"].shape == (3, 3, 8, 8) and sample["gt"].shape == (3, 32, 32)


# ------------------------------------------------------------------------------------------------
# Determinism


def test_samples_depend_only_on_seed_epoch_and_index(vimeo_tree) -> None:
    root, _ = vimeo_tree
    a = Vimeo90KDataset(root, lq_patch=4, seed=7)
    b = Vimeo90KDataset(root, lq_patch=4, seed=7)
    assert torch.equal(a[(2, 5)]["lq"], b[(2, 5)]["lq"])
    assert torch.equal(a[2]["gt"], b[(2, 0)]["gt"])  # a plain index is epoch 0
    differs = [not torch.equal(a[(2, e)]["lq"], a[(2, 0)]["lq"]) for e in range(1, 6)]
    assert any(differs)
    c = Vimeo90KDataset(root, lq_patch=4, seed=8)
    assert any(not torch.equal(a[(i, 0)]["lq"], c[(i, 0)]["lq"]) for i in range(3))


def test_loader_workers_do_not_change_the_batches(vimeo_tree) -> None:
    root, _ = vimeo_tree
    dataset = Vimeo90KDataset(root, lq_patch=4, seed=1)
    dataset.prepare()

    def batches(workers: int) -> list[torch.Tensor]:
        sampler = ShardedEpochSampler(len(dataset), 2, 0, 1, seed=1)
        loader = DataLoader(dataset, batch_size=2, sampler=sampler, num_workers=workers)
        out = []
        for epoch in range(2):
            sampler.set_epoch(epoch)
            out += [batch["lq"] for batch in loader]
        return out

    single, parallel = batches(0), batches(2)
    assert len(single) == 2
    for x, y in zip(single, parallel, strict=True):
        assert torch.equal(x, y)


def test_frame_folders_in_number_order_and_16_bit_frames_refused_before_training(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    frames = [random_frame(rng, 16, 16) for _ in range(11)]
    for i, frame in enumerate(frames):
        write_image(tmp_path / "hr" / "clip" / f"{i}.png", frame)
    dataset = FrameFolderDataset(tmp_path / "hr", scale=4, num_frames=3, lq_patch=4)
    dataset.prepare()
    assert [path.name for path in dataset.clips[0][1]] == [f"{i}.png" for i in range(11)]
    np.testing.assert_array_equal(dataset.load(10)[1], frames[10])
    write_image(tmp_path / "hr" / "clip" / "5.png", frames[5].astype(np.uint16) * 257)
    with pytest.raises(InputDataError, match=r"5\.png: expected an 8-bit RGB image, got a 16-bit RGB PNG"):
        FrameFolderDataset(tmp_path / "hr", scale=4, num_frames=3, lq_patch=4).prepare()
