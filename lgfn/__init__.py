"""lgfn: the reference PyTorch implementation of LGFN, the Local-Global Fusion Network for video
super-resolution (Su, Wang, Jin, Sun, Peng, IEEE Access 2020).

Quick use::

    import lgfn
    model = lgfn.load_model("lgfn.pth")          # authors' release or a project checkpoint
    sr = model(lr_window)                         # (b, 7, 3, h, w) -> (b, 3, 4h, 4w)

The network and checkpoint names are imported on first use, so that the parts that need no torch
(``lgfn.vapoursynth`` in a VapourSynth Python, ``lgfn.data.windows``) import without it.
"""

from __future__ import annotations

import importlib

from lgfn.errors import CheckpointError, ConfigError, InputDataError, LGFNError

__version__ = "0.1.0"

# Name -> the module that defines it; torch is imported when one of them is first used.
_LAZY = {
    "LGFN": "lgfn.models",
    "LGFNConfig": "lgfn.models",
    "load_model": "lgfn.checkpoint",
    "save_checkpoint": "lgfn.checkpoint",
}

__all__ = [
    "LGFN",
    "CheckpointError",
    "ConfigError",
    "InputDataError",
    "LGFNConfig",
    "LGFNError",
    "__version__",
    "load_model",
    "save_checkpoint",
]


def __getattr__(name: str) -> object:
    if name not in _LAZY:
        raise AttributeError(f"module 'lgfn' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value  # later look-ups skip this function
    return value
