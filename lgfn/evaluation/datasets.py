"""Which evaluation dataset a name and its options describe: one factory for ``test.py``, validation
during training and ``scripts/bicubic_baseline.py``.

The callers spell the options differently (``--data-root`` on the command line, ``val.root`` in a
config); :class:`OptionNames` carries their spelling so that every error names what the user typed.
The factory lists the clips at once, so that a missing folder is reported before any work starts,
naming the layout expected, the option that sets the path and ``data/README.md``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from lgfn.data.eval_datasets import (
    EvalDataset,
    FolderDataset,
    FramesDataset,
    SPMCSDataset,
    Vid4Dataset,
    Vimeo90KTestDataset,
)
from lgfn.errors import ConfigError, MissingDataError

#: The dataset names the factory knows; ``videos`` are video files (or ``sample:<name>`` clips).
EVAL_DATASETS = ("vid4", "spmcs", "vimeo90k", "folder", "videos")
#: Where ``test.py`` looks for each benchmark without ``--data-root`` (relative to the repository; the
#: layouts and where the data come from are in data/README.md).
DEFAULT_ROOTS = {"vid4": "data/Vid4", "spmcs": "data/SPMCS", "vimeo90k": "data/vimeo_septuplet"}


@dataclass(frozen=True)
class OptionNames:
    """How the caller's user writes each option, for error messages."""

    dataset: str = "--dataset"
    root: str = "--data-root"
    lr_root: str = "--lr-root"
    lr_from_files: str = "--lr-from-files"
    clips: str = "--clips"
    max_frames: str = "--max-frames"
    test_list: str = "--test-list"


#: The spelling of a training config's ``val`` section (which has no test list).
CONFIG_NAMES = OptionNames(
    "val.dataset", "val.root", "val.lq_root", "lr_from_files", "val.clips", "val.max_frames", "test_list"
)


def build_eval_dataset(
    name: str,
    root: str | Path | None,
    scale: int,
    *,
    lr_root: str | Path | None = None,
    lr_from_files: bool = False,
    degradation: str = "bi",
    score: str | None = None,
    clips: Sequence[str] | None = None,
    test_list: str | Path | None = None,
    split_lists: Mapping[str, str | Path] | None = None,
    max_frames: int = 0,
    names: OptionNames = OptionNames(),
) -> EvalDataset:
    """The evaluation dataset ``name`` (one of :data:`EVAL_DATASETS`).

    Args:
        name: the dataset.
        root: its folder (not for ``videos``).
        scale: the upscaling factor.
        lr_root: a folder of ready-made LR frames in the dataset's layout (vid4, folder, vimeo90k).
        lr_from_files: read the LR frames the dataset ships (vid4: ``root/BIx<s>``, spmcs:
            ``<clip>/input<s>``) instead of degrading the ground truth.
        degradation: ``"bi"`` or ``"bd"``, for LR frames made from the ground truth.
        score: which frames count (``"inner"``, ``"all"``, ``"centre"``); ``None``: the dataset's own.
        clips: only these clips (``videos``: the videos themselves, paths or ``sample:<name>``).
        test_list, split_lists: vimeo90k's list of septuplets and named sub-lists.
        max_frames: only the first this many frames of each clip (0: all; ``videos``: decoded);
            not for vimeo90k, whose septuplets are scored at their centre.
        names: how the caller's options are spelled, for error messages.

    Raises:
        ConfigError: the options do not describe a dataset (a missing root, an LR source the
            dataset cannot have).
        MissingDataError: a folder or list of the dataset's layout is missing.
    """
    common = dict(scale=scale, degradation=degradation, **({"score": score} if score else {}))
    if name == "videos":
        return _videos(clips, max_frames, names, **common)  # decoded: max_frames limits the decoding
    if name not in EVAL_DATASETS:
        raise ConfigError(f"{names.dataset} {name!r}: expected one of {', '.join(EVAL_DATASETS)}")
    if not root:
        raise ConfigError(f"{names.dataset} {name} needs {names.root} (folder layouts in data/README.md)")
    if name == "vimeo90k" and max_frames:
        raise ConfigError(
            f"{names.max_frames} does not apply to vimeo90k, whose 7-frame septuplets are scored at their "
            f"centre: choose septuplets with {names.clips} or {names.test_list} instead"
        )
    common.update(clips=list(clips) if clips else None, max_frames=max_frames or None)
    lr_root = Path(lr_root) if lr_root else None
    if name == "vimeo90k":
        if lr_from_files and lr_root is None:
            raise ConfigError(f"vimeo90k keeps LR frames in a separate tree: pass {names.lr_root}")
        split_lists = dict(split_lists) if split_lists else None
        del common["max_frames"]
        dataset = Vimeo90KTestDataset(
            root, test_list=test_list, lr_root=lr_root, split_lists=split_lists, **common
        )
    else:
        if test_list or split_lists:
            option = names.test_list if test_list else "--split-list"
            raise ConfigError(f"{option} is for --dataset vimeo90k only, not {name}")
        dataset = _frame_folders(name, Path(root), lr_root, lr_from_files, names, **common)
    try:
        dataset.clips  # noqa: B018 (listed now, so that missing data is reported before any work)
    except MissingDataError as exc:
        raise exc.naming(getattr(names, exc.option)) from None
    return dataset


def _frame_folders(
    name: str, root: Path, lr_root: Path | None, lr_from_files: bool, names: OptionNames, **common
) -> EvalDataset:
    """Vid4, SPMCS or a folder of clips, with its LR source checked; ``common``: the constructors'
    shared keyword arguments."""
    if name == "spmcs":
        if lr_root is not None:
            where = f"use {names.lr_from_files}, not {names.lr_root}"
            raise ConfigError(f"spmcs keeps LR frames inside each clip folder: {where}")
        return SPMCSDataset(root, lr_from_files=lr_from_files, **common)
    if name == "vid4" and lr_from_files and lr_root is None:
        lr_root = root / f"BIx{common['scale']}"
    if lr_from_files and lr_root is None:
        raise ConfigError(f"{name} needs a folder of LR frames: pass {names.lr_root}")
    if name == "vid4":
        return Vid4Dataset(root, lr_root=lr_root, **common)
    return FolderDataset(root, lr_root=lr_root, **common)


def _videos(clips: Sequence[str] | None, max_frames: int, names: OptionNames, **common) -> FramesDataset:
    """The video files (or ``sample:<name>`` clips) in ``clips``, decoded into memory."""
    if not clips:
        raise ConfigError(f"{names.clips} must list the validation videos (paths or sample:<name>)")
    from lgfn.data.train_datasets import resolve_video  # PyAV: needed by video files alone
    from lgfn.media import read_video_frames

    frames = {
        resolve_video(entry).stem: read_video_frames(resolve_video(entry), max_frames or None)
        for entry in clips
    }
    return FramesDataset(frames, name="videos", **common)


def parse_split_lists(entries: Sequence[str]) -> dict[str, Path] | None:
    """``--split-list NAME=FILE`` entries as ``{name: file}`` (``None`` for no entry).

    Raises:
        ConfigError: an entry is not ``NAME=FILE``.
    """
    if not entries:
        return None
    lists = {}
    for entry in entries:
        name, sep, file = entry.partition("=")
        if not sep or not name or not file:
            raise ConfigError(f"--split-list expects NAME=FILE, got {entry!r}")
        lists[name] = Path(file)
    return lists
