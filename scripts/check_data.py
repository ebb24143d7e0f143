"""Check that a benchmark is unpacked where ``test.py`` looks for it: count its clips and frames (no
frame is decoded; their headers are read, and a grey or 16-bit frame, which ``test.py`` would refuse,
is an error naming it) and compare them with the published dataset (data/README.md says where each
comes from).

python scripts/check_data.py vid4                      # data/Vid4: 4 clips, 41/34/49/47 frames
python scripts/check_data.py spmcs --data-root /datasets/SPMCS
python scripts/check_data.py vimeo90k                  # data/vimeo_septuplet: 7,824 septuplets
python scripts/check_data.py folder --data-root my_clips

Exit status 0 when the counts match (or, for ``folder``, when every clip has frames), 1 when they
differ, 2 when the data are missing or a frame is not 8-bit RGB (one ``error:`` line).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lgfn.cli.console import run_main
from lgfn.evaluation.datasets import DEFAULT_ROOTS, build_eval_dataset

REPO = Path(__file__).resolve().parents[1]
#: The published datasets: clip count and frames per clip (``None``: not checked clip by clip).
PUBLISHED = {
    "vid4": (4, {"calendar": 41, "city": 34, "foliage": 49, "walk": 47}),
    "spmcs": (30, None),
    "vimeo90k": (7824, None),
}
#: Frames in every clip where the count is the same for all (Vimeo-90K's septuplets).
FRAMES_PER_CLIP = {"vimeo90k": 7}


def count_frames(name: str, root: Path) -> dict[str, int]:
    """``{clip: frame count}`` of the dataset ``name`` under ``root``, in evaluation order."""
    dataset = build_eval_dataset(name, root, 4, score="all")
    return {clip.key: len(clip.gt_paths) for clip in dataset.clips}


def differences(name: str, counts: dict[str, int]) -> list[str]:
    """How ``counts`` differ from the published dataset ``name`` (empty: they match)."""
    if name not in PUBLISHED:
        return []
    clips, frames = PUBLISHED[name]
    found = [] if len(counts) == clips else [f"{len(counts)} clips, expected {clips}"]
    expected = frames or dict.fromkeys(counts, FRAMES_PER_CLIP.get(name))
    for clip, count in expected.items():
        if count is not None and counts.get(clip) != count:
            found.append(f"{clip}: {counts.get(clip, 'no')} frames, expected {count}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("dataset", choices=("vid4", "spmcs", "vimeo90k", "folder"))
    parser.add_argument("--data-root", type=Path, help="the dataset's folder (default: data/Vid4, ...)")
    args = parser.parse_args(argv)
    root = args.data_root or (REPO / DEFAULT_ROOTS[args.dataset] if args.dataset in DEFAULT_ROOTS else None)
    counts = count_frames(args.dataset, root)
    if len(counts) <= 50:
        for clip, count in counts.items():
            print(f"{clip:24} {count:6d} frames")
    print(f"{root}: {len(counts)} clips, {sum(counts.values())} frames")
    problems = differences(args.dataset, counts)
    for problem in problems[:20]:
        print(f"differs from the published {args.dataset}: {problem}")
    if not problems and args.dataset in PUBLISHED:
        print(f"matches the published {args.dataset}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(run_main(main))
