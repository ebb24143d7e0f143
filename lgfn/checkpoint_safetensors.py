"""LGFN checkpoints as ``.safetensors`` files: the weights as tensors, the rest as text metadata.

A safetensors file holds named tensors and a ``str -> str`` metadata table, and loading it runs no
code at all. The project writes its checkpoints there as::

    tensors:  the state dict of the network
    metadata: {"format": "lgfn", "format_version": "1", "model_config": "<JSON>", "extra": "<JSON>"}

so that :func:`read_safetensors` gives back the same dict as ``torch.load`` of the ``.pth`` form. A
file without ``"format": "lgfn"`` (the authors' weights converted, another project's file) reads as
a plain state dict, like such a ``.pth``. Only weights and JSON values fit: optimiser states and RNG
states of training checkpoints stay in ``.pth`` files.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from lgfn.errors import CheckpointError
from lgfn.files import atomic_write

SUFFIX = ".safetensors"
#: The project format's metadata keys; every other entry of a checkpoint goes into ``extra``.
_FORMAT_KEYS = ("format", "format_version", "model_config", "state_dict")


def _safetensors():
    """The safetensors package (a dependency; imported when first needed), or one clear error."""
    try:
        import safetensors
        import safetensors.torch
    except ImportError as exc:
        raise CheckpointError(
            "reading or writing .safetensors checkpoints needs the safetensors package: "
            "pip install -r requirements.txt (or pip install safetensors)"
        ) from exc
    return safetensors


def looks_like_safetensors(head: bytes) -> bool:
    """Whether the first bytes of a file are a safetensors header: a little-endian 8-byte length, then
    the JSON header's ``{``."""
    return len(head) >= 9 and head[8:9] == b"{" and struct.unpack("<Q", head[:8])[0] > 1


def write_safetensors(path: str | os.PathLike, payload: Mapping[str, Any]) -> None:
    """Write a project checkpoint dict (``format``, ``format_version``, ``model_config``,
    ``state_dict`` and extra entries) as a safetensors file, atomically.

    Raises:
        ValueError: an extra entry is no JSON value (an optimiser state, a tensor): such
            checkpoints need the ``.pth`` form.
    """
    save_file = _safetensors().torch.save_file
    extra = {k: v for k, v in payload.items() if k not in _FORMAT_KEYS}
    try:
        extra_text = json.dumps(extra, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{path}: a .safetensors checkpoint holds weights and JSON values only, not "
            f"{sorted(extra)} ({exc}); save training checkpoints as .pth"
        ) from exc
    metadata = {
        "format": str(payload["format"]),
        "format_version": str(payload["format_version"]),
        "model_config": json.dumps(payload["model_config"]),
        "extra": extra_text,
    }
    # safetensors refuses tensors that share memory or are not contiguous; a state dict on the CPU
    # is written as independent contiguous copies.
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in payload["state_dict"].items()}

    def write(temporary: Path) -> None:
        save_file(tensors, str(temporary), metadata=metadata)

    atomic_write(path, write)


def read_safetensors(path: str | os.PathLike, device: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a safetensors file into the dict a ``.pth`` checkpoint of the same content loads as.

    Returns:
        A project checkpoint dict when the metadata says ``"format": "lgfn"``, else the plain state
        dict of its tensors.

    Raises:
        CheckpointError: the file is cut short or corrupt, or its LGFN metadata cannot be read.
    """
    safetensors = _safetensors()
    SafetensorError, safe_open = safetensors.SafetensorError, safetensors.safe_open  # noqa: N806
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt", device=str(device)) as handle:
            metadata = handle.metadata() or {}
            state = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118 (no dict)
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"checkpoint {path} is not a readable safetensors file (truncated or corrupt?): {reason}"
        ) from exc
    if metadata.get("format") != "lgfn":
        return state
    try:
        checkpoint = {
            "format": "lgfn",
            "format_version": int(metadata.get("format_version", "0")),
            "model_config": json.loads(metadata.get("model_config", "{}")),
            "state_dict": state,
        }
        extra = json.loads(metadata.get("extra", "{}"))
    except ValueError as exc:
        raise CheckpointError(f"checkpoint {path} has unreadable LGFN metadata: {exc}") from exc
    if not isinstance(checkpoint["model_config"], dict) or not isinstance(extra, dict):
        raise CheckpointError(f"checkpoint {path} has LGFN metadata that is no JSON object")
    return {**extra, **checkpoint}
