"""The whole LGFN as one ONNX file: ``torch.onnx.export(..., dynamo=True)``, opset 19.

The deformable convolutions are written in one of two forms that compute the project's function:

- ``deform_conv`` (default): torchvision's ``deform_conv2d`` becomes the ONNX ``DeformConv``
  operator (opset 19), which ONNX Runtime runs on CPU;
- ``grid_sample``: the project's pure ``grid_sample`` backend (:mod:`lgfn.models.deform_conv`), which
  becomes ``GridSample`` and ``MatMul`` (opset 16+), for runtimes without ``DeformConv``.

Height and width are dynamic unless a fixed size is asked for; the batch is one window (the
runner feeds a batch window by window). The file
is written atomically: a failed export leaves nothing under the output name.
"""

from __future__ import annotations

import copy
import logging
import os
import time
from pathlib import Path

import torch
from torch import nn

import lgfn
from lgfn.checkpoint import check_finite_weights, load_model
from lgfn.errors import LGFNError
from lgfn.export.exporter_output import exporter_output, exporter_verbose
from lgfn.export.metadata import DCN_FORMS, LAYOUTS, ONNX_PRECISIONS, OnnxModelInfo, file_sha256, require
from lgfn.files import atomic_write
from lgfn.models.lgfn import LGFN

logger = logging.getLogger(__name__)

OPSET = 19
#: The project's deformable backend that each ONNX form is traced from.
_BACKEND_OF_FORM = {"deform_conv": "torchvision", "grid_sample": "grid_sample"}
#: Input size traced when height and width are dynamic (unequal, so that export keeps them apart).
_TRACE_SIZE = (32, 40)


class _StackedFrames(nn.Module):
    """LGFN taking its window stacked along the channels: ``(b, 3t, h, w)`` -> ``(b, 3, s*h, s*w)``
    (frame ``i`` is channels ``3i .. 3i+2``, the layout of vs-mlrt's multi-frame models)."""

    def __init__(self, network: LGFN) -> None:
        super().__init__()
        self.network = network

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        return self.network(x.reshape(b, self.network.num_frames, 3, h, w))  # (b, t, 3, h, w)


def _check_choices(dcn: str, layout: str, precision: str, size: tuple[int, int] | None) -> None:
    for name, value, choices in (
        ("dcn", dcn, DCN_FORMS), ("layout", layout, LAYOUTS), ("precision", precision, ONNX_PRECISIONS),
    ):  # fmt: skip
        if value not in choices:
            raise LGFNError(f"unknown ONNX export {name} {value!r}; choose one of {', '.join(choices)}")
    if size is not None and (len(size) != 2 or min(size) < 1):
        raise LGFNError(f"the fixed export size must be two positive numbers (h, w), got {size}")


def _check_representable(model: nn.Module, traced: nn.Module, precision: str) -> None:
    """The weights must be finite, and still so in ``precision`` (fp16 ends at 65504)."""
    check_finite_weights(model.state_dict(), "the model to export", "its weights are damaged")
    check_finite_weights(
        traced.state_dict(),
        f"the model's weights in {precision}",
        f"they exceed {precision}'s range; export with --precision fp32",
    )


def _translation_table() -> dict:
    """torchvision's ``deform_conv2d`` -> ONNX ``DeformConv`` (onnxscript has the function, but the
    exporter does not pick it up on its own)."""
    require("onnxscript")
    import torchvision  # noqa: F401  (registers torch.ops.torchvision)
    from onnxscript.function_libs.torch_lib.ops.vision import torchvision_deform_conv2d

    return {torch.ops.torchvision.deform_conv2d.default: torchvision_deform_conv2d}


def export_onnx(
    model: LGFN,
    path: str | os.PathLike,
    dcn: str = "deform_conv",
    layout: str = "frames",
    size: tuple[int, int] | None = None,
    precision: str = "fp32",
    checkpoint_sha256: str = "",
) -> OnnxModelInfo:
    """Write ``model`` as an ONNX file that ONNX Runtime runs with the same output.

    Args:
        model: the network; not changed (a copy is traced).
        path: the ``.onnx`` file; written atomically, its folder created when missing.
        dcn: ``"deform_conv"`` (ONNX ``DeformConv``) or ``"grid_sample"`` (``GridSample``).
        layout: input ``"frames"`` ``(1, t, 3, h, w)`` or ``"stacked"`` ``(1, 3t, h, w)``, RGB in [0, 1].
        size: a fixed input size ``(h, w)``; ``None`` (default): any height and width.
        precision: ``"fp32"``, or ``"fp16"`` (half-precision input, weights, activations and output;
            the deformable sampling stays fp32 as in PyTorch).
        checkpoint_sha256: hash of the checkpoint the weights come from, recorded in the metadata.

    Returns:
        The metadata written into the file. The output is ``(1, 3, s*h, s*w)``, not clamped.

    Raises:
        LGFNError: an unknown option, the ONNX packages missing, weights that are not finite (or not
            in fp16), or the file cannot be written.
    """
    _check_choices(dcn, layout, precision, size)
    onnx = require("onnx")
    try:  # before the minutes of tracing, not after
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LGFNError(f"cannot write {path}: {exc.strerror or exc}; choose a writable -o path") from exc
    table = _translation_table()
    info = OnnxModelInfo(model.config, layout, dcn, precision, size, checkpoint_sha256)
    network = copy.deepcopy(model).cpu().eval()
    network.set_dcn_backend(_BACKEND_OF_FORM[dcn])
    dtype = torch.float16 if precision == "fp16" else torch.float32
    traced: nn.Module = network if layout == "frames" else _StackedFrames(network)
    traced = traced.to(dtype).eval()
    _check_representable(model, traced, precision)
    h, w = size or _TRACE_SIZE
    # One window per run: the exporter fixes the batch anyway (the alignment splits it by value).
    shape = [1, model.num_frames, 3, h, w] if layout == "frames" else [1, 3 * model.num_frames, h, w]
    sample = torch.rand(*shape, dtype=dtype)
    dims = {}
    if size is None:
        spatial = len(shape) - 2
        dims = {spatial: torch.export.Dim("height", min=2), spatial + 1: torch.export.Dim("width", min=2)}
    started = time.perf_counter()
    verbose = exporter_verbose()  # its own lines only with `lgfn -v`
    with torch.no_grad(), exporter_output(verbose):
        program = torch.onnx.export(
            traced, (sample,), dynamo=True, opset_version=OPSET, input_names=["frames"],
            output_names=["sr"], dynamic_shapes=({**dims},), custom_translation_table=table,
            optimize=True, verbose=verbose,
        )  # fmt: skip
    proto = program.model_proto
    exporter = f"torch {torch.__version__} torch.onnx.export(dynamo=True), opset {OPSET}"
    onnx.helper.set_model_props(proto, info.to_props(exporter, lgfn.__version__))
    onnx.checker.check_model(proto)
    _save(onnx, proto, Path(path))
    logger.debug(  # `lgfn export` prints its own one line
        "exported %s in %.1f s (%s, %s, %s)", path, time.perf_counter() - started, dcn, layout, precision
    )
    return info


def _save(onnx, proto, path: Path) -> None:
    def write(temporary: Path) -> None:
        onnx.save(proto, str(temporary))

    try:
        atomic_write(path, write)
    except OSError as exc:
        raise LGFNError(f"cannot write {path}: {exc.strerror or exc}; choose a writable -o path") from exc


def export_checkpoint(ckpt: str | os.PathLike, path: str | os.PathLike, **options) -> OnnxModelInfo:
    """Load a checkpoint (the authors' file or a project one) and :func:`export_onnx` it, recording the
    checkpoint file's SHA-256.

    Args:
        ckpt: the checkpoint.
        path: the ``.onnx`` file to write.
        **options: ``dcn``, ``layout``, ``size``, ``precision`` of :func:`export_onnx`.

    Raises:
        CheckpointError: the checkpoint is not an LGFN one.
    """
    model = load_model(ckpt)
    return export_onnx(model, path, checkpoint_sha256=file_sha256(ckpt), **options)
