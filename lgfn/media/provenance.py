"""What made a finished output: a digest of its job, kept inside the output.

``--resume`` skips an output that an earlier run finished; it must not take any file that happens to
have the output's name (another input's result, a text file named ``.mp4``) for one. So a sink puts a
digest of its job (the settings that decide the frames: input, model, options, rate, codec) inside
the output it finishes: a video carries it in its container's ``comment`` tag, a folder of frames in
a small file :data:`FOLDER_RECORD` beside the frames. The digest names no path of the machine that
made it: the output can be shared as it is. An MPEG-TS video has no tag to hold it, so an earlier
``.ts`` output cannot be recognised (:func:`check_finished_output` says so).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import av

from lgfn.errors import LGFNError
from lgfn.files import atomic_write_text

#: The file in a finished folder of frames that holds its job's digest (hidden; not a frame).
FOLDER_RECORD = ".lgfn-upscale-job"
#: The container tag of a finished video that holds its job's digest.
VIDEO_TAG = "comment"
_PREFIX = "lgfn upscale job "


def job_digest(job: Mapping[str, Any]) -> str:
    """The text recorded in an output made with ``job`` (JSON values): ``"lgfn upscale job <sha256>"``."""
    canonical = json.dumps(dict(job), sort_keys=True, separators=(",", ":"))
    return _PREFIX + hashlib.sha256(canonical.encode()).hexdigest()


def write_folder_record(frames: Path, job: Mapping[str, Any]) -> None:
    """Record ``job``'s digest in a finished folder of frames."""
    atomic_write_text(frames / FOLDER_RECORD, job_digest(job) + "\n")


def recorded_digest(path: str | os.PathLike) -> str | None:
    """The job digest a finished output holds, or ``None`` when it holds none (not made by
    ``lgfn upscale``, made by a version before the record, or unreadable)."""
    path = Path(path)
    try:
        if path.is_dir():
            text = (path / FOLDER_RECORD).read_text().strip()
        else:
            with av.open(str(path)) as container:
                tags = {key.lower(): value for key, value in container.metadata.items()}
            text = tags.get(VIDEO_TAG, "")
    except (OSError, av.FFmpegError, UnicodeDecodeError):
        return None
    return text if text.startswith(_PREFIX) else None


def check_finished_output(path: str | os.PathLike, job: Mapping[str, Any]) -> None:
    """Refuse to take the existing ``path`` as the finished result of ``job``, unless it records that.

    Raises:
        LGFNError: ``path`` records another job, or none.
    """
    recorded = recorded_digest(path)
    if recorded == job_digest(job):
        return
    what = (
        "was made from another input or with other settings"
        if recorded
        else "holds no record of an lgfn upscale run that made it (another file, an earlier version, or "
        "an MPEG-TS video, which cannot hold one)"
    )
    raise LGFNError(
        f"--resume: {path} exists but {what}, so it is not taken as finished; pass --overwrite to "
        "replace it, or write to another OUTPUT"
    )
