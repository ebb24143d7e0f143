"""The run folder that rank 0 keeps: the log, the resolved config and git revision, the metrics
(JSON Lines, CSV, TensorBoard) and the checkpoints::

    RUN/
      lock               the process id of the run training in it, while it runs
      config.yaml        the resolved configuration (loads with -c)
      git_revision.txt   the code's git revision ("unknown" outside a repository)
      train.log          the log
      metrics.jsonl      one JSON object per training log line and per validation
      validation.csv     iteration, epoch, psnr, ssim of every validation
      tensorboard/       loss, learning rate, speed, PSNR, SSIM, SR | GT crops
      latest.pth         everything needed to resume (--resume)
      iter_<n>.pth       the last ``train.keep_last`` resumable checkpoints (optional)
      best.pth           the weights with the best validation PSNR
      final.pth          the weights at the end

Every file is written so that a run killed at any moment leaves complete files behind: checkpoints
and rewritten records are replaced atomically (:mod:`lgfn.files`), metrics lines are pushed to the
disk as they are appended, and a resumed run first drops the records an interrupted run wrote past
its last checkpoint.
"""

from __future__ import annotations

import csv
import json
import logging
import logging.handlers
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from torch import nn

import lgfn
from lgfn.checkpoint import save_checkpoint
from lgfn.config import ExperimentConfig, save_config
from lgfn.errors import ConfigError
from lgfn.files import append_jsonl, atomic_write, atomic_write_text
from lgfn.locks import LOCK_FILE, holds_lock, release_lock, take_lock

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter

LATEST = "latest.pth"
BEST = "best.pth"
FINAL = "final.pth"
#: Files that only a run folder holds beside its ``config.yaml``.
RUN_MARKERS = ("git_revision.txt", LATEST)
#: The columns of ``validation.csv``.
VALIDATION_FIELDS = ("iteration", "epoch", "psnr", "ssim")
#: The training record's values that TensorBoard plots, under ``train/<name>``.
_TRAIN_SCALARS = ("loss", "lr", "it_per_s", "epoch", "skipped_steps")
#: Entries of a training record that hold one value per alignment stage (TensorBoard: ``.../stage<k>``).
_STAGE_SCALARS = ("offset_abs_mean", "mask_mean")


def default_run_folder(config_path: Path, config: ExperimentConfig) -> Path:
    """Where ``train.py -c CONFIG`` trains without ``--out``: ``runs/<config name>``, except that a
    run folder's own ``config.yaml`` (beside its ``git_revision.txt`` or ``latest.pth``) means that
    run folder, so ``train.py -c runs/x/config.yaml --resume`` continues ``runs/x`` (the experiment
    then takes the folder's name)."""
    folder = config_path.parent
    if config_path.name == "config.yaml" and any((folder / name).exists() for name in RUN_MARKERS):
        config.name = folder.absolute().name
        return folder
    return Path("runs") / config.name


def git_revision() -> str:
    """``git rev-parse HEAD`` of the package's source tree, or ``"unknown"``."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(lgfn.__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return result.stdout.strip() or "unknown"


class RunRecord:
    """The run folder of one training run, kept by rank 0 (see the module docstring).

    Open it with :meth:`create` (which locks it) and start writing it with :meth:`begin` once the
    run's checks have passed; the constructor only stores what that made. :meth:`close` detaches
    the log file, closes TensorBoard and unlocks the folder.

    Args:
        run_dir: the run folder.
        config: the resolved experiment (``config.yaml``; ``train.keep_last`` checkpoints to keep).
        log_handler: the handler holding the package's log records until :meth:`begin` sends them,
            and the later ones, to ``train.log``; attached to the ``lgfn`` logger.
        previous_level: the ``lgfn`` logger's level before the handler was attached.
    """

    def __init__(
        self,
        run_dir: Path,
        config: ExperimentConfig,
        log_handler: logging.handlers.MemoryHandler,
        previous_level: int,
    ) -> None:
        self.run_dir = run_dir
        self.config = config
        self.keep_last = config.train.keep_last
        self._log_handler: logging.Handler = log_handler
        self._previous_level = previous_level
        self._writer: SummaryWriter | None = None  # TensorBoard, once open_tensorboard is called

    @classmethod
    def create(cls, run_dir: Path, config: ExperimentConfig, resume: bool) -> RunRecord:
        """Make (or reopen) the run folder and lock it for this process (:data:`~lgfn.locks.LOCK_FILE`
        holds its pid until :meth:`close`); the package's log is held back until :meth:`begin`.

        Nothing else is written, so a run refused by a later check (a resume that does not fit)
        leaves the folder as it was.

        Args:
            run_dir: the run folder (created with its parents).
            config: the resolved experiment.
            resume: the run continues the one in ``run_dir``.

        Raises:
            ConfigError: the folder cannot be made, another live process trains in it, or it holds
                a run and ``resume`` is false.
        """
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # a file in the way, or no permission
            raise ConfigError(f"cannot make the run folder {run_dir}: {exc.strerror}") from None
        lock = run_dir / LOCK_FILE
        if holds_lock(lock):  # a second trainer of this process (the lock would let it in)
            raise ConfigError(f"the run folder {run_dir} is in use by another trainer of this process")
        try:
            holder = take_lock(lock)
        except OSError as exc:
            raise ConfigError(f"cannot write to the run folder {run_dir}: {exc.strerror}") from None
        if holder is not None:
            raise ConfigError(
                f"the run folder {run_dir} is in use by another training run (process {holder}); wait "
                "for it or stop it first, or pass --out to train into another folder"
            )
        if (run_dir / LATEST).exists() and not resume:
            release_lock(lock)
            raise ConfigError(
                f"{run_dir} already holds a training run ({LATEST}); pass --resume to continue it "
                "or --out to train into another folder"
            )
        # The package's records go to train.log at INFO whatever the console shows; until the run's
        # checks have passed they wait in memory (the capacity is never reached in that time).
        held = logging.handlers.MemoryHandler(capacity=1 << 20, flushLevel=logging.CRITICAL + 1)
        held.setLevel(logging.INFO)
        package_logger = logging.getLogger("lgfn")
        record = cls(run_dir, config, held, package_logger.level)
        package_logger.addHandler(held)
        if package_logger.getEffectiveLevel() > logging.INFO:
            package_logger.setLevel(logging.INFO)
        return record

    def begin(self, iteration: int = 0) -> None:
        """Start writing the run folder, once every check has passed: ``config.yaml``,
        ``git_revision.txt``, ``train.log`` (from the records held back since :meth:`create`), and
        for a resumed run the records an interrupted run wrote after ``iteration`` dropped."""
        save_config(self.config, self.run_dir / "config.yaml")
        atomic_write_text(self.run_dir / "git_revision.txt", git_revision() + "\n")
        log_file = logging.FileHandler(self.run_dir / "train.log")
        log_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s: %(message)s"))
        log_file.setLevel(logging.INFO)
        held, package_logger = self._log_handler, logging.getLogger("lgfn")
        package_logger.addHandler(log_file)
        package_logger.removeHandler(held)
        held.setTarget(log_file)
        held.close()  # hands the held records to train.log
        self._log_handler = log_file
        if iteration:
            self.drop_records_after(iteration)

    @property
    def latest(self) -> Path:
        """The resumable checkpoint."""
        return self.run_dir / LATEST

    @property
    def final(self) -> Path:
        """The weights at the end."""
        return self.run_dir / FINAL

    # -- metrics ---------------------------------------------------------------------------------

    def drop_records_after(self, iteration: int) -> None:
        """Drop the metrics an interrupted run wrote after ``iteration``, its last checkpoint
        (``metrics.jsonl`` lines cut short by the interruption go too); files are replaced atomically."""
        jsonl = self.run_dir / "metrics.jsonl"
        if jsonl.exists():
            kept = []
            for line in jsonl.read_text().splitlines():
                try:
                    if json.loads(line)["iteration"] <= iteration:
                        kept.append(line)
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut short by the interruption
            atomic_write_text(jsonl, "".join(line + "\n" for line in kept))
        table = self.run_dir / "validation.csv"
        if table.exists():
            with table.open(newline="") as f:
                rows = list(csv.DictReader(f))
            fields = list(rows[0]) if rows else list(VALIDATION_FIELDS)
            kept_rows = [row for row in rows if int(row["iteration"]) <= iteration]
            atomic_write(table, lambda temporary: _write_csv(temporary, fields, kept_rows))

    def open_tensorboard(self, iteration: int) -> None:
        """Start writing TensorBoard events under ``tensorboard/``, dropping the events an interrupted
        run wrote after ``iteration`` (the iteration the run starts from)."""
        from torch.utils.tensorboard import SummaryWriter  # slow to import; only when asked for

        self._writer = SummaryWriter(
            self.run_dir / "tensorboard", purge_step=iteration + 1 if iteration else None
        )

    def log_training(self, record: Mapping[str, Any]) -> None:
        """Append a training record (``kind``, ``iteration``, ``epoch``, ``loss`` or ``None``, ``lr``,
        ``it_per_s``, ``skipped_steps``, and per alignment stage ``offset_abs_mean`` and ``mask_mean``
        lists) to ``metrics.jsonl`` and TensorBoard."""
        append_jsonl(self.run_dir / "metrics.jsonl", dict(record))
        if self._writer is not None:
            for name in _TRAIN_SCALARS:
                if record[name] is not None:
                    self._writer.add_scalar(f"train/{name}", record[name], record["iteration"])
            for name in _STAGE_SCALARS:
                for stage, value in enumerate(record.get(name) or []):
                    if value is not None:
                        self._writer.add_scalar(f"train/{name}/stage{stage}", value, record["iteration"])

    def log_validation(
        self, record: Mapping[str, Any], clips: Mapping[str, Any], images: Sequence[tuple[str, np.ndarray]]
    ) -> None:
        """Append a validation's scores to ``metrics.jsonl``, ``validation.csv`` and TensorBoard.

        Args:
            record: ``iteration``, ``epoch``, ``psnr``, ``ssim`` (the columns of ``validation.csv``).
            clips: the evaluator's per-clip report, kept in ``metrics.jsonl``.
            images: ``(name, (h, w, 3) uint8)`` images for TensorBoard, under ``val/<name>``.
        """
        append_jsonl(self.run_dir / "metrics.jsonl", {"kind": "val", **record, "clips": clips})
        _append_csv(self.run_dir / "validation.csv", record)
        if self._writer is not None:
            self._writer.add_scalar("val/psnr", record["psnr"], record["iteration"])
            self._writer.add_scalar("val/ssim", record["ssim"], record["iteration"])
            for name, image in images:
                self._writer.add_image(f"val/{name}", image, record["iteration"], dataformats="HWC")
            self._writer.flush()

    # -- checkpoints -----------------------------------------------------------------------------

    def save_latest(self, model: nn.Module, state: Mapping[str, Any], iteration: int) -> None:
        """Write ``latest.pth``, and an ``iter_<n>.pth`` copy when ``keep_last`` > 0 (older copies
        beyond the last ``keep_last`` are deleted)."""
        save_checkpoint(self.latest, model, state)
        if self.keep_last:
            _link_or_copy(self.latest, self.run_dir / f"iter_{iteration:08d}.pth")
            for old in sorted(self.run_dir.glob("iter_*.pth"))[: -self.keep_last]:
                old.unlink()

    def save_best(self, model: nn.Module, extra: Mapping[str, Any]) -> None:
        """Write ``best.pth``: the weights with the best validation score so far."""
        save_checkpoint(self.run_dir / BEST, model, extra)

    def save_final(self, model: nn.Module, extra: Mapping[str, Any]) -> None:
        """Write ``final.pth``: the weights at the end."""
        save_checkpoint(self.final, model, extra)

    def close(self, remove: Path | None = None) -> None:
        """Close TensorBoard, detach ``train.log`` (the ``lgfn`` logger gets its level back) and give
        the run folder back (its lock removed).

        Args:
            remove: a folder this run made (the run folder or one above it), removed instead, lock
                and all, when the run fails before it starts.
        """
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        package_logger = logging.getLogger("lgfn")
        package_logger.removeHandler(self._log_handler)
        package_logger.setLevel(self._previous_level)
        if isinstance(self._log_handler, logging.handlers.MemoryHandler):
            self._log_handler.setTarget(None)  # never begun: the held records stay on the console only
        self._log_handler.close()
        if remove is not None:
            shutil.rmtree(remove, ignore_errors=True)  # while locked: no other run has it meanwhile
        release_lock(self.run_dir / LOCK_FILE)


def _link_or_copy(source: Path, target: Path) -> None:
    """Give ``source``'s complete contents a second name atomically (hard link, else a copy)."""

    def link(temporary: Path) -> None:
        temporary.unlink()  # the atomic writer's empty placeholder: the link takes its name
        try:
            temporary.hardlink_to(source)
        except OSError:
            shutil.copyfile(source, temporary)

    atomic_write(target, link)


def _append_csv(path: Path, record: Mapping[str, Any]) -> None:
    new = not path.exists()
    with path.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(record))
        if new:
            writer.writeheader()
        writer.writerow(record)


def _write_csv(path: Path, fields: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(fields))
        writer.writeheader()
        writer.writerows(rows)
