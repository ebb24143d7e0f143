"""GPU-machine side of scripts/gpu_demo_run.sh: unpack the carried training clips.

    python scripts/gpu_demo_data.py .gpu/data work/demo_train work/demo_train_lq

SRC holds clip folders of lossless WebP frames and MP4 clips (decoded with OpenCV, since PyAV is
not on that machine); each frame becomes an 8-bit RGB PNG in HR_ROOT/<clip>/ and its BI x4 LR
frame (MATLAB bicubic) in LQ_ROOT/<clip>/, on 16 processes.
"""

from __future__ import annotations

import sys
from multiprocessing import Pool
from pathlib import Path

import cv2

from lgfn.data.degradations import bi_degrade
from lgfn.data.io import write_image


def job(args):
    image_bgr, clip, name, hr_root, lq_root = args
    rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
    write_image(hr_root / clip / f"{name}.png", rgb)
    write_image(lq_root / clip / f"{name}.png", bi_degrade(rgb, 4))
    return 1


def frames(src: Path, hr_root: Path, lq_root: Path):
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


def main() -> None:
    src, hr_root, lq_root = (Path(a) for a in sys.argv[1:4])
    with Pool(16) as pool:
        n = sum(pool.imap_unordered(job, frames(src, hr_root, lq_root), chunksize=4))
    print(f"{n} frames in {len(list(hr_root.iterdir()))} clips")


if __name__ == "__main__":
    main()
