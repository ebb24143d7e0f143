"""The run folder that rank 0 keeps: the log, the resolved config and git revision, the metrics
(JSON Lines, CSV, TensorBoard) and the checkpoints::

    RUN/
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

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter

LATEST = "latest.pth"
BEST = "best.pth"
FINAL = "final.pth"
#: The columns of ``validation.csv``.
VALIDATION_FIELDS = ("iteration", "epoch", "psnr", "ssim")
#: The training record's values that TensorBoard plots, under ``train/<name>``.
_TRAIN_SCALARS = ("loss", "lr", "it_per_s", "epoch", "skipped_steps")
#: Entries of a training record that hold one value per alignment stage (TensorBoard: ``.../stage<k>``).
_STAGE_SCALARS = ("offset_abs_mean", "mask_mean")


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

    Open it with :meth:`create`; the constructor only stores what that made. :meth:`close` detaches
    the log file and closes TensorBoard.

    Args:
        run_dir: the run folder.
        log_handler: the handler writing ``train.log``, attached to the ``lgfn`` logger.
        previous_level: the ``lgfn`` logger's level before the handler was attached.
        keep_last: how many ``iter_<n>.pth`` checkpoints to keep (0: none).
    """

    def __init__(
        self, run_dir: Path, log_handler: logging.Handler, previous_level: int, keep_last: int
    ) -> None:
        self.run_dir = run_dir
        self.keep_last = keep_last
        self._log_handler = log_handler
        self._previous_level = previous_level
        self._writer: SummaryWriter | None = None  # TensorBoard, once open_tensorboard is called

    @classmethod
    def create(cls, run_dir: Path, config: ExperimentConfig, resume: bool) -> RunRecord:
        """Make (or reopen) the run folder, send the package's log to ``train.log`` and write
        ``config.yaml`` and ``git_revision.txt``.

        Args:
            run_dir: the run folder (created with its parents).
            config: the resolved experiment.
            resume: the run continues the one in ``run_dir``.

        Raises:
            ConfigError: the folder cannot be made, or it holds a run and ``resume`` is false.
        """
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # a file in the way, or no permission
            raise ConfigError(f"cannot make the run folder {run_dir}: {exc.strerror}") from None
        if (run_dir / LATEST).exists() and not resume:
            raise ConfigError(
                f"{run_dir} already holds a training run ({LATEST}); pass --resume to continue it "
                "or --out to train into another folder"
            )
        # The package's records go to train.log at INFO whatever the console shows.
        handler = logging.FileHandler(run_dir / "train.log")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s: %(message)s"))
        handler.setLevel(logging.INFO)
        package_logger = logging.getLogger("lgfn")
        record = cls(run_dir, handler, package_logger.level, config.train.keep_last)
        package_logger.addHandler(handler)
        if package_logger.getEffectiveLevel() > logging.INFO:
            package_logger.setLevel(logging.INFO)
        try:
            save_config(config, run_dir / "config.yaml")
            (run_dir / "git_revision.txt").write_text(git_revision() + "\n")
        except BaseException:
            record.close()
            raise
        return record

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

    def close(self) -> None:
        """Close TensorBoard and detach ``train.log`` (the ``lgfn`` logger gets its level back)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        package_logger = logging.getLogger("lgfn")
        package_logger.removeHandler(self._log_handler)
        package_logger.setLevel(self._previous_level)
        self._log_handler.close()


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
