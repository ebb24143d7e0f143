"""Make the example figures of docs/evaluation.md: Vid4, bicubic against a checkpoint, in one run.

``test.py`` on a dataset evaluates bicubic or checkpoints; this runs both into one output folder with
the code ``test.py`` uses (:func:`lgfn.evaluation.compare.compare_methods`), so that each figure has
a line or a panel per method, then copies one figure of each kind, shrunk, into ``docs/figures/``::

    python scripts/doc_figures.py --data-root ../shared/data/Vid4 --max-frames 5
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image

from lgfn.cli.evaluate import REPO, build_dataset, build_parser, build_resolvers
from lgfn.evaluation.compare import compare_methods
from lgfn.inference import BicubicUpscaler

#: The docs' copies are at most this wide (pixels).
DOC_WIDTH = 1100
#: The figures docs/evaluation.md shows, one of each kind, copied as ``vid4_<name>``.
DOC_FIGURES = ("per_frame_psnr.png", "comparison_calendar.png")


def main(argv: list[str] | None = None) -> int:
    """Run the comparison and copy its figures; ``argv`` as ``test.py``'s (vid4 is added)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=Path, default=REPO / "docs" / "figures", help="where the copies go")
    known, rest = parser.parse_known_args(argv)
    args = build_parser().parse_args(["--dataset", "vid4", "--no-progress", *rest])
    checkpoint = args.ckpt[0] if args.ckpt else REPO / "checkpoints" / "lgfn_x4_demo.pth"
    resolvers, protocols = build_resolvers(args, {"lgfn": checkpoint})
    dataset = build_dataset(args, resolvers["lgfn"].scale)
    out = args.out or REPO / "results" / "vid4_doc_figures"
    reports = compare_methods(
        dataset,
        {"bicubic": BicubicUpscaler(dataset.scale), **resolvers},
        out_dir=out,
        labels={"bicubic": "Bicubic", "lgfn": "LGFN (demo)"},
        protocols=protocols,
        progress=False,
    )
    assert all(f"../{name}" in reports[0]["figures"] for name in DOC_FIGURES), reports[0]["figures"]
    copy_for_docs(out, known.docs)
    return 0


def copy_for_docs(out: Path, docs: Path) -> None:
    """Copy :data:`DOC_FIGURES` from ``out`` to ``docs`` as ``vid4_<name>``: at most
    :data:`DOC_WIDTH` wide, 256 colours (a fraction of the size, no visible loss at that size)."""
    docs.mkdir(parents=True, exist_ok=True)
    for name in DOC_FIGURES:
        with Image.open(out / name) as figure:
            image = figure.convert("RGB")
        if image.width > DOC_WIDTH:
            image = image.resize((DOC_WIDTH, round(image.height * DOC_WIDTH / image.width)), Image.LANCZOS)
        image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(docs / f"vid4_{name}", optimize=True)
        print(docs / f"vid4_{name}")


if __name__ == "__main__":
    sys.exit(main())
