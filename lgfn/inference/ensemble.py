"""The x8 self-ensemble: the eight flips and transposes of a window, whose outputs are averaged."""

from __future__ import annotations

import torch

#: A dihedral transform as (transpose, flip rows, flip columns).
Transform = tuple[bool, bool, bool]

#: The 8 dihedral transforms of the self-ensemble; the first is the identity.
ENSEMBLE_TRANSFORMS: list[Transform] = [
    (tr, fv, fh) for tr in (False, True) for fv in (False, True) for fh in (False, True)
]


def transform(x: torch.Tensor, tf: Transform) -> torch.Tensor:
    """Apply a dihedral transform to the last two axes: transpose, then flip rows, then columns.

    Args:
        x: any tensor ``(..., h, w)``.
        tf: the transform.

    Returns:
        ``(..., h, w)``, or ``(..., w, h)`` when ``tf`` transposes.
    """
    transpose, flip_v, flip_h = tf
    if transpose:
        x = x.transpose(-2, -1)
    if flip_v:
        x = x.flip(-2)
    if flip_h:
        x = x.flip(-1)
    return x


def inverse_transform(x: torch.Tensor, tf: Transform) -> torch.Tensor:
    """Undo :func:`transform` (its steps in reverse order), e.g. on an output ``(..., s*h, s*w)``."""
    transpose, flip_v, flip_h = tf
    if flip_h:
        x = x.flip(-1)
    if flip_v:
        x = x.flip(-2)
    if transpose:
        x = x.transpose(-2, -1)
    return x
