"""Where an evaluation writes: its output folder, kept apart from its inputs and locked while it runs.

An evaluation writes, in each method's folder (``--out``, or ``--out/<method>`` for several),
``metrics.json``, ``per_frame.csv``, ``settings.json``, ``partial.jsonl`` and with ``--save-images``
the tree ``images/``; the top folder holds the ``lock`` and the figures
(:mod:`lgfn.evaluation.figures`; for the sample also the side-by-side picture). :func:`check_apart`
refuses an output folder inside an input (the data, a checkpoint...) and an input where one of
those files or the image tree would land. :func:`claimed_output` locks
the top folder for one run at a time, with the lock of ``lgfn upscale``'s work folders
(:func:`lgfn.media.workfolder.lock_work_folder`: a live process's lock refuses the folder, a dead
one's is taken over).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path

from lgfn.distributed import DistributedContext
from lgfn.errors import ConfigError
from lgfn.evaluation.evaluator import IMAGE_FOLDER
from lgfn.evaluation.figures import COMPARISON_PREFIX, CURVE_FILES
from lgfn.evaluation.report import PER_FRAME_FILE, REPORT_FILE
from lgfn.evaluation.resume import PARTIAL_FILE, SETTINGS_FILE
from lgfn.evaluation.sharding import decided_on_main
from lgfn.files import lies_within
from lgfn.media.workfolder import LOCK_FILE, lock_work_folder, unlock_work_folder

#: The files an evaluation writes in each method's folder.
OUTPUT_FILES = (REPORT_FILE, PER_FRAME_FILE, SETTINGS_FILE, PARTIAL_FILE)
#: An input to keep apart from the outputs: ``(what names it for the user, its path or None)``.
Input = tuple[str, "Path | None"]


def check_apart(
    out: Path, method_dirs: Sequence[Path], inputs: Sequence[Input], images: bool, files: Sequence[str] = ()
) -> None:
    """Refuse outputs that would land inside an input or on one.

    Args:
        out: the output folder the user named.
        method_dirs: the folders the methods' reports go to (``out`` itself for one method).
        inputs: what the evaluation reads, e.g. ``("--data-root", path)``; ``None`` paths are skipped.
        images: the super-resolved frames are written (``images/`` in each method's folder).
        files: further files written in ``out`` (the sample's picture).

    Raises:
        ConfigError: ``out`` or a method's folder is an input or lies inside one; an input is one of
            the files written, or lies inside the image tree.
    """
    folders = [out, *method_dirs]
    written = [(out / name, False) for name in (LOCK_FILE, *CURVE_FILES.values(), *files)]
    for folder in method_dirs:
        written += [(folder / name, False) for name in OUTPUT_FILES]
        written += [(folder / IMAGE_FOLDER, True)] if images else []
    for name, path in inputs:
        if path is None:
            continue
        source = path.resolve()
        if source.parent == out.resolve() and source.name.startswith(COMPARISON_PREFIX):
            raise ConfigError(
                f"{name} {path} lies where the evaluation writes its figures; pass another --out"
            )
        for folder in folders:
            if lies_within(folder, source):
                raise ConfigError(
                    f"--out {out}: the results would be written into {name} {path}, which the evaluation "
                    "reads; pass an --out outside it"
                )
        for target, tree in written:
            # A folder the evaluation fills (images/) may not hold an input; a file may not be one.
            on_output = lies_within(source, target) if tree else source == target.resolve()
            if on_output:
                raise ConfigError(
                    f"{name} {path} lies where the evaluation writes ({target}); pass another --out"
                )


@contextlib.contextmanager
def claimed_output(
    out: Path,
    method_dirs: Sequence[Path],
    inputs: Sequence[Input],
    images: bool,
    context: DistributedContext,
    files: Sequence[str] = (),
) -> Iterator[None]:
    """While active, ``out`` is this run's: checked (:func:`check_apart`), made and locked by rank 0.

    A folder this made stays only if something was written into it. The other processes wait for
    rank 0's outcome and raise its refusal too, so that none waits for the others (torchrun).

    Raises:
        ConfigError: see :func:`check_apart`; ``out`` cannot be made.
        LGFNError: another live run holds ``out``.
    """

    def claim() -> bool:
        check_apart(out, method_dirs, inputs, images, files)
        made = not out.exists()
        try:
            out.mkdir(parents=True, exist_ok=True)
            lock_work_folder(out, out)
        except OSError as exc:  # a file in the way, or no permission
            raise ConfigError(f"cannot make the output folder {out}: {exc.strerror}") from None
        return made

    made = decided_on_main(claim if context.is_main else None, context)
    try:
        yield
    finally:
        if context.is_main:
            with contextlib.suppress(OSError):
                unlock_work_folder(out)
                if made:
                    out.rmdir()  # only when empty: a refusal after the claim leaves no folder behind
