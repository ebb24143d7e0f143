"""What an ONNX file from ``lgfn export`` says about itself, read without ``onnx`` or ``torch``.

A VapourSynth environment with vs-mlrt's plugins has neither Python package, so the ``lgfn.*``
entries of the file's ``metadata_props`` (see :mod:`lgfn.export.metadata`, which writes them) are
read here straight from the protobuf encoding: a ``ModelProto`` is a sequence of tagged fields,
``metadata_props`` is field 14, each entry a message with ``key`` (1) and ``value`` (2). Every other
field, the graph and its weights included, is skipped by its length without being read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

# The values lgfn.export.metadata writes (tests/vapoursynth checks that the two agree).
FORMAT = "lgfn-onnx"
FORMAT_VERSION = 1
DCN_FORMS = ("deform_conv", "grid_sample")
LAYOUTS = ("frames", "stacked")
ONNX_PRECISIONS = ("fp32", "fp16")

_METADATA_PROPS_FIELD = 14
_VARINT, _FIXED64, _LENGTH, _FIXED32 = 0, 1, 2, 5


class ModelFileError(ValueError):
    """The file is not an ONNX file from ``lgfn export`` that this reader understands."""


def _varint(handle: BinaryIO) -> int | None:
    """The next base-128 integer, or ``None`` at the end of the file."""
    value, shift = 0, 0
    while True:
        byte = handle.read(1)
        if not byte:
            if shift:
                raise ModelFileError("the file ends inside a number")
            return None
        value |= (byte[0] & 0x7F) << shift
        if not byte[0] & 0x80:
            return value
        shift += 7
        if shift > 63:
            raise ModelFileError("a number longer than 64 bits")


def _entry(data: bytes) -> tuple[str, str]:
    """``key`` and ``value`` of one encoded ``StringStringEntryProto``."""
    fields = {1: "", 2: ""}
    position = 0
    while position < len(data):
        tag, position = _varint_at(data, position)
        length, position = _varint_at(data, position)
        if tag & 7 != _LENGTH or position + length > len(data):
            raise ModelFileError("a damaged metadata entry")
        fields[tag >> 3] = data[position : position + length].decode("utf-8")
        position += length
    return fields[1], fields[2]


def _varint_at(data: bytes, position: int) -> tuple[int, int]:
    value, shift = 0, 0
    while position < len(data):
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, position
        shift += 7
    raise ModelFileError("a metadata entry ends inside a number")


def read_metadata_props(path: str | os.PathLike) -> dict[str, str]:
    """Every ``metadata_props`` entry of the ONNX file ``path``.

    Raises:
        ModelFileError: the file is not a protobuf-encoded ONNX model.
        OSError: the file cannot be read.
    """
    props: dict[str, str] = {}
    size = os.path.getsize(path)
    with open(path, "rb") as handle:
        while (tag := _varint(handle)) is not None:
            field, wire = tag >> 3, tag & 7
            if field == 0 or wire not in (_VARINT, _FIXED64, _LENGTH, _FIXED32):
                raise ModelFileError(f"field {field} has the unknown wire type {wire}")
            if wire == _VARINT:
                _varint(handle)
            elif wire in (_FIXED64, _FIXED32):
                handle.seek(8 if wire == _FIXED64 else 4, os.SEEK_CUR)
            else:
                length = _varint(handle)
                if length is None or handle.tell() + length > size:
                    raise ModelFileError(f"field {field} runs past the end of the file")
                if field == _METADATA_PROPS_FIELD:
                    key, value = _entry(handle.read(length))
                    props[key] = value
                else:
                    handle.seek(length, os.SEEK_CUR)
        if handle.tell() > size:
            raise ModelFileError("the last field runs past the end of the file")
    return props


@dataclass(frozen=True)
class ModelFile:
    """An exported LGFN file as the VapourSynth filter needs it.

    Attributes:
        path: the ``.onnx`` file.
        scale: upscaling factor ``s``.
        num_frames: frames ``t`` of one window.
        layout: ``"frames"`` (input ``(1, t, 3, h, w)``) or ``"stacked"`` (``(1, 3t, h, w)``).
        dcn: ``"deform_conv"`` (ONNX ``DeformConv``) or ``"grid_sample"`` (``GridSample``).
        precision: ``"fp32"`` or ``"fp16"``.
        size: the fixed input size ``(h, w)``, or ``None`` for any size.
    """

    path: Path
    scale: int
    num_frames: int
    layout: str
    dcn: str
    precision: str
    size: tuple[int, int] | None


def read_model_file(path: str | os.PathLike) -> ModelFile:
    """Read and check the ``lgfn.*`` metadata of ``path``.

    Raises:
        ModelFileError: the file is missing, is not ONNX, was not written by ``lgfn export`` (or
            by a newer one), or its metadata is damaged.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such file; expected an ONNX file from `lgfn export`")
    try:
        props = read_metadata_props(path)
    except (ModelFileError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{path} is not an ONNX file ({exc})") from None
    if props.get("lgfn.format") != FORMAT:
        raise ModelFileError(
            f"{path} has no lgfn metadata (lgfn.format); expected a file made by "
            "`lgfn export CKPT -o model.onnx --layout stacked`"
        )
    try:
        version = int(props["lgfn.format_version"])
        size_text = props["lgfn.size"]
        size = None if size_text == "dynamic" else tuple(int(v) for v in size_text.split("x"))
        info = ModelFile(path, int(props["lgfn.scale"]), int(props["lgfn.num_frames"]), props["lgfn.layout"],
                         props["lgfn.dcn"], props["lgfn.precision"], size)  # fmt: skip
    except (KeyError, ValueError) as exc:
        raise ModelFileError(f"{path}: the lgfn metadata is damaged ({type(exc).__name__}: {exc})") from None
    if version > FORMAT_VERSION:
        raise ModelFileError(f"{path} was exported by a newer lgfn (format {version}); update lgfn")
    consistent = (
        info.scale >= 1
        and info.num_frames >= 1
        and info.num_frames % 2 == 1
        and info.layout in LAYOUTS
        and info.dcn in DCN_FORMS
        and info.precision in ONNX_PRECISIONS
        and (size is None or len(size) == 2)
    )
    if not consistent:
        raise ModelFileError(f"{path}: the lgfn metadata contradicts itself; export the file again")
    return info
