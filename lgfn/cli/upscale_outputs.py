"""Where ``lgfn upscale`` writes each input, checked before any work: never into or over an input, and
an existing output taken as finished by ``--resume`` only when it records the same job."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lgfn.data.io import FRAME_EXTENSIONS
from lgfn.errors import ConfigError, LGFNError
from lgfn.files import lies_within
from lgfn.media import work_folder
from lgfn.media.containers import VIDEO_LOOKING_SUFFIXES, output_name_for
from lgfn.media.provenance import check_finished_output

logger = logging.getLogger(__name__)


def input_output_pairs(inputs: Sequence[Path], output: Path, codec: str) -> list[tuple[Path, Path]]:
    """Where each input goes: OUTPUT itself for one input; for several, OUTPUT is a folder that gets
    each input under its own name (a video keeps its container if it holds ``codec``, else ``.mkv``; a
    folder of frames becomes a folder of PNG frames). No output lands in or over an input.

    Raises:
        LGFNError: OUTPUT is no folder for several inputs, two would share a name, or an output
            would be, hold or lie inside an input.
    """
    if len(inputs) == 1:
        pairs = [(inputs[0], output)]
    else:
        pairs = _pairs_in_folder(inputs, output, codec)
    for input_path, _ in pairs:
        for _, output_path in pairs:
            refuse_output_over_input(input_path, output_path)
    return pairs


def _pairs_in_folder(inputs: Sequence[Path], output: Path, codec: str) -> list[tuple[Path, Path]]:
    if output.suffix.lower() in (*VIDEO_LOOKING_SUFFIXES, *FRAME_EXTENSIONS) or output.is_file():
        raise ConfigError(f"with several INPUTs, OUTPUT is a folder to hold their results, not {output}")
    pairs = []
    for input_path in inputs:
        if input_path.is_dir():
            name = input_path.resolve().name
        else:
            name = output_name_for(input_path.stem, input_path.suffix, codec)
        pairs.append((input_path, output / name))
    names = [target.name for _, target in pairs]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ConfigError(f"several INPUTs would be written to the same name in {output}: {', '.join(twice)}")
    return pairs


def refuse_output_over_input(input_path: Path, output_path: Path) -> None:
    """Refuse an output (or its work folder) that is the input, holds it, or lies inside it (a PNG
    folder inside the input's frame folder).

    Raises:
        LGFNError: naming both paths.
    """
    for written in (output_path, work_folder(output_path)):
        if written.resolve() == input_path.resolve():
            raise LGFNError(f"OUTPUT {output_path} is INPUT {input_path}; write to another path")
        if lies_within(input_path, written):
            raise LGFNError(f"OUTPUT {output_path} holds INPUT {input_path}; write to a path outside it")
        if lies_within(written, input_path):
            raise LGFNError(f"OUTPUT {output_path} is inside INPUT {input_path}; write to a path outside it")


def finished_before(output_path: Path, record: Mapping[str, Any]) -> bool:
    """An earlier run completed ``output_path`` with the job ``record`` (see
    :func:`lgfn.media.sinks.output_record`): it exists, no unfinished work waits beside it, and it
    records that job.

    Raises:
        LGFNError: ``output_path`` exists, finished, but records another job or none.
    """
    if not os.path.lexists(output_path) or os.path.lexists(work_folder(output_path)):
        return False
    check_finished_output(output_path, record)
    logger.info(
        "%s is complete (an earlier run finished it with these settings): nothing to resume", output_path
    )
    return True
