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

from lgfn.checkpoint import check_finite_weights
from lgfn.errors import CheckpointError, ConfigError, LGFNError, out_of_memory_detail
from lgfn.export.metadata import OnnxModelInfo, require
from lgfn.inference.options import InferenceOptions
from lgfn.inference.resolver import VideoSuperResolver

#: ONNX element types of floating-point weights (FLOAT, FLOAT16, DOUBLE).
_FLOAT_TYPES = (1, 10, 11)
#: What ONNX Runtime calls the input types of the two precisions, and what the runner feeds them.
_INPUT_TYPES = {"fp32": ("tensor(float)", np.float32), "fp16": ("tensor(float16)", np.float16)}
#: Input size of the window run at load to check the output of a graph that declares too little of its
#: output's shape (files from lgfn export declare it all).
_PROBE_SIZE = (32, 32)


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
    """The metadata of the ONNX file ``path``, whose weights (initializers) must be finite."""
    onnx = require("onnx")
    if not path.is_file():
        raise CheckpointError(f"ONNX file {path} {'is a folder' if path.is_dir() else 'does not exist'}")
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf raises DecodeError and others for a file that is no ONNX
        raise CheckpointError(f"{path} is not a readable ONNX file (corrupt or truncated?): {exc}") from exc
    info = OnnxModelInfo.from_props({p.key: p.value for p in proto.metadata_props}, path)
    weights = {
        tensor.name: torch.from_numpy(onnx.numpy_helper.to_array(tensor).copy())
        for tensor in proto.graph.initializer
        if tensor.data_type in _FLOAT_TYPES and not tensor.external_data
    }
    check_finite_weights(weights, path)
    return info


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
        self._feed_type = _INPUT_TYPES[self.info.precision][1]  # what the graph declares, once checked
        self._check_graph()
        self.dcn_backend = None  # the graph fixes how it computes; see VideoSuperResolver
        self.eval()

    def _check_graph(self) -> None:
        """The graph's input and output must be what the metadata says (a file edited or stitched
        elsewhere): the input's shape and type, and the output's shape where the graph declares it."""
        expected = self.info.input_shape()
        actual = [d if isinstance(d, int) else None for d in self._input.shape]
        if actual != expected:
            raise CheckpointError(
                f"{self.path}: the graph's input {self._input.shape} is not what its lgfn metadata describes "
                f"({self.info.layout} layout, {self.num_frames} frames: {expected}); export it again"
            )
        declared = _INPUT_TYPES[self.info.precision][0]
        if self._input.type != declared:
            raise CheckpointError(
                f"{self.path}: the graph takes {self._input.type} input, but its lgfn metadata says "
                f"{self.info.precision} ({declared}); export it again"
            )
        outputs = self.session.get_outputs()
        shape = outputs[0].shape if len(outputs) == 1 else []
        expected = [1, *self._output_dims()]
        if shape is not None and (
            len(shape) != 4 or not all(_dim_fits(d, e) for d, e in zip(shape[1:], expected[1:], strict=True))
        ):
            described = [(o.name, o.shape) for o in outputs]
            raise CheckpointError(
                f"{self.path}: the graph's output {described} is not one (1, 3, {self.scale}*h, "
                f"{self.scale}*w) image, as its lgfn metadata (x{self.scale}) says; export it again"
            )
        if shape != expected:  # a declaration that says too little: one small window tells, now
            h, w = self.info.size or _PROBE_SIZE
            self._run_window(np.zeros([*self.info.input_shape()[:-2], h, w], self._feed_type))

    def _output_dims(self) -> list[int | str]:
        """Channels, height and width of the output: numbers, or ``"s*name"`` of a free input size."""
        spatial = self._input.shape[-2:]
        s = self.scale
        return [3, *(d * s if isinstance(d, int) else (d if s == 1 else f"{s}*{d}") for d in spatial)]

    @property
    def overflow_advice(self) -> str:
        """What to do about an output that is not finite (see :class:`VideoSuperResolver`)."""
        if self.info.precision == "fp16":
            return "this ONNX file computes in fp16, which can overflow: export it with --precision fp32"
        return "in fp32 this means that the file's weights or the input frames are damaged"

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
        array = frames.detach().cpu().numpy().astype(self._feed_type)
        if self.info.layout == "stacked":
            array = array.reshape(b, t * 3, h, w)
        # The graph takes one window (the exporter fixes the batch), so a batch runs window by window.
        outs = [self._run_window(array[i : i + 1]) for i in range(b)]
        return torch.from_numpy(np.concatenate(outs).astype(np.float32, copy=False))

    def _run_window(self, window: np.ndarray) -> np.ndarray:
        """One window through the session; its output must be the size the metadata promises."""
        try:
            (out, *_) = self.session.run(None, {self._input.name: window})
        except Exception as exc:  # ONNX Runtime's own error types, none of them a Python built-in
            if out_of_memory_detail(exc) is not None:
                raise MemoryError(f"ONNX Runtime: {str(exc).strip()}") from None
            raise CheckpointError(f"ONNX Runtime failed running {self.path}: {str(exc).strip()}") from exc
        h, w = window.shape[-2:]
        expected = (1, 3, self.scale * h, self.scale * w)
        if out.shape != expected:
            raise CheckpointError(
                f"{self.path}: the graph made a {out.shape} output of a {h}x{w} input, but its lgfn "
                f"metadata says x{self.scale}, {expected}; the graph is not the network its metadata "
                "describes: export it again"
            )
        return out


def _dim_fits(dim: int | str | None, expected: int | str) -> bool:
    """A declared output dimension fits the expected one (see :meth:`OnnxNetwork._output_dims`). Free
    ones written otherwise than ``k*name`` of the input's name may be anything: the first run checks."""
    if isinstance(dim, int):
        return dim == expected
    if dim is None or isinstance(expected, int):
        return True
    factor, _, name = dim.rpartition("*")
    if name != expected.rpartition("*")[2] or not (factor == "" or factor.isdigit()):
        return True
    return dim == expected


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
