"""Evaluation datasets: Vid4, SPMCS, Vimeo-90K-T, a folder of the user's own clips, frames in memory.

Every dataset is a sequence of clips with the same item structure, so one evaluator serves all:

``dataset[i]`` is a dict with

- ``"lq"``: the low-resolution frames, a list of ``(h, w, 3)`` uint8 RGB;
- ``"gt"``: the ground-truth frames, a list of ``(s*h, s*w, 3)`` uint8 RGB (cropped to a multiple of
  the scale, top-left anchored, as the benchmarks do);
- ``"key"``: the clip name;
- ``"scored"``: the frame indices that count in the metrics;
- ``"names"``: one file name per frame (for per-frame reports and saved images).

Low-resolution frames are read from files when an LR folder is given, and otherwise made from the
ground truth with :func:`lgfn.data.degradations.degrade` (``"bi"``: the paper's MATLAB bicubic
downscaling; ``"bd"``: Gaussian blur and subsampling).

Which frames are scored is a constructor argument (``score``) with one default per dataset:

- ``"inner"``: every frame but the first and the last (the authors' Vid4 and SPMCS protocol; also the
  default for :class:`FolderDataset` so that numbers on one's own clips compare with Vid4's);
- ``"all"``: every frame (``test.py --score-all-frames``);
- ``"centre"``: only the middle frame (Vimeo-90K-T scores ``im4`` of each septuplet).

``max_frames`` (Vid4, SPMCS, folders, frames in memory) keeps only the first frames of each clip, and
the rule above then picks the scored frames of the shortened clip (``test.py --max-frames``: a quick
look); ``metrics.json`` records it in its protocol.

Constructors only store their arguments; the folders are scanned on first use (``len``, indexing,
:attr:`EvalDataset.clips`) and any problem raises one :class:`~lgfn.errors.InputDataError` that
names the file or folder and says what was expected.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PureWindowsPath
from typing import Any

import numpy as np

from lgfn.data.degradations import crop_to_multiple, degrade
from lgfn.data.io import check_rgb8, list_clip_folders, list_frames, read_clip
from lgfn.errors import InputDataError, MissingDataError

logger = logging.getLogger(__name__)

#: How a dataset picks the frames that are scored, see the module docstring.
SCORE_MODES = ("inner", "all", "centre")
#: Degradations that can make LR frames from the ground truth.
DEGRADATIONS = ("bi", "bd")


def scored_indices(length: int, score: str) -> list[int]:
    """The indices of the scored frames of a clip of ``length`` frames.

    Args:
        length: number of frames in the clip, at least 1.
        score: ``"inner"``, ``"all"`` or ``"centre"``.

    Returns:
        Increasing frame indices.

    Raises:
        ValueError: ``score`` is unknown, or ``"inner"`` on a clip of fewer than 3 frames.
    """
    if score == "all":
        return list(range(length))
    if score == "centre":
        return [length // 2]
    if score == "inner":
        if length < 3:
            raise ValueError(f"a clip of {length} frames has no frames between its first and last")
        return list(range(1, length - 1))
    raise ValueError(f"unknown score mode {score!r}; expected one of {', '.join(SCORE_MODES)}")


@dataclass(frozen=True)
class EvalClip:
    """One clip of an evaluation dataset, before any frame is read.

    Attributes:
        key: the clip name (``"calendar"``, ``"00001/0266"``).
        gt_paths: ground-truth frame files in frame order.
        lq_paths: low-resolution frame files (same count), or ``None`` to degrade the ground truth.
        scored: indices of the frames that count in the metrics.
    """

    key: str
    gt_paths: tuple[Path, ...]
    lq_paths: tuple[Path, ...] | None
    scored: tuple[int, ...]


class EvalDataset:
    """Base class: a lazily scanned list of :class:`EvalClip` loaded as ``{"lq", "gt", "key", ...}``.

    Subclasses implement :meth:`_keys` (the clip names, cheap to list) and :meth:`_build` (one
    clip's frame files); only the selected clips are built. Args common to all:

    Args:
        scale: upscaling factor the LR frames are (or are made) smaller by.
        degradation: ``"bi"`` or ``"bd"``, used when no LR frames are read from files.
        score: ``"inner"``, ``"all"`` or ``"centre"`` (see the module docstring).
        clips: evaluate only these clip names (default all), in the given order.
        max_frames: read only the first this many frames of each clip (``None``: all).
    """

    #: Short dataset name written to reports (``metrics.json``'s ``"dataset"``).
    name = "dataset"

    def __init__(
        self,
        scale: int = 4,
        degradation: str = "bi",
        score: str = "inner",
        clips: Sequence[str] | None = None,
        max_frames: int | None = None,
    ) -> None:
        if score not in SCORE_MODES:
            raise ValueError(f"unknown score mode {score!r}; expected one of {', '.join(SCORE_MODES)}")
        if degradation not in DEGRADATIONS:
            raise ValueError(
                f"unknown degradation {degradation!r}; expected one of {', '.join(DEGRADATIONS)}"
            )
        self.scale = scale
        self.degradation = degradation
        self.score = score
        if max_frames is not None and max_frames < 1:
            raise ValueError(f"max_frames must be at least 1, got {max_frames}")
        self.selected = None if clips is None else list(clips)
        self.max_frames = max_frames
        self._clips: list[EvalClip] | None = None

    # -- what subclasses provide ------------------------------------------------------------------

    def _keys(self) -> list[str]:
        """All clip names in evaluation order."""
        raise NotImplementedError

    def _build(self, key: str) -> EvalClip:
        """The frame files and scored frames of one clip."""
        raise NotImplementedError

    def _lr_source(self) -> str | None:
        """Where LR frames are read from (for the report), or ``None`` when they are made from GT."""
        return None

    @property
    def splits(self) -> dict[str, list[str]]:
        """Named subsets of clip keys whose means are reported separately (empty unless defined)."""
        return {}

    # -- shared behaviour -------------------------------------------------------------------------

    @property
    def clips(self) -> list[EvalClip]:
        """The clips, scanned from disk on first access."""
        if self._clips is None:
            keys = self._keys()
            if self.selected is not None:
                known = set(keys)
                unknown = [key for key in self.selected if key not in known]
                if unknown:
                    raise InputDataError(
                        f"{self.name}: no clip named {', '.join(unknown)}; available: {', '.join(keys)}"
                    )
                keys = self.selected
            self._clips = [self._build(key) for key in keys]
        return self._clips

    def protocol(self) -> dict[str, Any]:
        """How LR frames are made and which frames are scored, for ``metrics.json``."""
        lr_source = self._lr_source()
        protocol = {
            "scale": self.scale,
            "lr": f"read from {lr_source}" if lr_source else f"{self.degradation.upper()} degradation of GT",
            "scored_frames": self.score,
        }
        if self.max_frames is not None:
            protocol["max_frames"] = self.max_frames  # only the first frames of each clip
        return protocol

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.load(self.clips[index])

    def load(self, clip: EvalClip) -> dict[str, Any]:
        """Read one clip's frames, crop the ground truth and read or make the LR frames.

        Args:
            clip: one of :attr:`clips`.

        Returns:
            ``{"lq", "gt", "key", "scored", "names"}`` as in the module docstring.

        Raises:
            InputDataError: a frame cannot be read, frame sizes differ within the clip, or the LR
                frames are not the ground truth's size divided by the scale.
        """
        gt = [
            self._crop(frame, path)
            for frame, path in zip(read_clip(clip.gt_paths), clip.gt_paths, strict=True)
        ]
        if clip.lq_paths is None:
            lq = [degrade(frame, self.scale, self.degradation) for frame in gt]
        else:
            lq = read_clip(clip.lq_paths)
            expected = (gt[0].shape[0] // self.scale, gt[0].shape[1] // self.scale)
            if lq[0].shape[:2] != expected:
                raise InputDataError(
                    f"{clip.lq_paths[0]}: LR frame is {lq[0].shape[1]}x{lq[0].shape[0]}, expected "
                    f"{expected[1]}x{expected[0]} (ground truth {clip.gt_paths[0]} is "
                    f"{gt[0].shape[1]}x{gt[0].shape[0]}, scale {self.scale})"
                )
        return {
            "lq": lq,
            "gt": gt,
            "key": clip.key,
            "scored": list(clip.scored),
            "names": [path.name for path in clip.gt_paths],
        }

    def _crop(self, frame: np.ndarray, where: str | Path) -> np.ndarray:
        if frame.shape[0] < self.scale or frame.shape[1] < self.scale:
            raise InputDataError(
                f"{where}: frame of {frame.shape[1]}x{frame.shape[0]} is smaller than the scale {self.scale}"
            )
        return crop_to_multiple(frame, self.scale)

    def _clip(self, key: str, gt_folder: Path, lq_folder: Path | None) -> EvalClip:
        """Build one clip from its frame folders, checking frame counts and the scored frames."""
        gt_paths = list_frames(gt_folder)
        lq_paths = None
        if lq_folder is not None:
            lq_paths = list_frames(lq_folder)
            if len(lq_paths) != len(gt_paths):
                raise InputDataError(
                    f"{lq_folder}: {len(lq_paths)} LR frames, expected {len(gt_paths)} as in {gt_folder}"
                )
            lq_paths = lq_paths[: self.max_frames]
        gt_paths = gt_paths[: self.max_frames]
        # A grey or 16-bit frame would stop the run at its clip; headers find it now, cheaply.
        check_rgb8([*gt_paths, *(lq_paths or ())])
        try:
            scored = scored_indices(len(gt_paths), self.score)
        except ValueError as exc:
            raise InputDataError(
                f"{gt_folder}: {exc}; score all frames instead (--score-all-frames)"
            ) from None
        return EvalClip(key, tuple(gt_paths), None if lq_paths is None else tuple(lq_paths), tuple(scored))


def _require_folder(path: Path, what: str, layout: str, option: str = "root") -> Path:
    if not path.is_dir():
        raise MissingDataError(f"{what} not found: {path} is not a folder", layout, option)
    return path


def _subfolders(root: Path, what: str, layout: str) -> list[Path]:
    folders = list_clip_folders(_require_folder(root, what, layout))
    if not folders:
        raise MissingDataError(f"{root}: no clip folders in the {what}", layout)
    return folders


class Vid4Dataset(EvalDataset):
    """Vid4 (calendar, city, foliage, walk).

    Layout::

        ROOT/
          GT/                      ground truth, one folder per clip
            calendar/00000000.png ...
            city/ ...
          BIx4/                    optional LR frames (pass lr_root=ROOT/BIx4), same names
            calendar/00000000.png ...

    Args:
        root: the Vid4 folder (holding ``GT``).
        scale: upscaling factor.
        lr_root: folder with one LR sub-folder per clip (e.g. ``ROOT/BIx4``); default: make the LR
            frames from GT with ``degradation``.
        degradation: ``"bi"`` or ``"bd"``.
        score: which frames count; default all but the first and last of each clip.
        clips: evaluate only these clips.
        gt_dir: name of the ground-truth folder under ``root``.
        max_frames: read only the first this many frames of each clip (``None``: all).
    """

    name = "vid4"
    #: What the messages call the root folder, and the layouts they show.
    title = "Vid4 folder"
    layout = "ROOT/GT/<clip>/<frames>, e.g. ROOT/GT/calendar/00000000.png"
    lr_layout = "LR_ROOT/<clip>/<frames> named as the ground truth, e.g. ROOT/BIx4/calendar/00000000.png"

    def __init__(
        self,
        root: str | Path,
        scale: int = 4,
        lr_root: str | Path | None = None,
        degradation: str = "bi",
        score: str = "inner",
        clips: Sequence[str] | None = None,
        gt_dir: str = "GT",
        max_frames: int | None = None,
    ) -> None:
        super().__init__(scale, degradation, score, clips, max_frames)
        self.root = Path(root)
        self.lr_root = None if lr_root is None else Path(lr_root)
        self.gt_dir = gt_dir

    def _keys(self) -> list[str]:
        _require_folder(self.root, self.title, self.layout)
        gt_root = self.root / self.gt_dir
        return [folder.name for folder in _subfolders(gt_root, "ground-truth folder", self.layout)]

    def _build(self, key: str) -> EvalClip:
        lq_folder = None
        if self.lr_root is not None:
            lq_folder = _require_folder(self.lr_root / key, "LR clip folder", self.lr_layout, "lr_root")
        return self._clip(key, self.root / self.gt_dir / key, lq_folder)

    def _lr_source(self) -> str | None:
        return None if self.lr_root is None else str(self.lr_root)


class FolderDataset(Vid4Dataset):
    """The user's own clips: one folder of frames per clip.

    Layout::

        ROOT/
          my_clip_a/0000.png 0001.png ...    ground truth (numbered names, in number order)
          my_clip_b/...
        LR_ROOT/                             optional LR frames, same clip folders and names
          my_clip_a/0000.png ...

    Without ``lr_root`` the LR frames are made from the ground truth with ``degradation``. Like Vid4,
    every frame but the first and last of each clip is scored unless ``score="all"``.

    Args:
        root: the folder holding one sub-folder per clip.
        scale, lr_root, degradation, score, clips, max_frames: as :class:`Vid4Dataset`.
    """

    name = "folder"
    title = "folder of clips"
    layout = "ROOT/<clip>/<frames>, one folder of frames per clip, e.g. ROOT/street/0000.png"
    lr_layout = "LR_ROOT/<clip>/<frames> named as the ground truth, e.g. my_clips_lr/street/0000.png"

    def __init__(
        self,
        root: str | Path,
        scale: int = 4,
        lr_root: str | Path | None = None,
        degradation: str = "bi",
        score: str = "inner",
        clips: Sequence[str] | None = None,
        max_frames: int | None = None,
    ) -> None:
        super().__init__(root, scale, lr_root, degradation, score, clips, gt_dir=".", max_frames=max_frames)


class SPMCSDataset(EvalDataset):
    """SPMCS (the 30 test clips of Tao et al.'s SPMC release, 31 frames of 960x540 each).

    Layout (the original release)::

        ROOT/
          car05_001/
            truth/0000.png ...       ground truth
            input4/0000.png ...      optional x4 LR frames (``input{scale}``)
          hitachi_isee5_001/ ...

    Args:
        root: the SPMCS folder (one sub-folder per clip).
        scale: upscaling factor.
        lr_from_files: read the LR frames from each clip's ``lr_subdir`` instead of degrading GT.
        degradation: ``"bi"`` or ``"bd"`` (when not reading LR files).
        score: which frames count; default all but the first and last of each clip.
        clips: evaluate only these clips.
        gt_subdir: ground-truth sub-folder of each clip.
        lr_subdir: LR sub-folder of each clip (default ``input{scale}``).
        max_frames: read only the first this many frames of each clip (``None``: all).
    """

    name = "spmcs"
    title = "SPMCS folder"
    layout = "ROOT/<clip>/truth/<frames>, e.g. ROOT/car05_001/truth/0000.png"

    def __init__(
        self,
        root: str | Path,
        scale: int = 4,
        lr_from_files: bool = False,
        degradation: str = "bi",
        score: str = "inner",
        clips: Sequence[str] | None = None,
        gt_subdir: str = "truth",
        lr_subdir: str | None = None,
        max_frames: int | None = None,
    ) -> None:
        super().__init__(scale, degradation, score, clips, max_frames)
        self.root = Path(root)
        self.lr_from_files = lr_from_files
        self.gt_subdir = gt_subdir
        self.lr_subdir = f"input{scale}" if lr_subdir is None else lr_subdir

    def _keys(self) -> list[str]:
        return [folder.name for folder in _subfolders(self.root, self.title, self.layout)]

    def _build(self, key: str) -> EvalClip:
        layout = self.layout.replace("truth", self.gt_subdir)
        gt_folder = _require_folder(self.root / key / self.gt_subdir, "ground-truth folder", layout)
        lq_folder = None
        if self.lr_from_files:
            lr_layout = layout.replace(self.gt_subdir, self.lr_subdir)
            lq_folder = _require_folder(self.root / key / self.lr_subdir, "LR folder", lr_layout)
        return self._clip(key, gt_folder, lq_folder)

    def _lr_source(self) -> str | None:
        return f"{self.root}/<clip>/{self.lr_subdir}" if self.lr_from_files else None


def _read_list(path: Path, what: str, layout: str = "", option: str = "root") -> list[str]:
    if not path.is_file():
        if layout:
            raise MissingDataError(f"{what} not found: {path}", layout, option)
        raise InputDataError(f"{what} not found: {path}")
    entries = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if not entries:
        raise InputDataError(f"{path}: {what} is empty; expected one 'xxxxx/yyyy' entry per line")
    return entries


class Vimeo90KTestDataset(EvalDataset):
    """Vimeo-90K-T, the 7,824 test septuplets of Xue et al.'s Vimeo-90K; only ``im4`` is scored.

    Layout (the official ``vimeo_septuplet`` release)::

        ROOT/
          sep_testlist.txt           one "00001/0266" entry per line
          sequences/
            00001/0266/im1.png .. im7.png
            ...
        LR_ROOT/                     optional LR septuplets, same layout
          sequences/00001/0266/im1.png ...

    Results are also averaged over named subsets of the test list (the slow / medium / fast motion
    split): by default over ``slow_testset.txt``, ``medium_testset.txt`` and ``fast_testset.txt``
    when they lie beside the test list; ``split_lists`` names them explicitly.

    Args:
        root: the folder holding ``sequences``.
        scale: upscaling factor.
        test_list: the list of septuplets (default ``ROOT/sep_testlist.txt``).
        lr_root: folder holding LR ``sequences`` with the same layout; default: degrade GT.
        degradation: ``"bi"`` or ``"bd"``.
        score: which frames count; default ``"centre"`` (``im4``).
        clips: evaluate only these septuplets (``"00001/0266"``).
        split_lists: ``{name: list file}`` of subsets reported separately; ``{}`` for none.
    """

    name = "vimeo90k"
    layout = "ROOT/sequences/<xxxxx>/<yyyy>/im1.png .. im7.png and ROOT/sep_testlist.txt"
    lr_layout = "LR_ROOT/sequences/<xxxxx>/<yyyy>/im1.png .. im7.png"
    #: Split list files looked for beside the test list when ``split_lists`` is not given.
    DEFAULT_SPLITS = {"slow": "slow_testset.txt", "medium": "medium_testset.txt", "fast": "fast_testset.txt"}

    def __init__(
        self,
        root: str | Path,
        scale: int = 4,
        test_list: str | Path | None = None,
        lr_root: str | Path | None = None,
        degradation: str = "bi",
        score: str = "centre",
        clips: Sequence[str] | None = None,
        split_lists: Mapping[str, str | Path] | None = None,
    ) -> None:
        super().__init__(scale, degradation, score, clips)
        self.root = Path(root)
        self.test_list = self.root / "sep_testlist.txt" if test_list is None else Path(test_list)
        self.lr_root = None if lr_root is None else Path(lr_root)
        self.split_lists = None if split_lists is None else {k: Path(v) for k, v in split_lists.items()}
        self._splits: dict[str, list[str]] | None = None

    def _keys(self) -> list[str]:
        _require_folder(self.root / "sequences", "Vimeo-90K sequences folder", self.layout)
        if self.lr_root is not None:
            _require_folder(
                self.lr_root / "sequences", "Vimeo-90K LR sequences folder", self.lr_layout, "lr_root"
            )
        option = "root" if self.test_list == self.root / "sep_testlist.txt" else "test_list"
        entries = _read_list(self.test_list, "Vimeo-90K test list", self.layout, option)
        for number, entry in enumerate(entries, start=1):
            # An entry names a folder under ROOT/sequences (and the saved images' folder): never outside.
            if Path(entry).is_absolute() or PureWindowsPath(entry).anchor or ".." in Path(entry).parts:
                raise InputDataError(
                    f"{self.test_list}: entry {number} {entry!r} is not a septuplet inside "
                    f"{self.root / 'sequences'}; expected a relative 'xxxxx/yyyy' without '..'"
                )
        return entries

    def _build(self, key: str) -> EvalClip:
        what = f"septuplet {key} of {self.test_list}"
        gt_folder = _require_folder(self.root / "sequences" / key, what, self.layout)
        lq_folder = None
        if self.lr_root is not None:
            what = f"LR septuplet {key}"
            lq_folder = _require_folder(self.lr_root / "sequences" / key, what, self.lr_layout, "lr_root")
        return self._clip(key, gt_folder, lq_folder)

    def _lr_source(self) -> str | None:
        return None if self.lr_root is None else str(self.lr_root / "sequences")

    @property
    def splits(self) -> dict[str, list[str]]:
        """``{split name: septuplet keys}``, restricted to the evaluated septuplets."""
        if self._splits is None:
            if self.split_lists is None:
                beside = {name: self.test_list.parent / file for name, file in self.DEFAULT_SPLITS.items()}
                lists = {name: path for name, path in beside.items() if path.is_file()}
            else:
                lists = self.split_lists
            evaluated = {clip.key for clip in self.clips}
            self._splits = {
                name: [key for key in _read_list(path, f"'{name}' split list") if key in evaluated]
                for name, path in lists.items()
            }
        return self._splits


class FramesDataset(EvalDataset):
    """Clips already in memory (e.g. decoded from a video), with the same items as the others.

    Args:
        clips: ``{clip name: ground-truth frames}``, each frame ``(h, w, 3)`` uint8 RGB; cropped to a
            multiple of ``scale``; the LR frames are made with ``degradation``.
        scale: upscaling factor.
        degradation: ``"bi"`` or ``"bd"``.
        score: which frames count; default all but the first and last.
        name: dataset name for reports.
        max_frames: keep only the first this many frames of each clip (``None``: all).
    """

    def __init__(
        self,
        clips: Mapping[str, Sequence[np.ndarray]],
        scale: int = 4,
        degradation: str = "bi",
        score: str = "inner",
        name: str = "frames",
        max_frames: int | None = None,
    ) -> None:
        super().__init__(scale, degradation, score, max_frames=max_frames)
        self.frames = {key: list(frames)[:max_frames] for key, frames in clips.items()}
        self.name = name

    def _keys(self) -> list[str]:
        return list(self.frames)

    def _build(self, key: str) -> EvalClip:
        try:
            scored = scored_indices(len(self.frames[key]), self.score)
        except ValueError as exc:
            raise InputDataError(f"clip {key}: {exc}") from None
        return EvalClip(key, (), None, tuple(scored))

    def load(self, clip: EvalClip) -> dict[str, Any]:
        """``{"lq", "gt", "key", "scored", "names"}`` for one in-memory clip (names ``00000000.png``...)."""
        frames = self.frames[clip.key]
        gt = [self._crop(frame, f"clip {clip.key}, frame {i}") for i, frame in enumerate(frames)]
        sizes = {frame.shape for frame in gt}
        if len(sizes) != 1:
            raise InputDataError(f"clip {clip.key}: frames of different sizes {sorted(sizes)}")
        return {
            "lq": [degrade(np.ascontiguousarray(frame), self.scale, self.degradation) for frame in gt],
            "gt": gt,
            "key": clip.key,
            "scored": list(clip.scored),
            "names": [f"{i:08d}.png" for i in range(len(frames))],
        }
