"""How a stopped run resumes: the random states a checkpoint keeps, and the checks a resume makes on
``latest.pth`` before continuing from it.

A resumed run must build the same network (the architecture is compared and a difference is an
error); other config changes are allowed, apply from the resumed iteration on (a new ``train.lr``
too: see :meth:`lgfn.training.optimisation.Optimisation.load_state`) and are named in a warning,
except the run-time choices
(:data:`RUN_TIME_SETTINGS`, e.g. which kernel computes the deformable convolution), which change how
the run computes, not what it learns.
"""

from __future__ import annotations

import dataclasses
import logging
import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from lgfn.checkpoint import load_checkpoint, split_checkpoint
from lgfn.config import ModelConfig
from lgfn.errors import CheckpointError
from lgfn.models.lgfn import LGFNConfig

if TYPE_CHECKING:
    from lgfn.config import ExperimentConfig

logger = logging.getLogger(__name__)

#: Config keys that are run-time choices, not part of the experiment: the ``model`` section's fields
#: that are not architecture (:class:`~lgfn.models.LGFNConfig`), i.e. ``model.dcn_backend``.
RUN_TIME_SETTINGS = frozenset(
    f"model.{f.name}"
    for f in dataclasses.fields(ModelConfig)
    if f.name not in LGFNConfig.__dataclass_fields__
)


def capture_rng_states() -> dict[str, Any]:
    """The global RNG states (torch CPU and CUDA, numpy, python) as checkpoint-safe values."""
    name, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002 (the legacy global state)
    version, internal, gauss_next = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"name": name, "keys": keys.tolist(), "pos": pos, "has_gauss": has_gauss, "cached": cached},
        "python": [version, list(internal), gauss_next],
    }


def restore_rng_states(states: dict[str, Any]) -> None:
    """Undo :func:`capture_rng_states` (CUDA states only when the devices are there)."""
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available() and len(states["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(states["cuda"])
    n = states["numpy"]
    keys = np.asarray(n["keys"], dtype=np.uint32)
    np.random.set_state((n["name"], keys, n["pos"], n["has_gauss"], n["cached"]))  # noqa: NPY002
    version, internal, gauss_next = states["python"]
    random.setstate((version, tuple(internal), gauss_next))


def read_resume_checkpoint(path: Path, config: ExperimentConfig) -> dict[str, Any] | None:
    """The resumable checkpoint at ``path``, checked against the config a run resumes with.

    Args:
        path: the run's ``latest.pth``.
        config: the experiment as it is now.

    Returns:
        The checkpoint's content, or ``None`` when there is no such file (the run starts from
        scratch, which is logged).

    Raises:
        CheckpointError: the file is no checkpoint, or it holds another architecture.
    """
    if not path.exists():
        logger.info("no %s in %s: starting from scratch", path.name, path.parent)
        return None
    state = load_checkpoint(path)
    stored, _ = split_checkpoint(state, path)
    architecture = config.model.architecture().to_dict()
    if stored != architecture:
        raise CheckpointError(f"{path} was trained with model {stored}, but the config says {architecture}")
    changed = changed_settings(state.get("config", {}), config.to_dict())
    if changed:
        logger.warning(
            "the config differs from the one %s was written with (%s): the new values apply after "
            "iteration %d (config.yaml holds them); the weights, the optimiser's moments and the "
            "schedule's position continue from the checkpoint",
            path, ", ".join(changed), int(state.get("iteration", 0)),
        )  # fmt: skip
    return state


def changed_settings(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """The ``section.key`` names whose values differ between two configs (as ``to_dict`` gives them),
    leaving out the :data:`RUN_TIME_SETTINGS`.

    Args:
        old: the config the checkpoint was written with.
        new: the config now.

    Returns:
        The names, sorted by section then key.
    """
    changed = []
    for section in sorted(set(old) | set(new)):
        a, b = old.get(section, {}), new.get(section, {})
        changed += [f"{section}.{k}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    return [name for name in changed if name not in RUN_TIME_SETTINGS]
