"""Temporal windows: which frames of a clip feed the network for one centre frame.

LGFN restores frame ``k`` of a clip from the ``t`` frames ``k - t//2 .. k + t//2``. Near the ends
of the clip some of those positions fall outside it; the padding mode decides which real frame fills
each of them. This module is the one place that decides it: training, evaluation and inference all
call :func:`window_indices`.

Modes, for a clip of ``L`` frames and a window position ``p`` outside ``0 .. L-1``:

- ``"new_info"`` (the authors' test loader, the default): take frames from beyond the window's
  other end, so that the window holds ``t`` distinct frames whenever the clip has them:
  ``p < 0`` takes ``k + t//2 - p`` and ``p > L-1`` takes ``k - t//2 - (p - (L-1))``. For
  ``L=10, t=7, k=0`` the window is ``[6, 5, 4, 0, 1, 2, 3]``. When the clip is too short for that
  (the replacement would itself leave the clip) the replacement is clamped to the nearest end
  frame, so a short clip still works, with repeated frames.
- ``"reflection"``: mirror at the end frame without repeating it (``... 2, 1, 0, 1, 2 ...``);
  clips shorter than the window are mirrored repeatedly (the mirror image is periodic), so the
  index never leaves the clip.
- ``"replicate"``: repeat the end frame (clamp).
"""

from __future__ import annotations

#: The padding modes :func:`window_indices` accepts.
PADDING_MODES = ("new_info", "reflection", "replicate")


def _clamp(index: int, length: int) -> int:
    return min(max(index, 0), length - 1)


def _reflect(index: int, length: int) -> int:
    if length == 1:
        return 0
    # Mirroring without repeating the edge is periodic with period 2 * (length - 1).
    period = 2 * (length - 1)
    index %= period
    return period - index if index > length - 1 else index


def window_indices(centre: int, num_frames: int, length: int, padding: str = "new_info") -> list[int]:
    """The clip indices of the ``num_frames`` frames centred on ``centre``.

    Args:
        centre: index of the frame to restore, ``0 <= centre < length``.
        num_frames: window length ``t``, odd and positive.
        length: number of frames ``L`` in the clip, at least 1.
        padding: how positions outside the clip are filled: ``"new_info"``, ``"reflection"`` or
            ``"replicate"`` (see the module docstring).

    Returns:
        ``t`` clip indices in window order (position ``t//2`` is ``centre``), each in
        ``0 .. length-1``.

    Raises:
        ValueError: an argument is out of range or ``padding`` is not one of :data:`PADDING_MODES`.
    """
    if num_frames < 1 or num_frames % 2 == 0:
        raise ValueError(f"window length must be odd and positive, got {num_frames}")
    if length < 1:
        raise ValueError(f"clip length must be at least 1, got {length}")
    if not 0 <= centre < length:
        raise ValueError(f"centre frame {centre} is outside the clip of {length} frames")
    if padding not in PADDING_MODES:
        raise ValueError(f"unknown padding {padding!r}; expected one of {', '.join(PADDING_MODES)}")

    half = num_frames // 2
    indices = []
    for position in range(centre - half, centre + half + 1):
        if 0 <= position < length:
            index = position
        elif padding == "replicate":
            index = _clamp(position, length)
        elif padding == "reflection":
            index = _reflect(position, length)
        elif position < 0:
            index = _clamp(centre + half - position, length)
        else:
            index = _clamp(centre - half - (position - (length - 1)), length)
        indices.append(index)
    return indices
