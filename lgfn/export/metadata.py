"""What an exported LGFN ONNX file says about itself, and the check that a file is one.

Every entry lives in the model's ``metadata_props`` under an ``lgfn.`` key, as text:

==========================  ==================================================================
``lgfn.format``             ``lgfn-onnx`` (marks a file written by ``lgfn export``)
``lgfn.format_version``     ``1``
``lgfn.scale``              upscaling factor ``s``
``lgfn.num_frames``         frames ``t`` of one window
``lgfn.config``             the :class:`~lgfn.models.LGFNConfig` as JSON
``lgfn.checkpoint_sha256``  SHA-256 of the checkpoint file exported (empty for in-memory weights)
``lgfn.layout``             ``frames``: input ``(1, t, 3, h, w)``; ``stacked``: ``(1, 3t, h, w)``
``lgfn.dcn``                ``deform_conv`` (ONNX ``DeformConv``) or ``grid_sample`` (``GridSample``)
``lgfn.precision``          ``fp32`` or ``fp16`` (input, weights, activations and output)
``lgfn.size``               ``dynamic``, or the fixed input size ``HxW``
``lgfn.exporter``           the exporter, torch version and opset
``lgfn.version``            the lgfn version that wrote it
==========================  ==================================================================
"""

from __future__ import annotations

import importlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from lgfn.errors import CheckpointError, LGFNError
from lgfn.models.lgfn import LGFNConfig

#: How the deformable convolution is written in the graph.
DCN_FORMS = ("deform_conv", "grid_sample")
#: Input layouts: the project's ``(b, t, 3, h, w)``, or frames stacked along the channels.
LAYOUTS = ("frames", "stacked")
#: Precisions of an exported file.
ONNX_PRECISIONS = ("fp32", "fp16")
FORMAT = "lgfn-onnx"
FORMAT_VERSION = 1
#: The command that installs the optional ONNX dependencies.
INSTALL_HINT = "pip install -e '.[onnx]' (or: pip install -r requirements-dev.txt)"


def require(module: str) -> ModuleType:
    """Import ``module`` (``onnx``, ``onnxruntime``, ``onnxscript``) or fail with the install command.

    Raises:
        LGFNError: the module is not installed.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise LGFNError(
            f"ONNX export and --onnx need the '{module}' package ({exc}); install: {INSTALL_HINT}"
        ) from None


@dataclass(frozen=True)
class OnnxModelInfo:
    """The ``lgfn.*`` metadata of an exported file, parsed.

    Attributes:
        config: the network's configuration.
        layout: ``"frames"`` or ``"stacked"``.
        dcn: ``"deform_conv"`` or ``"grid_sample"``.
        precision: ``"fp32"`` or ``"fp16"``.
        size: the fixed input size ``(h, w)``, or ``None`` for any size.
        checkpoint_sha256: hash of the exported checkpoint file ("" when unknown).
    """

    config: LGFNConfig
    layout: str
    dcn: str
    precision: str
    size: tuple[int, int] | None
    checkpoint_sha256: str = ""

    @property
    def scale(self) -> int:
        return self.config.scale

    @property
    def num_frames(self) -> int:
        return self.config.num_frames

    def input_shape(self) -> list[int | None]:
        """The input's shape (one window), ``None`` where it is free (height and width when dynamic)."""
        h, w = self.size if self.size else (None, None)
        t = self.num_frames
        return [1, t, 3, h, w] if self.layout == "frames" else [1, 3 * t, h, w]

    def to_props(self, exporter: str, version: str) -> dict[str, str]:
        """The ``metadata_props`` entries of a file exported with these settings."""
        return {
            "lgfn.format": FORMAT,
            "lgfn.format_version": str(FORMAT_VERSION),
            "lgfn.scale": str(self.scale),
            "lgfn.num_frames": str(self.num_frames),
            "lgfn.config": json.dumps(self.config.to_dict(), sort_keys=True),
            "lgfn.checkpoint_sha256": self.checkpoint_sha256,
            "lgfn.layout": self.layout,
            "lgfn.dcn": self.dcn,
            "lgfn.precision": self.precision,
            "lgfn.size": "dynamic" if self.size is None else f"{self.size[0]}x{self.size[1]}",
            "lgfn.exporter": exporter,
            "lgfn.version": version,
        }

    @classmethod
    def from_props(cls, props: dict[str, str], path: str | os.PathLike) -> OnnxModelInfo:
        """Parse the metadata of the file ``path`` (named in errors).

        Raises:
            CheckpointError: the file was not written by ``lgfn export``, by a newer version, or its
                metadata is inconsistent.
        """
        if props.get("lgfn.format") != FORMAT:
            raise CheckpointError(
                f"{path} is an ONNX file but not an exported LGFN (no lgfn.format metadata); "
                "make one with: lgfn export CKPT -o model.onnx"
            )
        try:
            if int(props["lgfn.format_version"]) > FORMAT_VERSION:
                raise CheckpointError(
                    f"{path} was exported by a newer lgfn (format {props['lgfn.format_version']})"
                )
            config = LGFNConfig.from_dict(json.loads(props["lgfn.config"]))
            size = (
                None
                if props["lgfn.size"] == "dynamic"
                else tuple(int(v) for v in props["lgfn.size"].split("x"))
            )
            info = cls(config, props["lgfn.layout"], props["lgfn.dcn"], props["lgfn.precision"], size,
                       props.get("lgfn.checkpoint_sha256", ""))  # fmt: skip
            consistent = (
                str(config.scale) == props["lgfn.scale"]
                and str(config.num_frames) == props["lgfn.num_frames"]
                and info.layout in LAYOUTS
                and info.precision in ONNX_PRECISIONS
                and (size is None or len(size) == 2)
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise CheckpointError(
                f"{path}: the lgfn metadata is damaged ({type(exc).__name__}: {exc})"
            ) from exc
        if not consistent:
            raise CheckpointError(f"{path}: the lgfn metadata contradicts itself; export the file again")
        return info


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes, as hex."""
    import hashlib

    digest = hashlib.sha256()
    with open(Path(path), "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
