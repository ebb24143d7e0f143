"""How an interrupted evaluation resumes: the log of finished clips it keeps in its output folder.

While an evaluation with an output folder runs, ``partial.jsonl`` holds the run's settings and then
one line per finished clip, appended (and pushed to the disk) as each clip ends::

    {"settings": {"dataset": "vid4", "method": "bicubic", "protocol.scale": 4, ...}}
    {"clip": "calendar", "result": {"psnr": 20.39, "ssim": 0.572, "frames": 39}, "rows": [...]}
    ...

The evaluation removes it once the report is written. A run that stops part-way leaves it, and a
run with ``resume`` takes the finished clips from it, provided its settings are the same; a last
line that a crash cut short is dropped, so that clip is scored again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lgfn.errors import ConfigError
from lgfn.evaluation.scoring import ClipScores
from lgfn.files import append_jsonl, settings_changes, write_jsonl

logger = logging.getLogger(__name__)

#: The settings and the scores of the clips finished so far (JSON Lines), in the output folder of an
#: evaluation that is running or was interrupted.
PARTIAL_FILE = "partial.jsonl"


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


def read_resume_log(path: Path) -> tuple[dict[str, Any], dict[str, ClipScores]]:
    """The settings and the finished clips in a log, tolerating a last line that a crash cut short.

    Args:
        path: the ``partial.jsonl`` file (it must exist).

    Returns:
        ``(settings, {clip key: scores})`` in the order the clips finished; ``({}, {})`` when the
        log holds no finished clip.

    Raises:
        ConfigError: the file cannot be read or is not such a log.
    """
    finished: dict[str, ClipScores] = {}
    try:
        lines = path.read_text().splitlines()
        if len(lines) < 2:
            return {}, {}  # no clip finished: nothing to keep
        recorded = dict(json.loads(lines[0])["settings"])
        for number, line in enumerate(lines[1:], start=2):
            try:
                entry = json.loads(line)
            except ValueError:
                if number == len(lines):
                    break  # the line a crash cut short: that clip is run again
                raise
            finished[entry["clip"]] = ClipScores(entry["result"], entry["rows"])
    except (OSError, ValueError, KeyError, TypeError):
        raise ConfigError(f"{path} is not readable scores of an interrupted evaluation; delete it") from None
    return recorded, finished


class ResumeLog:
    """The ``partial.jsonl`` log of one evaluation's output folder.

    Args:
        folder: the evaluation's output folder (it must exist before :meth:`start`).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / PARTIAL_FILE

    def start(self, settings: Mapping[str, Any], resume: bool) -> dict[str, ClipScores]:
        """Take the finished clips of an interrupted run, or start a new log holding ``settings``.

        Args:
            settings: this run's :func:`resume_settings`.
            resume: whether an interrupted run's clips may be taken.

        Returns:
            ``{clip key: scores}`` of the clips already finished (empty for a new log).

        Raises:
            ConfigError: the folder holds an interrupted run's scores and ``resume`` is not set, or
                they were made with other settings, or the log cannot be read.
        """
        recorded, finished = read_resume_log(self.path) if self.path.exists() else ({}, {})
        if not finished:
            self.path.unlink(missing_ok=True)  # a record of settings alone: nothing to keep
            append_jsonl(self.path, {"settings": settings})
            return {}
        if not resume:
            raise ConfigError(
                f"{self.folder} holds the scores of {len(finished)} clip(s) of an interrupted evaluation "
                f"({self.path}): pass --resume to continue it, or delete that file to start over"
            )
        details = settings_changes(recorded, settings)
        if details:
            raise ConfigError(
                f"cannot resume the evaluation in {self.folder}: it was made with other settings ({details})"
            )
        logger.info("resuming the evaluation in %s: %d clip(s) already scored", self.folder, len(finished))
        # Written anew without a line a crash may have cut short, so that new lines follow whole ones.
        write_jsonl(self.path, [{"settings": recorded}, *(_entry(k, s) for k, s in finished.items())])
        return finished

    def record(self, key: str, scores: ClipScores) -> None:
        """Append one finished clip (pushed to the disk: a crash loses at most this line)."""
        append_jsonl(self.path, _entry(key, scores))

    def remove(self) -> None:
        """Delete the log once the evaluation's report is written."""
        self.path.unlink(missing_ok=True)


def _entry(key: str, scores: ClipScores) -> dict[str, Any]:
    return {"clip": key, "result": scores.result, "rows": scores.rows}
