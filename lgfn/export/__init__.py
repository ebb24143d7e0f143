"""LGFN outside PyTorch: ONNX export and an ONNX Runtime upscaler.

- ``metadata.py``: what an exported file records about itself (scale, frames, configuration,
  checkpoint hash, layout, deformable form, precision) and how it is read back and checked.
- ``onnx_export.py``: :func:`export_onnx` / :func:`export_checkpoint`, the network as one ONNX file.
- ``onnx_runtime.py``: :class:`OnnxNetwork`, an exported file run by ONNX Runtime behind the
  network interface that :class:`~lgfn.inference.VideoSuperResolver` drives, and
  :func:`onnx_resolver`, the upscaler ``lgfn upscale --onnx`` and ``test.py --onnx`` use.

``onnx``, ``onnxscript`` and ``onnxruntime`` are an optional extra (``pip install -e '.[onnx]'``);
:func:`require` turns their absence into one clear error.
"""

from lgfn.export.metadata import DCN_FORMS, LAYOUTS, ONNX_PRECISIONS, OnnxModelInfo, require
from lgfn.export.onnx_export import export_checkpoint, export_onnx
from lgfn.export.onnx_runtime import OnnxNetwork, onnx_resolver

__all__ = [
    "DCN_FORMS",
    "LAYOUTS",
    "ONNX_PRECISIONS",
    "OnnxModelInfo",
    "OnnxNetwork",
    "export_checkpoint",
    "export_onnx",
    "onnx_resolver",
    "require",
]
