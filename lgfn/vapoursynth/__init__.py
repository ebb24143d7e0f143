"""LGFN in VapourSynth: :func:`upscale` runs a file from ``lgfn export --layout stacked`` through
vs-mlrt's plugins (ONNX Runtime, OpenVINO, TensorRT), frame for frame as ``lgfn upscale`` does.

Nothing here imports torch: install into a VapourSynth Python (>= 3.12) with
``pip install --no-deps -r requirements-vapoursynth.txt`` from the project's folder.

- ``model_file.py``: the file's ``lgfn.*`` metadata, read without ``onnx``.
- ``backends.py``: :class:`ORT`, :class:`OV`, :class:`TRT`, the plugins and their knobs.
- ``filter.py``: :func:`upscale`, windows, colour conversion and frame properties.

``upscale`` and the backends are imported on first use, so that the metadata reader works where
VapourSynth itself is not installed.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "upscale": "lgfn.vapoursynth.filter",
    "window_clips": "lgfn.vapoursynth.filter",
    "ORT": "lgfn.vapoursynth.backends",
    "OV": "lgfn.vapoursynth.backends",
    "TRT": "lgfn.vapoursynth.backends",
    "read_model_file": "lgfn.vapoursynth.model_file",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> object:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'lgfn.vapoursynth' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
