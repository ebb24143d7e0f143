"""How an evaluation continues: the log of finished clips kept while it runs, and the record of the
settings a finished evaluation was made with.

While an evaluation with an output folder runs, ``partial.jsonl`` holds the run's settings and then
one line per finished clip, appended (and pushed to the disk) as each clip ends; a run that stops
on an error or an interruption adds a last line saying so::

    {"settings": {"dataset": "vid4", "method": "bicubic", "protocol.scale": 4, ...}}
    {"clip": "calendar", "data": "82 files, sha256 ...", "result": {"psnr": 20.39, ...}, "rows": [...]}
    {"frames": "city", "data": "68 files, sha256 ...", "rows": [...]}
    ...
    {"stopped": "interrupted"}          (or "error: <the error line>")

A ``frames`` line keeps the rows of frames of a clip not finished yet (the clip in progress of a
single process, :mod:`lgfn.evaluation.clip_progress`): the next ones in order after the clip's earlier
``frames`` lines, the same ``data``; the clip's own line, when it ends, holds them all again and
supersedes them. A resumed run continues such a clip after its last kept frame.

``data`` identifies the clip's frame files (their paths, sizes and times, :func:`clip_identity`): a
resumed run keeps a clip's scores only while its files are those that were scored. Each line must be
whole and valid (every field, numbers where scores are, the result the mean of its rows, a clip's
frames in order), else the log is refused; only a last line that a crash cut short is dropped, so
that clip (or those frames) is scored again.

The evaluation removes the log once the report is written, after ``settings.json`` (these settings
and the identity of all the data, :func:`data_identity`) and before nothing else: a later run into the
same folder compares its own settings with that record (:func:`check_finished`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shlex
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lgfn.data.eval_datasets import EvalClip
from lgfn.errors import ConfigError
from lgfn.evaluation.report import REPORT_FILE
from lgfn.evaluation.scoring import DEFAULT_METRICS, FRAME_METRICS, PAIR_METRICS, ClipScores, clip_result
from lgfn.files import append_jsonl, atomic_write_text, file_identity, settings_changes, write_jsonl

logger = logging.getLogger(__name__)

#: The settings and the scores of the clips finished so far (JSON Lines), in the output folder of an
#: evaluation that is running or was stopped.
PARTIAL_FILE = "partial.jsonl"
#: The settings and data identity of the finished evaluation in an output folder.
SETTINGS_FILE = "settings.json"
#: The fields of a clip's line in the log.
CLIP_FIELDS = ("clip", "data", "result", "rows")
#: The fields of a line of the frames scored so far of an unfinished clip.
FRAME_FIELDS = ("frames", "data", "rows")


def resume_settings(
    dataset: str, method: str, protocol: Mapping[str, Any], identity: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """What must be the same for a run to continue another: the first line of the log.

    Args:
        dataset: the dataset's name.
        method: the method's name.
        protocol: the report's ``"protocol"`` (stored as ``protocol.<key>`` entries).
        identity: more settings that are not reported, e.g. the checkpoint file's size and time.

    Returns:
        The settings as they read back from the file (JSON values: lists, not tuples).
    """
    settings = {
        "dataset": dataset,
        "method": method,
        **{f"protocol.{key}": value for key, value in protocol.items()},
        **(identity or {}),
    }
    return json.loads(json.dumps(settings))


def clip_identity(clip: EvalClip) -> str:
    """``"<n> files, sha256 <digest>"`` of a clip's frame files' absolute paths, sizes and times."""
    files = (*clip.gt_paths, *(clip.lq_paths or ()))
    digest = hashlib.sha256()
    for path in files:
        digest.update(json.dumps(file_identity(path), sort_keys=True).encode())
    return f"{len(files)} files, sha256 {digest.hexdigest()[:16]}"


def data_identity(identities: Mapping[str, str]) -> str:
    """``"<n> clips, sha256 <digest>"`` of the clips' keys and :func:`clip_identity`, in order."""
    digest = hashlib.sha256(json.dumps(list(identities.items())).encode())
    return f"{len(identities)} clips, sha256 {digest.hexdigest()[:16]}"


@dataclass
class ResumeRecord:
    """What a ``partial.jsonl`` holds.

    Attributes:
        settings: the run's :func:`resume_settings` (empty when no clip finished).
        clips: ``{clip key: scores}`` in the order the clips finished.
        data: ``{clip key: clip_identity}`` of the finished clips and of those with kept frames.
        stopped: how the run ended (``"interrupted"``, ``"error: ..."``), ``None`` when not recorded.
        partial: ``{clip key: rows}``, the frames kept of clips that did not finish (in frame order).
    """

    settings: dict[str, Any] = field(default_factory=dict)
    clips: dict[str, ClipScores] = field(default_factory=dict)
    data: dict[str, str] = field(default_factory=dict)
    stopped: str | None = None
    partial: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def kept(self) -> str:
        """What it keeps, for messages: ``2 clip(s)``, ``2 clip(s) and 5 frame(s) of clip city``."""
        text = f"{len(self.clips)} clip(s)"
        for key, rows in self.partial.items():
            text += f" and {len(rows)} frame(s) of clip {key}"
        return text

    def describe(self) -> str:
        """The stopped evaluation, for messages: ``an interrupted evaluation`` ..."""
        if self.stopped == "interrupted":
            return "an interrupted evaluation"
        if self.stopped:
            return f"an evaluation that stopped on an error ({self.stopped})"
        return "an evaluation that stopped part-way"


def read_resume_log(path: Path) -> ResumeRecord:
    """The settings and the finished clips in a log, tolerating a last line that a crash cut short.

    Args:
        path: the ``partial.jsonl`` file (it must exist).

    Returns:
        Its record; an empty one when the log holds no finished clip.

    Raises:
        ConfigError: the file cannot be read, is not such a log, or a line is not a whole, valid
            record (a missing, unknown or non-numeric field; a result that is not its rows' mean).
    """
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}; delete it to start over") from None
    record = ResumeRecord()
    if len(lines) < 2:
        return record  # no clip finished: nothing to keep
    for number, line in enumerate(lines, start=1):
        try:
            entry = json.loads(line)
        except ValueError:
            if number == len(lines):
                break  # the line a crash cut short: that clip is run again
            raise _bad_line(path, number, "not a JSON line") from None
        try:
            _take(record, entry, first=number == 1)
        except (ValueError, TypeError, KeyError) as exc:
            raise _bad_line(path, number, str(exc)) from None
    return record if record.clips or record.partial else ResumeRecord()


def _bad_line(path: Path, number: int, reason: str) -> ConfigError:
    return ConfigError(
        f"{path} line {number}: {reason}; it is not a record of a stopped evaluation: mend that line "
        "or delete the file to start over"
    )


def _take(record: ResumeRecord, entry: Any, first: bool) -> None:
    """Add one line of the log to ``record``; ``ValueError`` (the reason) when it is not valid."""
    if not isinstance(entry, dict):
        raise ValueError("expected a JSON object")
    if first:
        if set(entry) != {"settings"} or not isinstance(entry["settings"], dict):
            raise ValueError('expected the settings line {"settings": {...}} first')
        record.settings = entry["settings"]
        return
    if set(entry) == {"stopped"} and isinstance(entry["stopped"], str):
        record.stopped = entry["stopped"]
        return
    metrics = record.settings.get("protocol.metrics", list(DEFAULT_METRICS))
    if "frames" in entry:
        _take_frames(record, entry, metrics)
        return
    key, scores, data = _clip_line(entry, metrics)
    if key in record.clips:
        raise ValueError(f"clip {key} is recorded twice")
    kept = record.partial.pop(key, [])
    if kept and (scores.rows[: len(kept)] != kept or record.data[key] != data):
        raise ValueError(f"clip {key}: its rows do not begin with the frames kept of it before")
    record.clips[key], record.data[key] = scores, data


def _take_frames(record: ResumeRecord, entry: dict, metrics: Sequence[str]) -> None:
    """A line of frames of an unfinished clip: the next frames after those kept, on the same data."""
    _fields(entry, FRAME_FIELDS, "a line of frames")
    key, data, rows = (entry[name] for name in FRAME_FIELDS)
    if not isinstance(key, str) or not isinstance(data, str):
        raise ValueError('"frames" and "data" must be strings')
    if key in record.clips:
        raise ValueError(f"frames of clip {key} after its finished clip's line")
    _rows(key, rows, metrics)
    kept = record.partial.get(key, [])
    if kept and record.data[key] != data:
        raise ValueError(f'frames of clip {key}: "data" is not that of its earlier frames')
    frames = [row["frame"] for row in (*kept, *rows)]
    if frames != sorted(set(frames)):
        raise ValueError(f"frames of clip {key}: frames {frames} are not increasing")
    record.partial[key], record.data[key] = [*kept, *rows], data


def _clip_line(entry: dict, metrics: Sequence[str]) -> tuple[str, ClipScores, str]:
    """A clip's line, checked field by field."""
    _fields(entry, CLIP_FIELDS, "a clip's line")
    key, data, result, rows = (entry[name] for name in CLIP_FIELDS)
    if not isinstance(key, str) or not isinstance(data, str):
        raise ValueError('"clip" and "data" must be strings')
    scores = _rows(key, rows, metrics)
    _fields(result, ("psnr", "ssim", "frames", *scores[2:]), f"clip {key}: the result")
    if result != clip_result(rows, metrics):
        raise ValueError(f"clip {key}: the result is not the mean of its rows")
    return key, ClipScores(result, rows), data


def _rows(key: str, rows: Any, metrics: Sequence[str]) -> list[str]:
    """Check the rows of clip ``key`` field by field; returns the names of their scores."""
    pairs = [name for name in PAIR_METRICS if name in metrics]
    scores = ["psnr", "ssim", *(name for name in FRAME_METRICS if name in metrics), *pairs]
    if not isinstance(rows, list) or not rows:
        raise ValueError(f'clip {key}: "rows" must be a list of its scored frames')
    for row in rows:
        _fields(row, ("clip", "frame", "file", *scores), f"clip {key}: a row")
        if row["clip"] != key or not _is_int(row["frame"]) or not isinstance(row["file"], str):
            raise ValueError(f'clip {key}: a row\'s "clip" must be {key!r}, "frame" an integer, "file" text')
        for name in scores:
            _score(row[name], f"clip {key} frame {row['frame']} {name}", optional=name in pairs)
    return scores


def _fields(entry: Any, names: Sequence[str], what: str) -> None:
    if not isinstance(entry, dict):
        raise ValueError(f"{what} must be a JSON object")
    problems = []
    missing = [name for name in names if name not in entry]
    if missing:
        problems.append(f"without {', '.join(missing)}")
    unknown = [str(name) for name in entry if name not in names]
    if unknown:
        problems.append(f"with unknown field(s) {', '.join(unknown)}")
    if problems:
        raise ValueError(f"{what} {' and '.join(problems)} (expected {', '.join(names)})")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _score(value: Any, what: str, optional: bool) -> None:
    """A score is a finite number (PSNR may be infinite: identical frames); pair metrics may be null."""
    if value is None and optional:
        return
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or not (math.isfinite(value) or (what.endswith("psnr") and value == math.inf)):
        raise ValueError(f"{what} must be a number, got {value!r}")


class ResumeLog:
    """The ``partial.jsonl`` log of one evaluation's output folder.

    Args:
        folder: the evaluation's output folder (it must exist before :meth:`start`).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / PARTIAL_FILE
        self.recorded = 0

    def finished(
        self, settings: Mapping[str, Any], data: Mapping[str, str], resume: bool, overwrite: bool
    ) -> ResumeRecord:
        """The finished clips a run may take from a stopped one in this folder (nothing is written).

        Args:
            settings: this run's :func:`resume_settings`.
            data: ``{clip key: clip_identity}`` of this run's clips.
            resume: whether a stopped run's clips may be taken.
            overwrite: whether a stopped run's clips may be discarded.

        Returns:
            The record to continue (empty for a new start).

        Raises:
            ConfigError: the folder holds a stopped run's scores and neither ``resume`` nor
                ``overwrite`` is set; with ``resume``, they were made with other settings or on
                other frame files; the log cannot be read.
        """
        record = read_resume_log(self.path) if self.path.exists() else ResumeRecord()
        if not record.clips and not record.partial:
            return ResumeRecord()
        if not resume:
            if overwrite:
                logger.warning("--overwrite: dropping %s scored in %s", record.kept(), self.path)
                return ResumeRecord()
            raise ConfigError(
                f"{self.folder} holds the scores of {record.kept()} of {record.describe()} "
                f"({self.path}): pass --resume to continue it, --overwrite to start over, or another --out"
            )
        details = settings_changes(record.settings, settings)
        if details:
            raise ConfigError(
                f"cannot resume the evaluation in {self.folder}: it was made with other settings ({details})"
            )
        changed = [key for key, identity in record.data.items() if data.get(key, identity) != identity]
        if changed:
            raise ConfigError(
                f"cannot resume the evaluation in {self.folder}: the frame files of clip(s) "
                f"{', '.join(changed[:5])} are not those it scored (another --data-root or --lr-root, "
                f"or changed files); use the same data, or delete {self.path} to start over"
            )
        logger.info("resuming the evaluation in %s: %s already scored", self.folder, record.kept())
        return record

    def start(self, settings: Mapping[str, Any], record: ResumeRecord) -> None:
        """Write the log anew: ``settings``, the clips of ``record`` and its kept frames (whole lines
        only, so that new lines follow whole ones)."""
        entries = [_entry(key, scores, record.data[key]) for key, scores in record.clips.items()]
        entries += [_frames_entry(key, rows, record.data[key]) for key, rows in record.partial.items()]
        write_jsonl(self.path, [{"settings": dict(settings)}, *entries])
        self.recorded = len(entries)

    def record(self, key: str, scores: ClipScores, data: str) -> None:
        """Append one finished clip (pushed to the disk: a crash loses at most this line)."""
        self.recorded += 1  # first: an interruption inside the append may leave the line written
        append_jsonl(self.path, _entry(key, scores, data))

    def record_frames(self, key: str, rows: Sequence[Mapping[str, Any]], data: str) -> None:
        """Append the rows of the next scored frames of the unfinished clip ``key`` (pushed to the disk)."""
        self.recorded += 1
        append_jsonl(self.path, _frames_entry(key, rows, data))

    def stop(self, reason: str) -> None:
        """Note how the run ended (``"interrupted"``, ``"error: ..."``); a log without clips goes."""
        if self.recorded:
            append_jsonl(self.path, {"stopped": reason})
        else:
            self.remove()

    def remove(self) -> None:
        """Delete the log once the evaluation's report is written."""
        self.path.unlink(missing_ok=True)


def _entry(key: str, scores: ClipScores, data: str) -> dict[str, Any]:
    return {"clip": key, "data": data, "result": scores.result, "rows": scores.rows}


def _frames_entry(key: str, rows: Sequence[Mapping[str, Any]], data: str) -> dict[str, Any]:
    return {"frames": key, "data": data, "rows": [dict(row) for row in rows]}


def check_finished(
    folder: Path, settings: Mapping[str, Any], resume: bool, overwrite: bool
) -> dict[str, Any] | None:
    """What to do with a finished evaluation in ``folder`` (its ``metrics.json``) before a new one.

    A finished evaluation of the same settings and data is complete: with ``resume`` its report is
    returned (nothing to compute); without, it is computed again and replaced. One of other settings
    (or without a record of them) is replaced only with ``overwrite``.

    Args:
        folder: the output folder.
        settings: this run's :func:`resume_settings` with ``"data"``: its :func:`data_identity`.
        resume: the run was asked to continue.
        overwrite: the run may replace an evaluation of other settings.

    Returns:
        The finished report when it is complete and ``resume`` is set, else ``None``.

    Raises:
        ConfigError: a finished evaluation of other settings, or one that cannot be read, and no
            ``overwrite``.
    """
    report_path = folder / REPORT_FILE
    if not report_path.exists():
        return None
    why = f"without a readable record of its settings ({folder / SETTINGS_FILE})"
    try:
        recorded = json.loads((folder / SETTINGS_FILE).read_text())
        report = json.loads(report_path.read_text())
        if isinstance(recorded, dict) and isinstance(report, dict):
            details = settings_changes(recorded, settings)
            why = f"made with other settings ({details})" if details else ""
    except (OSError, ValueError):
        pass
    if not why:
        if resume:
            logger.info("the evaluation in %s is complete: its report is %s", folder, report_path)
            return report
        logger.info("replacing the finished evaluation in %s (the same settings)", folder)
        return None
    if overwrite:
        logger.warning("--overwrite: replacing the finished evaluation in %s, %s", folder, why)
        return None
    raise ConfigError(
        f"{folder} holds a finished evaluation {why}: pass another --out, or --overwrite to replace it"
    )


def write_finished(folder: Path, settings: Mapping[str, Any]) -> None:
    """Record the settings (with ``"data"``) of the evaluation whose report is being written."""
    atomic_write_text(folder / SETTINGS_FILE, json.dumps(dict(settings), indent=1) + "\n")


def resume_command(argv: Sequence[str]) -> str:
    """The command line that continues a stopped ``test.py`` run of ``argv`` (with ``--resume``)."""
    argv = list(argv) if "--resume" in argv else [*argv, "--resume"]
    processes = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    launcher = ["python"] if processes == 1 else ["torchrun", f"--nproc_per_node={processes}"]
    return shlex.join([*launcher, "test.py", *argv])


@contextmanager
def resume_hint(argv: Sequence[str]) -> Iterator[None]:
    """Tell how to continue when the run inside is interrupted (Ctrl-C, SIGTERM), as training does."""
    try:
        yield
    except KeyboardInterrupt:
        if int(os.environ.get("RANK", "0")) == 0:
            logger.warning(
                "stopped; the clips scored so far are kept: continue with %s", resume_command(argv)
            )
        raise
