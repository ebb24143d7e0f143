"""The vs-mlrt plugins that run an exported LGFN file, each with its usual knobs.

=================  ===============  ============================================  =====================
backend            plugin           machine                                       deformable form
=================  ===============  ============================================  =====================
``ORT("CPU")``     ``core.ort``     any CPU (``vapoursynth-mlrt-ort``)            ``deform_conv``
``ORT("CUDA")``    ``core.ort``     NVIDIA GPU (``vapoursynth-mlrt-ort[cuda]``)   ``deform_conv``
``OV("CPU")``      ``core.ov``      Intel/AMD CPU, Intel GPU (``-mlrt-ov``)       ``grid_sample`` only
``TRT()``          ``core.trt``     NVIDIA GPU, TensorRT >= 10.1 (``-mlrt-trt``)  ``deform_conv``
=================  ===============  ============================================  =====================

ONNX Runtime and TensorRT (its ``ModulatedDeformConv2d`` plugin) read ONNX ``DeformConv``;
OpenVINO has no conversion rule for it and takes the ``--dcn grid_sample`` export. Each backend
lists the forms it takes, the first preferred, and :func:`pick_model` chooses among the files given.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import vapoursynth as vs

from lgfn.vapoursynth.model_file import ModelFile


def _plugin(namespace: str, package: str) -> object:
    core = vs.core
    if not hasattr(core, namespace):
        raise vs.Error(
            f"lgfn.vapoursynth: this backend needs the '{namespace}' plugin; install: pip install {package}"
        )
    return getattr(core, namespace)


def _tiles(tilesize: tuple[int, int] | None, overlap: tuple[int, int] | None) -> dict:
    return {} if tilesize is None else {"tilesize": list(tilesize), "overlap": list(overlap or (0, 0))}


@dataclass(frozen=True)
class ORT:
    """ONNX Runtime through ``core.ort.Model``.

    Attributes:
        provider: ``"CPU"``, ``"CUDA"`` (``pip install vapoursynth-mlrt-ort[cuda]``), ``"DML"`` or
            ``"COREML"``.
        device_id: GPU index for CUDA.
        num_streams: frames in flight at once (GPU).
        fp16: let the plugin convert the network to half precision (GPU providers).
        cudnn_benchmark: let cuDNN time its kernels once at start (faster afterwards).
        verbosity: ONNX Runtime's log level, 0 (fatal only) to 4.
    """

    provider: str = "CPU"
    device_id: int = 0
    num_streams: int = 1
    fp16: bool = False
    cudnn_benchmark: bool = True
    verbosity: int = 2
    dcn_forms: ClassVar[tuple[str, ...]] = ("deform_conv", "grid_sample")

    def run(self, clips: list[vs.VideoNode], model: ModelFile, tilesize=None, overlap=None) -> vs.VideoNode:
        plugin = _plugin("ort", "vapoursynth-mlrt-ort")
        return plugin.Model(clips, network_path=str(model.path), provider=self.provider,
                            device_id=self.device_id, num_streams=self.num_streams, fp16=self.fp16,
                            cudnn_benchmark=self.cudnn_benchmark, verbosity=self.verbosity,
                            **_tiles(tilesize, overlap))  # fmt: skip


@dataclass(frozen=True)
class OV:
    """OpenVINO through ``core.ov.Model``.

    Attributes:
        device: ``"CPU"`` or ``"GPU"`` (Intel), as ``core.ov.AvailableDevices()`` lists them.
        num_streams: inference requests in flight at once.
        fp16: let the plugin convert the network to half precision.
        inference_precision: OpenVINO's ``INFERENCE_PRECISION_HINT``: ``"f32"`` (the default here),
            or ``None`` for OpenVINO's own choice, which is bf16 on CPUs that compute it natively
            (AVX-512 BF16, AMX) and about 2 grey levels from the fp32 network on this demo.
    """

    device: str = "CPU"
    num_streams: int = 1
    fp16: bool = False
    inference_precision: str | None = "f32"
    dcn_forms: ClassVar[tuple[str, ...]] = ("grid_sample",)

    def run(self, clips: list[vs.VideoNode], model: ModelFile, tilesize=None, overlap=None) -> vs.VideoNode:
        plugin = _plugin("ov", "vapoursynth-mlrt-ov")
        config = (
            {} if self.inference_precision is None else {"INFERENCE_PRECISION_HINT": self.inference_precision}
        )
        return plugin.Model(clips, network_path=str(model.path), device=self.device,
                            num_streams=self.num_streams, fp16=self.fp16, config=lambda: config,
                            **_tiles(tilesize, overlap))  # fmt: skip


@dataclass(frozen=True)
class TRT:
    """TensorRT through ``core.trt.Model``; the engine is built once by ``trtexec`` for the input size.

    Not run by this project's tests (no NVIDIA GPU there). TensorRT >= 10.1 reads ONNX
    ``DeformConv`` through its ``ModulatedDeformConv2d`` plugin.

    Attributes:
        device_id: GPU index.
        num_streams: frames in flight at once.
        fp16: build the engine with half-precision kernels allowed.
        workspace: the builder's workspace limit in MiB (``None``: TensorRT's default).
        engine_folder: where engines are kept (default: beside the ONNX file); one per input size
            and precision, reused when present.
        trtexec: the ``trtexec`` program (default: found on ``PATH``).
    """

    device_id: int = 0
    num_streams: int = 1
    fp16: bool = False
    workspace: int | None = None
    engine_folder: str | None = None
    trtexec: str = "trtexec"
    dcn_forms: ClassVar[tuple[str, ...]] = ("deform_conv", "grid_sample")

    def engine(self, model: ModelFile, channels: int, width: int, height: int) -> Path:
        """The engine file for one input size, built with ``trtexec`` when it is not there yet."""
        folder = Path(self.engine_folder) if self.engine_folder else model.path.parent
        name = (
            f"{model.path.stem}_{width}x{height}_{'fp16' if self.fp16 else 'fp32'}_dev{self.device_id}.engine"
        )
        engine = folder / name
        if engine.is_file():
            return engine
        program = shutil.which(self.trtexec)
        if program is None:
            raise vs.Error(f"lgfn.vapoursynth: TRT needs the '{self.trtexec}' program (TensorRT) on PATH")
        partial = engine.with_name(engine.name + ".partial")
        # `lgfn export` names the network's input "frames"; the engine is built for one fixed shape.
        command = [program, f"--onnx={model.path}", f"--saveEngine={partial}", f"--device={self.device_id}",
                   f"--shapes=frames:1x{channels}x{height}x{width}"]  # fmt: skip
        command += ["--fp16"] if self.fp16 else []
        command += [f"--memPoolSize=workspace:{self.workspace}M"] if self.workspace else []
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            partial.unlink(missing_ok=True)
            raise vs.Error(f"lgfn.vapoursynth: trtexec failed on {model.path}: {result.stdout[-2000:]}")
        os.replace(partial, engine)  # a stopped build never leaves a half engine under the final name
        return engine

    def run(self, clips: list[vs.VideoNode], model: ModelFile, tilesize=None, overlap=None) -> vs.VideoNode:
        plugin = _plugin("trt", "vapoursynth-mlrt-trt")
        width, height = tilesize or (clips[0].width, clips[0].height)
        engine = self.engine(model, 3 * len(clips), width, height)
        return plugin.Model(clips, engine_path=str(engine), device_id=self.device_id,
                            num_streams=self.num_streams, **_tiles(tilesize, overlap))  # fmt: skip


Backend = ORT | OV | TRT

#: The names :func:`resolve_backend` takes for the common cases.
BACKEND_NAMES = {
    "ort-cpu": ORT("CPU"),
    "ort-cuda": ORT("CUDA"),
    "ov-cpu": OV("CPU"),
    "ov-gpu": OV("GPU"),
    "trt": TRT(),
}


def resolve_backend(backend: str | Backend) -> Backend:
    """A backend object from its name (a key of :data:`BACKEND_NAMES`) or as given."""
    if isinstance(backend, ORT | OV | TRT):
        return backend
    if isinstance(backend, str) and backend.lower() in BACKEND_NAMES:
        return BACKEND_NAMES[backend.lower()]
    raise vs.Error(
        f"lgfn.vapoursynth: unknown backend {backend!r}; expected one of {', '.join(BACKEND_NAMES)} "
        "or an ORT(...), OV(...) or TRT(...) object"
    )


def pick_model(models: Sequence[ModelFile], backend: Backend) -> ModelFile:
    """The file, among ``models``, whose deformable form ``backend`` takes (its preferred form first).

    Raises:
        vs.Error: no file has a form the backend takes.
    """
    for form in backend.dcn_forms:
        for model in models:
            if model.dcn == form:
                return model
    given = ", ".join(f"{m.path} ({m.dcn})" for m in models)
    raise vs.Error(
        f"lgfn.vapoursynth: {type(backend).__name__} runs the {' or '.join(backend.dcn_forms)} form, "
        f"got {given}; export one with: lgfn export CKPT -o model.onnx --layout stacked "
        f"--dcn {backend.dcn_forms[0]}"
    )
