"""The training loop: the paper's recipe, one process or many, with exact resume.

``python train.py -c configs/vimeo_x4.yaml`` (or ``torchrun --nproc_per_node=N train.py ...``)
builds a :class:`Trainer` from an :class:`~lgfn.config.ExperimentConfig` (:meth:`Trainer.build`) and
runs it (:meth:`Trainer.fit`):

- Adam and a step schedule counted in epochs (one epoch = one pass over the training samples,
  ``len(dataset) // global_batch`` iterations), stepped every iteration so a run can stop and
  resume at any iteration; L1 loss (Charbonnier optional); optional gradient clipping; mixed
  precision on CUDA (bf16, or fp16 with a gradient scaler) (:mod:`lgfn.training.optimisation`).
- Several processes (torchrun): DistributedDataParallel, each process loading its slice of every
  global batch (:class:`~lgfn.training.distributed.ShardedEpochSampler`). The config's batch is the
  global batch, so the results do not depend on the number of processes.
- A loss or gradient that is not finite skips the optimiser step on every process (the weights and
  the optimiser state stay as they were), with a warning; skipped steps are counted. A run that
  ends with more than half of its steps skipped (:data:`MAX_SKIPPED_FRACTION`, counted over the
  whole run, resumed parts included) still writes ``final.pth`` but fails: :meth:`Trainer.fit`
  raises an :class:`~lgfn.errors.LGFNError` saying how many steps were skipped, since such weights
  learnt from too little to be trusted (``train.py`` prints it as one ``error:`` line, exit 2).
- Ctrl-C (SIGINT) or SIGTERM (a scheduler's preemption) stops the run after the iteration in
  progress, on every process at the same iteration, and saves ``latest.pth`` there, so ``--resume``
  loses nothing; a second Ctrl-C stops at once (:mod:`lgfn.training.signals`).
- Rank 0 alone writes the run folder (:mod:`lgfn.training.run_record`); ``best.pth`` and
  ``final.pth`` load with :func:`lgfn.load_model`.

Exact resume (:mod:`lgfn.training.resume`): the checkpoint holds the model, optimiser, schedule (and
gradient scaler) states, the iteration, the RNG states and the best score; the data order and every
random crop are functions of (seed, epoch, sample), so a resumed run sees the batches the
uninterrupted run would have seen and ends with the same weights (bit for bit on CPU; on GPUs some
kernels, such as the deformable convolution's backward pass, are not deterministic).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from lgfn import distributed
from lgfn.config import ExperimentConfig
from lgfn.errors import LGFNError
from lgfn.training.datasets import TrainingData
from lgfn.training.offsets import OffsetMonitor
from lgfn.training.optimisation import Optimisation
from lgfn.training.process import TrainingProcess, start_process
from lgfn.training.resume import capture_rng_states, read_resume_checkpoint, restore_rng_states
from lgfn.training.run_record import FINAL, LATEST, RunRecord
from lgfn.training.schedule import warn_unreached_milestones
from lgfn.training.signals import StopRequests
from lgfn.training.validation import score_model

logger = logging.getLogger(__name__)

#: A run whose skipped (non-finite) steps exceed this fraction of its iterations ends as a failure.
MAX_SKIPPED_FRACTION = 0.5


class Trainer:
    """Trains an LGFN as an :class:`~lgfn.config.ExperimentConfig` says (see the module docstring).

    Build it with :meth:`build` (which joins the process group, opens the run folder, prepares the
    data and the network and resumes); the constructor only stores the parts. :meth:`fit` trains to
    the end and closes; :meth:`close` alone releases a trainer that will not train.

    Args:
        config: the experiment.
        run_dir: the run folder.
        process: this process's place, device, global batch and learning rate.
        record: the run folder's writer (rank 0), ``None`` on the other processes.
        data: this process's training data and loader (and rank 0's validation set).
        optimisation: the network, optimiser, schedule and the optimisation step.
        offsets: the alignment's offset statistics (rank 0), ``None`` on the other processes.

    Attributes:
        best: the best validation so far: ``{"psnr", "ssim", "iteration"}``.
        iterations_per_epoch: optimisation steps in one epoch.
        total_iterations: the run's length (``train.iterations``, else ``train.epochs`` epochs).
    """

    def __init__(
        self,
        config: ExperimentConfig,
        run_dir: Path,
        process: TrainingProcess,
        record: RunRecord | None,
        data: TrainingData,
        optimisation: Optimisation,
        offsets: OffsetMonitor | None = None,
    ) -> None:
        self.config = config
        self.run_dir = run_dir
        self.process = process
        self.record = record
        self.data = data
        self.optimisation = optimisation
        self.offsets = offsets
        self.best: dict[str, float] = {"psnr": -math.inf, "ssim": 0.0, "iteration": -1}
        self.iterations_per_epoch = data.sampler.batches_per_epoch
        self.total_iterations = config.train.iterations or config.train.epochs * self.iterations_per_epoch

    @classmethod
    def build(cls, config: ExperimentConfig, run_dir: str | Path, resume: bool = False) -> Trainer:
        """Join the process group, open the run folder, prepare the data and the network and, with
        ``resume``, continue from ``run_dir/latest.pth`` when it exists.

        Args:
            config: the experiment.
            run_dir: the run folder (created).
            resume: continue the run in ``run_dir``.

        Returns:
            A trainer ready to :meth:`fit`.

        Raises:
            ConfigError, CheckpointError, LGFNError: a user error (the config, the data or the
                resumed checkpoint does not pass its checks, or another run trains in ``run_dir``);
                what was opened is closed first, nothing in the run folder was changed (rank 0 writes
                it only once every check has passed) and the folder is removed again if this call
                created it.
        """
        run_dir = Path(run_dir)
        process = start_process(config)
        record = None
        made = _first_missing(run_dir)  # what this run creates, and removes again if it fails here
        try:
            if process.dist.is_main:
                record = RunRecord.create(run_dir, config, resume)
            distributed.barrier(process.dist)
            data = TrainingData.build(
                config, process.dist, process.device, process.global_batch, run_dir / "lq_cache"
            )
            optimisation = Optimisation.build(config, process, data.sampler.batches_per_epoch)
            # Rank 0 logs the offsets of its share of each batch; the other processes keep no hooks.
            offsets = None if record is None else OffsetMonitor(optimisation.model, config.train.offset_warn)
            trainer = cls(config, run_dir, process, record, data, optimisation, offsets)
            if resume:
                trainer._resume()
            distributed.barrier(process.dist)  # every process passed its checks: the run folder changes
            if record is not None:
                record.begin(trainer.iteration)
                if config.log.tensorboard:
                    record.open_tensorboard(trainer.iteration)
        except BaseException:
            if record is not None:  # a folder this run made goes again; another run's is never touched
                record.close(remove=made)
            distributed.shutdown(process.dist)
            raise
        trainer._log_start()
        return trainer

    def _resume(self) -> None:
        """Continue from ``latest.pth`` (when there is one): weights, optimiser, counters, RNG states."""
        path = self.run_dir / LATEST
        state = read_resume_checkpoint(path, self.config)
        if state is None:
            return
        self.optimisation.load_state(state)
        self.best = dict(state.get("best", self.best))
        restore_rng_states(state["rng"])
        logger.info("resumed from %s at iteration %d (epoch %d)", path, self.iteration, self.epoch)

    def _log_start(self) -> None:
        device, dist = self.process.device, self.process.dist
        logger.info(
            "training %s: %d samples, global batch %d over %d process(es), %d iterations per epoch, "
            "%d iterations in all, device %s, precision %s",
            self.config.name, len(self.data.dataset), self.process.global_batch, dist.world_size,
            self.iterations_per_epoch, self.total_iterations, device, self.config.train.precision,
        )  # fmt: skip
        hint = backend_hint(device.type, self.config.model.dcn_backend)
        if hint and dist.is_main:
            logger.info(hint)
        if dist.is_main:
            warn_unreached_milestones(
                self.config.train.lr_milestones, self.iterations_per_epoch, self.total_iterations
            )

    # -- progress --------------------------------------------------------------------------------

    @property
    def iteration(self) -> int:
        """Optimisation steps taken so far (applied or skipped)."""
        return self.optimisation.iteration

    @property
    def skipped_steps(self) -> int:
        """Steps skipped because something was not finite."""
        return self.optimisation.skipped_steps

    @property
    def mostly_skipped(self) -> bool:
        """Whether more than :data:`MAX_SKIPPED_FRACTION` of the steps so far were skipped."""
        return self.skipped_steps > MAX_SKIPPED_FRACTION * self.iteration

    @property
    def epoch(self) -> int:
        """Epochs completed so far, i.e. the 0-based epoch of the next iteration."""
        return self.iteration // self.iterations_per_epoch

    def _due(self, every: int) -> bool:
        """Whether an action done every ``every`` iterations (0: never) is due now."""
        return bool(every) and self.iteration % every == 0

    # -- the loop --------------------------------------------------------------------------------

    def fit(self) -> Path:
        """Train to the end, validating and saving as configured, then :meth:`close`.

        Returns:
            The path of ``final.pth``.

        Raises:
            LGFNError: more than :data:`MAX_SKIPPED_FRACTION` of the steps were skipped as not
                finite (``final.pth`` is written all the same).
        """
        try:
            self._train()
            if self.mostly_skipped:
                raise LGFNError(
                    f"{self.skipped_steps} of {self.iteration} optimisation steps were skipped as not "
                    f"finite (loss, gradient or input); the weights in {self.run_dir / FINAL} are not "
                    "trustworthy: lower train.lr or check the training data (warnings in train.log)"
                )
            return self.run_dir / FINAL
        finally:
            self.close()

    def _train(self) -> None:
        main = self.process.dist.is_main
        bar = tqdm(
            total=self.total_iterations,
            initial=self.iteration,
            unit="it",
            dynamic_ncols=True,
            disable=not (main and self.config.log.progress),
            desc=self.config.name,
        )
        window = _LogWindow()
        with bar, logging_redirect_tqdm(), StopRequests() as stop:
            while self.iteration < self.total_iterations:
                self.data.sampler.set_epoch(self.epoch, self.iteration % self.iterations_per_epoch)
                for batch in self.data.batches():
                    loss, applied = self.optimisation.step(batch)
                    bar.update(1)
                    window.add(loss, applied)
                    if applied:
                        bar.set_postfix(loss=f"{loss:.4f}", lr=f"{self.optimisation.lr:.2e}", refresh=False)
                    if self.iteration % self.config.log.every == 0:
                        self._log_training(*window.summary())
                        window = _LogWindow()
                    done = self.iteration >= self.total_iterations
                    if done or self._due(self.config.val.every):
                        # Speed counts training only.
                        window.exclude(_seconds(partial(self._validate_keeping_the_weights, done)))
                    saved = done or self._due(self.config.train.save_every)
                    if saved:
                        self.save()
                    if done:
                        break
                    # Every process stops at the same iteration (one all-reduce when distributed).
                    if distributed.any_process(
                        stop.requested is not None, self.process.dist, self.process.device
                    ):
                        self._stop_and_save(saved)
        self._save_final()

    def _validate_keeping_the_weights(self, done: bool) -> None:
        """:meth:`validate`; should it fail (files gone, a bug), the training is saved first
        (``latest.pth``, and ``final.pth`` at the end) and the error is raised after."""
        try:
            self.validate()
        except Exception:
            if self.record is not None:
                self.record.save_latest(self.optimisation.model, self.checkpoint_state(), self.iteration)
                saved = [self.record.latest]
                if done:
                    self.record.save_final(self.optimisation.model, self._final_state())
                    saved.append(self.record.final)
                logger.error(
                    "validation failed at iteration %d; the training is kept in %s (--resume continues)",
                    self.iteration, " and ".join(str(path) for path in saved),
                )  # fmt: skip
            raise

    def _stop_and_save(self, saved: bool) -> None:
        """Save ``latest.pth`` at the iteration just finished (unless ``saved`` already) and leave as
        Ctrl-C does (exit status 130)."""
        if not saved:
            self.save()
        if self.record is not None:
            logger.warning(
                "stopped at iteration %d of %d; %s is saved: run the same command with --resume to continue",
                self.iteration, self.total_iterations, self.record.latest,
            )  # fmt: skip
        raise KeyboardInterrupt

    def _log_training(self, loss: float | None, speed: float) -> None:
        """Log the mean loss of the applied steps (``None`` if all were skipped), iterations/s and the
        alignment's offset and mask means per stage since the last line."""
        if self.record is None:
            return
        self.record.log_training(
            {
                "kind": "train",
                "iteration": self.iteration,
                "epoch": self.epoch,
                "loss": loss,
                "lr": self.optimisation.lr,
                "it_per_s": speed,
                "skipped_steps": self.skipped_steps,
                **(self.offsets.summary(self.iteration) if self.offsets is not None else {}),
            }
        )

    # -- validation and checkpoints --------------------------------------------------------------

    def validate(self) -> dict[str, Any] | None:
        """Evaluate the current weights on the validation set (rank 0); keep ``best.pth``.

        Returns:
            The evaluator's report on rank 0 (``None`` elsewhere or without validation).
        """
        report = None
        if self.record is not None and self.data.val_dataset is not None:
            model = self.optimisation.model
            report, crops = score_model(
                model,
                self.data.val_dataset,
                self.process.device,
                self.config.val.precision,
                self.config.log.images,
            )
            psnr, ssim = report["average"]["psnr"], report["average"]["ssim"]
            improved = psnr > self.best["psnr"]
            if improved:
                self.best = {"psnr": psnr, "ssim": ssim, "iteration": self.iteration}
                extra = {
                    "iteration": self.iteration,
                    "psnr": psnr,
                    "ssim": ssim,
                    "config": self.config.to_dict(),
                }
                self.record.save_best(model, extra)
            logger.info(
                "iteration %d: validation PSNR %.2f dB, SSIM %.4f%s",
                self.iteration, psnr, ssim, " (best so far)" if improved else "",
            )  # fmt: skip
            scores = {"iteration": self.iteration, "epoch": self.epoch, "psnr": psnr, "ssim": ssim}
            self.record.log_validation(scores, report["clips"], crops)
        distributed.barrier(self.process.dist)
        return report

    def checkpoint_state(self) -> dict[str, Any]:
        """Everything beyond the weights that resuming needs (loadable with ``weights_only``)."""
        return {
            **self.optimisation.state_dict(),
            "iteration": self.iteration,
            "epoch": self.epoch,
            "skipped_steps": self.skipped_steps,
            "best": dict(self.best),
            "rng": capture_rng_states(),
            "config": self.config.to_dict(),
            "world_size": self.process.dist.world_size,
        }

    def save(self) -> None:
        """Write ``latest.pth`` (rank 0), and an ``iter_<n>.pth`` copy when ``train.keep_last`` > 0."""
        if self.record is not None:
            self.record.save_latest(self.optimisation.model, self.checkpoint_state(), self.iteration)
        distributed.barrier(self.process.dist)

    def _final_state(self) -> dict[str, Any]:
        """What ``final.pth`` holds beside the weights."""
        return {
            "iteration": self.iteration,
            "config": self.config.to_dict(),
            "skipped_steps": self.skipped_steps,
        }

    def _save_final(self) -> None:
        if self.record is not None:
            self.record.save_final(self.optimisation.model, self._final_state())
            if not self.mostly_skipped:
                logger.info(
                    "done: %d iterations, %d skipped steps; final weights in %s",
                    self.iteration, self.skipped_steps, self.record.final,
                )  # fmt: skip
        distributed.barrier(self.process.dist)

    def close(self) -> None:
        """Stop the loader's workers, flush TensorBoard, detach the log file and leave the process
        group."""
        self.data.close()
        if self.offsets is not None:
            self.offsets.close()
        if self.record is not None:
            self.record.close()
        distributed.shutdown(self.process.dist)


@dataclass
class _LogWindow:
    """The iterations since the last training log line: what the next line reports."""

    loss: float = 0.0
    applied: int = 0
    iterations: int = 0
    start: float = field(default_factory=time.perf_counter)

    def add(self, loss: float, applied: bool) -> None:
        """Count one iteration, and its loss when its step was applied."""
        self.iterations += 1
        if applied:
            self.loss, self.applied = self.loss + loss, self.applied + 1

    def exclude(self, seconds: float) -> None:
        """Leave ``seconds`` spent on something else than training out of the speed."""
        self.start += seconds

    def summary(self) -> tuple[float | None, float]:
        """The mean loss of the applied steps (``None`` if none was) and the iterations per second."""
        mean = self.loss / self.applied if self.applied else None
        return mean, self.iterations / (time.perf_counter() - self.start)


def backend_hint(device_type: str, dcn_backend: str) -> str | None:
    """The advice the trainer logs at the start when ``model.dcn_backend`` is slow on the device.

    Args:
        device_type: ``"cpu"`` or ``"cuda"``.
        dcn_backend: ``model.dcn_backend``.

    Returns:
        The advice, or ``None`` when there is none to give.
    """
    if device_type == "cpu" and dcn_backend == "torchvision":
        return (
            "training on a CPU: model.dcn_backend=grid_sample computes the same deformable "
            "convolution and trains 2-4x faster here (scripts/benchmark_train.py)"
        )
    return None


def _first_missing(path: Path) -> Path | None:
    """The outermost of ``path`` and its parents that does not exist yet (``None``: ``path`` exists)."""
    missing = None
    path = path.absolute()
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing = folder
    return missing


def _seconds(action: Callable[[], object]) -> float:
    """Run ``action`` and return how long it took."""
    start = time.perf_counter()
    action()
    return time.perf_counter() - start
