"""Reading and writing LGFN checkpoints.

Two formats load:

- the authors' released files: a plain state dict of the network (their key names, no wrapper
  prefix), loaded as they are into the default configuration (or the one given as overrides);
- the project's own checkpoints, which also record the model configuration so that a non-default
  model loads without extra arguments::

      {"format": "lgfn", "format_version": 1, "model_config": {...}, "state_dict": {...}, ...}

  Training checkpoints add optimiser, scheduler, iteration and RNG states beside these keys.

Either can also be a ``.safetensors`` file (:mod:`lgfn.checkpoint_safetensors`): the weights as
tensors, the configuration in its metadata; it reads as the same dict.

Torch files are always read with ``torch.load(..., weights_only=True)``: nothing in a checkpoint is ever
executed. Writes go to a temporary file in the same folder that is renamed into place, so a crash
never leaves a truncated checkpoint under the final name.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

import lgfn
from lgfn.checkpoint_safetensors import SUFFIX as SAFETENSORS_SUFFIX
from lgfn.checkpoint_safetensors import looks_like_safetensors, read_safetensors, write_safetensors
from lgfn.errors import CheckpointError, memory_error
from lgfn.files import atomic_write
from lgfn.models.lgfn import LGFN, LGFNConfig

#: The shipped weights that ``python test.py`` and ``lgfn upscale`` use when no checkpoint is given.
DEFAULT_CHECKPOINT = Path(lgfn.__file__).resolve().parents[1] / "checkpoints" / "lgfn_x4_demo.pth"

FORMAT = "lgfn"
FORMAT_VERSION = 1
#: Prefixes that wrappers (DataParallel/DDP, torch.compile) put in front of every key.
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")
#: How a checkpoint file starts: a zip archive (torch.save since PyTorch 1.6), or a pickle (protocol 2+,
#: the legacy format and the authors' files).
_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_START = b"\x80"
#: How many offending keys an error message lists.
_SHOW = 5


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` to ``path`` atomically (:func:`lgfn.files.atomic_write`): readers see the old file
    or the complete new one, and a failed write leaves the old file untouched."""

    def write(temporary: Path) -> None:
        with open(temporary, "wb") as handle:
            torch.save(obj, handle)

    atomic_write(path, write)


def save_checkpoint(
    path: str | os.PathLike, model: torch.nn.Module, extra: Mapping[str, Any] | None = None
) -> None:
    """Write a project checkpoint: the model configuration, its weights and ``extra`` entries.

    Args:
        path: destination file; written atomically. A ``.safetensors`` path writes that format
            (``extra`` then holds JSON values only), any other a ``torch.save`` file.
        model: an :class:`LGFN`, possibly wrapped (DDP, ``torch.compile``).
        extra: further entries (optimiser state, iteration, ...); they must be loadable with
            ``weights_only=True``: tensors, numbers, strings and containers of them.
    """
    net = _unwrap(model)
    if not isinstance(net, LGFN):
        raise TypeError(f"save_checkpoint expects an LGFN, got {type(net).__name__}")
    state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    payload: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_config": net.config.to_dict(),
        "state_dict": state,
    }
    if extra:
        clash = set(extra) & set(payload)
        if clash:
            raise ValueError(f"extra entries may not replace {sorted(clash)}")
        payload.update(extra)
    if Path(path).suffix.lower() == SAFETENSORS_SUFFIX:
        write_safetensors(path, payload)
    else:
        atomic_torch_save(payload, path)


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint file: a torch file with ``weights_only=True``, or a safetensors file.

    Returns:
        The stored dict: a project checkpoint, or the authors' plain state dict.

    Raises:
        CheckpointError: the file is missing, truncated, not a torch file, holds something other
            than a dict, or would need code execution to load.
    """
    path = Path(path)
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise CheckpointError(f"checkpoint {path} {what}")
    with open(path, "rb") as handle:
        head = handle.read(16)
    is_torch_file = head.startswith((_ZIP_MAGIC, _PICKLE_START))
    if not is_torch_file and looks_like_safetensors(head):
        return read_safetensors(path, map_location)
    if not is_torch_file:
        what = (
            "safetensors file: it has no safetensors header"
            if path.suffix.lower() == SAFETENSORS_SUFFIX
            else "PyTorch file: it is neither a zip archive nor a pickle"
        )
        raise CheckpointError(
            f"checkpoint {path} is not a readable {what} (it starts with {head[:4]!r}); is it the right file?"
        )
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        if "Unsupported operand" in str(exc):  # no object refused: bytes that are no pickle
            raise CheckpointError(
                f"checkpoint {path} is not a readable PyTorch file (truncated or corrupt?): "
                f"unpickling failed: {_failure_reason(exc)}"
            ) from exc
        raise CheckpointError(
            f"checkpoint {path} holds objects that cannot be loaded safely (weights_only=True refused "
            f"them): {_failure_reason(exc)}"
        ) from exc
    except Exception as exc:  # torch raises many types for a non-torch or truncated file
        reason = _failure_reason(exc)
        raise CheckpointError(
            f"checkpoint {path} is not a readable PyTorch file (truncated or corrupt?): {reason}"
        ) from exc
    if not isinstance(obj, dict):
        raise CheckpointError(f"checkpoint {path} holds a {type(obj).__name__}, expected a dict of weights")
    return obj


def split_checkpoint(obj: Mapping[str, Any], path: str | os.PathLike = "<checkpoint>") -> tuple[dict, dict]:
    """Separate a loaded checkpoint into ``(model_config, state_dict)``.

    Project checkpoints carry their configuration; a plain state dict (the authors' format) gives an
    empty configuration, i.e. the defaults.
    """
    if obj.get("format") == FORMAT:
        if obj.get("format_version", 0) > FORMAT_VERSION:
            raise CheckpointError(
                f"checkpoint {path} has format version {obj['format_version']}, newer than this "
                f"lgfn ({FORMAT_VERSION}); upgrade lgfn"
            )
        config, state = dict(obj.get("model_config", {})), obj.get("state_dict")
        config.pop("dcn_backend", None)  # stored by earlier versions; a run-time choice, not architecture
    elif "params" in obj and isinstance(obj["params"], Mapping):  # BasicSR-style wrapper
        config, state = {}, obj["params"]
    elif "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
        config, state = {}, obj["state_dict"]
    else:
        config, state = {}, obj
    if (
        not isinstance(state, Mapping)
        or not state
        or not all(isinstance(v, torch.Tensor) for v in state.values())
    ):
        raise CheckpointError(
            f"checkpoint {path} holds no state dict of tensors; it is not an LGFN checkpoint"
        )
    check_finite_weights(state, path)
    return config, _strip_prefixes(dict(state))


def check_finite_weights(
    state: Mapping[str, torch.Tensor],
    path: str | os.PathLike,
    cause: str = "the file is damaged or its training diverged",
) -> None:
    """Refuse weights holding inf or NaN (a diverged run, a damaged file): a network with them computes
    nothing meaningful, yet runs.

    Args:
        state: the weights by name.
        path: where they come from (named in the error).
        cause: what the error says is the likely cause.

    Raises:
        CheckpointError: naming the first few such tensors and how many there are.
    """
    bad = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        more = f", ... ({len(bad) - _SHOW} more)" if len(bad) > _SHOW else ""
        raise CheckpointError(
            f"{path}: {len(bad)} of {len(state)} weight tensors hold inf or NaN values "
            f"({', '.join(bad[:_SHOW])}{more}); {cause}"
        )


def check_state_dict(
    model: torch.nn.Module, state: Mapping[str, torch.Tensor], path: str | os.PathLike
) -> None:
    """Raise one :class:`CheckpointError` listing every missing, unexpected and mis-shaped key."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [
        f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    if not (missing or unexpected or wrong):
        return
    parts = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("of the wrong shape", wrong)):
        if items:
            more = f", ... ({len(items) - _SHOW} more)" if len(items) > _SHOW else ""
            parts.append(f"{len(items)} key(s) {label}: {', '.join(items[:_SHOW])}{more}")
    raise CheckpointError(
        f"checkpoint {path} does not fit this LGFN configuration ({len(expected)} entries expected, "
        f"{len(state)} found) — is it another model or configuration? " + "; ".join(parts)
    )


def load_model(
    path: str | os.PathLike,
    device: str | torch.device = "cpu",
    dcn_backend: str = "torchvision",
    **overrides: Any,
) -> LGFN:
    """Build an :class:`LGFN` from a checkpoint and return it in eval mode on ``device``.

    Args:
        path: an authors' released state dict, or a project checkpoint.
        device: where the model goes.
        dcn_backend: which kernel computes the deformable convolutions (``"mmcv"``,
            ``"grid_sample"``); not part of the weights.
        **overrides: :class:`LGFNConfig` fields that replace the stored (or default) configuration,
            e.g. ``scale=2`` for an authors' x2 file.

    Raises:
        CheckpointError: the file cannot be read or its weights do not fit the configuration.
    """
    stored, state = split_checkpoint(load_checkpoint(path), path)
    try:
        config = LGFNConfig.from_dict({**stored, **overrides})
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {path}: invalid model configuration: {exc}") from exc
    model = _build_network(config, dcn_backend, path)
    check_state_dict(model, state, path)
    model.load_state_dict(state)
    return model.to(device).eval()


def _build_network(config: LGFNConfig, dcn_backend: str, path: str | os.PathLike) -> LGFN:
    """The network ``config`` describes; one clear error when its weights cannot be allocated."""
    try:
        return LGFN.from_config(config, dcn_backend=dcn_backend)
    except (RuntimeError, MemoryError) as exc:
        default = LGFNConfig().to_dict()
        changed = ", ".join(f"{k}={v}" for k, v in config.to_dict().items() if v != default[k])
        error = memory_error(
            exc,
            "is the configuration right? (a checkpoint of another model, or a damaged file)",
            f"building the network of checkpoint {path} ({changed or 'the default configuration'})",
        )
        if error is None:
            raise
        raise error from None


def _failure_reason(exc: Exception) -> str:
    """The line of a ``torch.load`` error that says what went wrong, never a bare number: the weights-only
    unpickler's reason (``Unsupported operand 68``, ``Unsupported global: ...``), else the first line;
    a ``KeyError`` whose message is a byte value is an unknown pickle instruction, an empty
    ``EOFError`` a file cut short."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if lines and lines[0].startswith("Weights only load failed"):  # then advice, the reason, a link
        reasons = [
            line
            for line in lines[1:]
            if not line.startswith("Check the documentation") and not line.endswith("WeightsUnpickler error:")
        ]
        return reasons[0] if reasons else lines[0]
    if not lines:
        if isinstance(exc, EOFError):
            return "the file ends before its pickle does (EOFError): truncated?"
        return f"{type(exc).__name__} without a message"
    if lines[0].strip("'\"").isdigit():
        return f"the bytes are no pickle ({type(exc).__name__} {lines[0]}: an unknown pickle instruction)"
    return lines[0]


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    while True:
        inner = getattr(model, "module", None)
        if not isinstance(inner, torch.nn.Module):
            inner = getattr(model, "_orig_mod", None)
        if not isinstance(inner, torch.nn.Module):
            return model
        model = inner


def _strip_prefixes(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    for prefix in _WRAPPER_PREFIXES:
        if state and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix) :]: v for k, v in state.items()}
    return state
