"""The inference options a user chooses (precision, batch, tiles, padding, ensemble, reference path),
as plain values, and the rules that tie them to the device."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class InferenceOptions:
    """How :func:`~lgfn.inference.resolver_from_options` runs a model; the defaults are the fast path.

    Attributes:
        precision: ``"fp32"``, ``"bf16"`` or ``"fp16"`` (CUDA only).
        batch: windows per forward pass.
        padding: temporal edge padding, see :func:`lgfn.data.windows.window_indices`.
        tile: LR tile size in pixels (0: whole frames).
        tile_overlap: LR pixels shared by neighbouring tiles.
        self_ensemble: average the outputs of the 8 flips/transposes of the input.
        plain: the reference path: ``model(window)`` for every window, no feature reuse, no
            channels-last, the model's own deformable backend.
        compile: run the network through ``torch.compile``.
    """

    precision: str = "fp32"
    batch: int = 1
    padding: str = "new_info"
    tile: int = 0
    tile_overlap: int = 16
    self_ensemble: bool = False
    plain: bool = False
    compile: bool = False
