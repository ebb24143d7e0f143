"""tLP: the temporal LPIPS of TecoGAN (Chu et al. 2020), from weights on disk, never downloaded.

For two consecutive frames ``k-1, k`` of a clip:

    tLP(k) = | LPIPS(SR[k-1], SR[k]) - LPIPS(GT[k-1], GT[k]) |

LPIPS (Zhang et al. 2018, version 0.1, AlexNet trunk) is the perceptual distance of the ``lpips``
package: its linear layers ship inside the package; the AlexNet trunk is torchvision's ImageNet
AlexNet, read from the file the user gives (``test.py --lpips-weights alexnet-owt-7be5be79.pth``,
a state dict with ``features.*`` keys) instead of the network. Frames enter as RGB scaled to
``[-1, 1]``, after ``crop_border`` pixels are removed at each side. Lower is better; 0 means
consecutive SR frames differ perceptually as much as the ground truth's do.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from lgfn.errors import CheckpointError, ConfigError

#: ``lpips`` keeps AlexNet's ``features`` layers in five slices: ``{feature index: slice number}``.
ALEXNET_SLICES = {0: 1, 3: 2, 6: 3, 8: 4, 10: 5}


class TemporalLPIPS:
    """LPIPS (AlexNet, v0.1) with its trunk read from a file, and tLP of frame pairs.

    Args:
        weights: torchvision's ImageNet AlexNet state dict (``alexnet-owt-7be5be79.pth``).
        device: where the network runs.

    Raises:
        ConfigError: the ``lpips`` package is not installed.
        CheckpointError: the file is missing, unreadable or not AlexNet's weights.
    """

    def __init__(self, weights: str | Path, device: torch.device | str = "cpu") -> None:
        try:
            import lpips
        except ImportError:
            raise ConfigError("tLP needs the lpips package: pip install lpips==0.1.4") from None
        self.device = torch.device(device)
        with warnings.catch_warnings():  # lpips asks torchvision for an untrained AlexNet the old way
            warnings.simplefilter("ignore", UserWarning)
            self.model = lpips.LPIPS(net="alex", pnet_rand=True, verbose=False)
        try:
            self.model.net.load_state_dict(_trunk_state(Path(weights)))
        except RuntimeError as exc:  # AlexNet's names with other shapes
            raise CheckpointError(f"--lpips-weights {weights} is not torchvision's AlexNet: {exc}") from None
        self.model.to(self.device).eval()

    @torch.no_grad()
    def distance(self, a: np.ndarray, b: np.ndarray, crop_border: int = 0) -> float:
        """LPIPS between two frames.

        Args:
            a, b: ``(h, w, 3)`` uint8 RGB of the same shape.
            crop_border: pixels removed from each side.

        Returns:
            The distance (0 for identical frames).
        """
        pair = torch.from_numpy(np.stack([a, b])).to(self.device).permute(0, 3, 1, 2).float()  # (2, 3, h, w)
        if crop_border:
            pair = pair[..., crop_border:-crop_border, crop_border:-crop_border]
        pair = pair / 127.5 - 1  # [-1, 1], as LPIPS expects
        return float(self.model(pair[:1], pair[1:]).item())

    def tlp(
        self,
        sr_previous: np.ndarray,
        sr: np.ndarray,
        gt_previous: np.ndarray,
        gt: np.ndarray,
        crop_border: int = 0,
    ) -> float:
        """tLP of one pair of consecutive frames (see the module docstring); all ``(h, w, 3)`` uint8."""
        moved = self.distance(sr_previous, sr, crop_border)
        return abs(moved - self.distance(gt_previous, gt, crop_border))


def _trunk_state(path: Path) -> dict[str, torch.Tensor]:
    """The AlexNet ``features`` weights of ``path`` under the names of ``lpips``'s trunk."""
    if not path.is_file():
        raise CheckpointError(
            f"--lpips-weights {path}: no such file; give torchvision's ImageNet AlexNet weights "
            f"(alexnet-owt-7be5be79.pth)"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        trunk = {
            f"slice{number}.{index}.{name}": state[f"features.{index}.{name}"]
            for index, number in ALEXNET_SLICES.items()
            for name in ("weight", "bias")
        }
    except Exception as exc:  # not a state dict, or one without AlexNet's layers
        raise CheckpointError(
            f"--lpips-weights {path} is not torchvision's AlexNet state dict ({type(exc).__name__}: {exc})"
        ) from None
    return trunk
