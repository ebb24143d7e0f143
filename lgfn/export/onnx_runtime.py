"""An exported LGFN run by ONNX Runtime, behind the interface the PyTorch pipeline drives.

:class:`OnnxNetwork` maps windows ``(b, t, 3, h, w)`` to ``(b, 3, s*h, s*w)`` like :class:`LGFN`, but
computes them in an ONNX Runtime session (CPU, or the CUDA execution provider where ONNX Runtime
has it). :func:`onnx_resolver` puts it into a :class:`~lgfn.inference.VideoSuperResolver` with
feature reuse off, so the windows, edge padding, tiles, self-ensemble, streaming, resume and outputs
are exactly the PyTorch path's; the network runs whole windows.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from lgfn.errors import CheckpointError, ConfigError, LGFNError
from lgfn.export.metadata import OnnxModelInfo, require
from lgfn.inference.options import InferenceOptions
from lgfn.inference.resolver import VideoSuperResolver


def _providers(ort, device: torch.device) -> list:
    """ONNX Runtime execution providers for ``device``: CUDA (with its GPU index) before the CPU."""
    if device.type == "cpu":
        return ["CPUExecutionProvider"]
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        raise ConfigError(
            f"--device {device} with --onnx needs onnxruntime with CUDA (pip install onnxruntime-gpu); "
            "this onnxruntime has only " + ", ".join(ort.get_available_providers()) + "; use --device cpu"
        )
    return [("CUDAExecutionProvider", {"device_id": device.index or 0}), "CPUExecutionProvider"]


def _read_info(path: Path) -> OnnxModelInfo:
    """The metadata of the ONNX file ``path`` (without loading its weights)."""
    onnx = require("onnx")
    if not path.is_file():
        raise CheckpointError(f"ONNX file {path} {'is a folder' if path.is_dir() else 'does not exist'}")
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf raises DecodeError and others for a file that is no ONNX
        raise CheckpointError(f"{path} is not a readable ONNX file (corrupt or truncated?): {exc}") from exc
    return OnnxModelInfo.from_props({p.key: p.value for p in proto.metadata_props}, path)


class OnnxNetwork(nn.Module):
    """An exported LGFN in an ONNX Runtime session, called like the network.

    Args:
        path: a file written by ``lgfn export``.
        device: ``cpu``, or a CUDA device (needs onnxruntime with the CUDA execution provider).
        threads: intra-op threads of the session; ``None``: PyTorch's count (``OMP_NUM_THREADS``).

    Shapes: ``(b, t, 3, h, w)`` float in [0, 1] -> ``(b, 3, s*h, s*w)`` float32 on the CPU, whatever
    the file's layout and precision.

    Raises:
        CheckpointError: the file is missing, corrupt, or not an exported LGFN.
    """

    def __init__(
        self, path: str | os.PathLike, device: torch.device | str = "cpu", threads: int | None = None
    ):
        super().__init__()
        ort = require("onnxruntime")
        self.path = Path(path)
        self.info = _read_info(self.path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        try:
            self.session = ort.InferenceSession(
                str(self.path), options, providers=_providers(ort, torch.device(device))
            )
        except Exception as exc:  # ONNX Runtime's own errors (Fail, InvalidGraph, NotImplemented)
            raise CheckpointError(f"ONNX Runtime cannot load {self.path}: {str(exc).strip()}") from exc
        self._input = self.session.get_inputs()[0]
        self._check_graph()
        self.dcn_backend = None  # the graph fixes how it computes; see VideoSuperResolver
        self.eval()

    def _check_graph(self) -> None:
        """The graph's input must be what the metadata says (a file edited or stitched elsewhere)."""
        expected = self.info.input_shape()
        actual = [d if isinstance(d, int) else None for d in self._input.shape]
        if actual != expected:
            raise CheckpointError(
                f"{self.path}: the graph's input {self._input.shape} is not what its lgfn metadata describes "
                f"({self.info.layout} layout, {self.num_frames} frames: {expected}); export it again"
            )

    @property
    def scale(self) -> int:
        return self.info.scale

    @property
    def num_frames(self) -> int:
        return self.info.num_frames

    def extract_features(self, frames: torch.Tensor) -> torch.Tensor:
        """Not available: the graph is the whole network (feature reuse is a PyTorch-path optimisation)."""
        raise LGFNError("an ONNX LGFN runs whole windows: build its resolver with reuse_features=False")

    forward_features = extract_features

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        b, t, _, h, w = frames.shape
        if self.info.size is not None and (h, w) != self.info.size:
            fixed = "x".join(map(str, self.info.size))
            raise LGFNError(
                f"{self.path} was exported for {fixed} (h x w) input, got {h}x{w}; export it without "
                f"--size (any size) or with --size {h}x{w}"
            )
        array = (
            frames.detach().cpu().numpy().astype(np.float16 if self.info.precision == "fp16" else np.float32)
        )
        if self.info.layout == "stacked":
            array = array.reshape(b, t * 3, h, w)
        # The graph takes one window (the exporter fixes the batch), so a batch runs window by window.
        outs = [self.session.run(None, {self._input.name: array[i : i + 1]})[0] for i in range(b)]
        return torch.from_numpy(np.concatenate(outs).astype(np.float32, copy=False))


def onnx_resolver(
    path: str | os.PathLike, options: InferenceOptions, device: torch.device
) -> VideoSuperResolver:
    """The upscaler of ``lgfn upscale --onnx`` and ``test.py --onnx``: the PyTorch path's windows,
    padding, tiles, batch and self-ensemble, with ONNX Runtime running each whole window.

    Args:
        path: a file written by ``lgfn export``.
        options: the user's choices; ``precision`` must be ``fp32`` (the file fixes its precision)
            and ``compile`` off; ``plain`` changes nothing (whole windows are what this path runs).
        device: where ONNX Runtime runs (CPU, or CUDA through its execution provider).

    Raises:
        ConfigError: an option that cannot apply to an ONNX file.
        CheckpointError: the file is not a usable exported LGFN.
    """
    if options.precision != "fp32":
        raise ConfigError(
            f"--precision {options.precision} does not apply with --onnx: the file runs in the precision "
            "it was exported with (lgfn export --precision fp16); drop --precision"
        )
    if options.compile:
        raise ConfigError("--compile is for the PyTorch path; drop it with --onnx")
    network = OnnxNetwork(path, device)
    # The resolver's tensors stay on the CPU: ONNX Runtime copies them to its device itself.
    return VideoSuperResolver(
        network, device="cpu", batch=options.batch, padding=options.padding, tile=options.tile,
        tile_overlap=options.tile_overlap, self_ensemble=options.self_ensemble, reuse_features=False,
        channels_last=False,
    )  # fmt: skip
