"""The reference ERQA scores that tests/evaluation/test_erqa.py expects, computed with the ``erqa``
package itself (1.1.2) on real Vid4 frames.

The package needs the GUI build of OpenCV, which cannot sit beside the project's headless one, so
install it without its dependencies into a scratch folder and run this script with that folder on
the path (the headless ``cv2`` has everything it uses):

    pip install --no-deps --target /tmp/erqa-pkg erqa==1.1.2
    PYTHONPATH=/tmp/erqa-pkg:. python scripts/erqa_reference.py ../shared/data/Vid4/GT

It prints ``{(case, version): score}`` for :data:`CASES` (see :func:`case_frames`), the values the
test keeps.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from lgfn.data.degradations import bi_degrade, bicubic_upscale
from lgfn.data.io import read_image

#: ``(clip, frame index, what is compared with the ground truth)``.
CASES = (
    ("calendar", 10, "bicubic"),
    ("city", 5, "bicubic"),
    ("foliage", 0, "bicubic"),
    ("walk", 46, "bicubic"),
    ("calendar", 10, "shifted"),
    ("walk", 20, "shifted_bicubic"),
    ("calendar", 10, "opencv_bicubic"),
)
VERSIONS = ("1.0", "1.1")


def shifted(frame: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``frame`` moved ``dy`` pixels down and ``dx`` right, the uncovered side repeating its edge."""
    h, w = frame.shape[:2]
    rows = np.clip(np.arange(h) - dy, 0, h - 1)
    cols = np.clip(np.arange(w) - dx, 0, w - 1)
    return frame[rows][:, cols]


def case_frames(gt_root: Path, clip: str, index: int, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """The ``(test frame, ground truth)`` of one case, both ``(h, w, 3)`` uint8 RGB.

    ``bicubic``: BI x4 down and MATLAB bicubic x4 up (lgfn.data.degradations); ``shifted``: the
    ground truth moved 2 down and 1 left; ``shifted_bicubic``: the bicubic frame moved 1 up and 1 right;
    ``opencv_bicubic``: x4 down and up with OpenCV's bicubic (``cv2.resize``, no antialiasing).
    """
    gt = read_image(gt_root / clip / f"{index:08d}.png")
    if kind == "shifted":
        return shifted(gt, 2, -1), gt
    if kind == "opencv_bicubic":
        h, w = gt.shape[:2]
        lr = cv2.resize(gt, (w // 4, h // 4), interpolation=cv2.INTER_CUBIC)
        return cv2.resize(lr, (w, h), interpolation=cv2.INTER_CUBIC), gt
    sr = bicubic_upscale(bi_degrade(gt, 4), 4)
    if kind == "shifted_bicubic":
        sr = shifted(sr, -1, 1)
    return sr, gt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("gt_root", type=Path, help="Vid4 ground truth, one folder of frames per clip")
    args = parser.parse_args(argv)
    from erqa import ERQA  # the package (see the module docstring)

    scores = {}
    for clip, index, kind in CASES:
        sr, gt = case_frames(args.gt_root, clip, index, kind)
        for version in VERSIONS:
            # The package reads frames with cv2.imread: BGR.
            score = ERQA(version=version)(
                np.ascontiguousarray(sr[..., ::-1]), np.ascontiguousarray(gt[..., ::-1])
            )
            scores[(f"{clip}/{index}/{kind}", version)] = float(score)
    for key, score in scores.items():
        print(f"    {key!r}: {score!r},")
    return 0


if __name__ == "__main__":
    sys.exit(main())
