"""lgfn: the reference PyTorch implementation of LGFN, the Local-Global Fusion Network for video
super-resolution (Su, Wang, Jin, Sun, Peng, IEEE Access 2020).

Quick use::

    import lgfn
    model = lgfn.load_model("lgfn.pth")          # authors' release or a project checkpoint
    sr = model(lr_window)                         # (b, 7, 3, h, w) -> (b, 3, 4h, 4w)
"""

from lgfn.checkpoint import load_model, save_checkpoint
from lgfn.errors import CheckpointError, ConfigError, InputDataError, LGFNError
from lgfn.models import LGFN, LGFNConfig

__version__ = "0.1.0"

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
