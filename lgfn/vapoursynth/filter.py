"""LGFN as a VapourSynth filter: :func:`upscale`, a clip in and the clip ``scale`` times larger out.

Each output frame ``n`` is the network's answer for the window of frames :func:`window_indices`
gives for ``n`` (the ``new_info`` padding of ``lgfn upscale`` at both ends of the clip). The window
is built as ``t`` shifted copies of the clip, one per window position, each a splice of trims of
the clip, which vs-mlrt stacks along the channels of the network's ``(1, 3t, h, w)`` input.

Colour: the network sees RGB in [0, 1]. A YUV clip is converted with its ``_Matrix``, ``_Range``
(``_ColorRange`` before R81) and ``_ChromaLocation`` (read from its first frame); where unspecified,
as ``lgfn upscale`` reads a video that declares nothing (FFmpeg's defaults): BT.601, limited range,
chroma left. The result returns to the clip's own format with the same values, except an
unspecified matrix, which becomes the one ``lgfn upscale`` writes: BT.709 from 720 lines up,
BT.601 below. Input and output are clamped to [0, 1] in RGB, as ``lgfn upscale``'s 8-bit frames
are. The output frames carry the input frames' properties, with the colour ones updated.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import vapoursynth as vs

from lgfn.colour import UNTAGGED_MATRIX, output_matrix_code
from lgfn.data.windows import window_indices
from lgfn.vapoursynth.backends import Backend, pick_model, resolve_backend
from lgfn.vapoursynth.model_file import ModelFile, ModelFileError, read_model_file

# VapourSynth's codes (the ITU-T H.273 ones) for RGB, an unspecified matrix and the chroma location.
_MATRIX_RGB, _MATRIX_UNSPECIFIED = 0, 2
_CHROMA_LEFT = 0


@dataclass(frozen=True)
class Colour:
    """How a clip's samples map to RGB.

    Attributes:
        matrix: the YUV matrix code (``_Matrix``; 0 for RGB).
        range: ``"full"`` or ``"limited"``.
        chromaloc: the chroma location code (``_ChromaLocation``).
        matrix_given: whether the clip declared its matrix (else :func:`upscale` chose BT.601).
    """

    matrix: int
    range: str
    chromaloc: int
    matrix_given: bool

    def props(self, rgb: bool) -> dict[str, int]:
        """The colour frame properties of a clip in this colour (``rgb``: after conversion to RGB)."""
        full = self.range == "full"
        # Newer VapourSynth (R81 here) replaces _ColorRange (0 = full) with _Range (1 = full).
        colour_range = {"_Range": int(full)} if hasattr(vs, "Range") else {"_ColorRange": int(not full)}
        if rgb:
            return {"_Matrix": _MATRIX_RGB, **colour_range}
        return {"_Matrix": self.matrix, "_ChromaLocation": self.chromaloc, **colour_range}


def _error(message: str) -> vs.Error:
    return vs.Error(f"lgfn.vapoursynth.upscale: {message}")


def _pair(value: int | Sequence[int] | None, name: str) -> tuple[int, int] | None:
    """``(w, h)`` from one number (both) or two."""
    if value is None:
        return None
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and v >= 0 for v in pair):
        raise _error(f"{name} must be a number or (w, h) of non-negative numbers, got {value!r}")
    return pair


def _check_clip(clip: vs.VideoNode) -> None:
    if not isinstance(clip, vs.VideoNode):
        raise _error(f"clip must be a VapourSynth video clip, got {type(clip).__name__}")
    if clip.format is None or clip.width == 0 or clip.height == 0:
        raise _error("the clip changes format or size between frames; expected one format and size")
    family = clip.format.color_family
    if family not in (vs.YUV, vs.RGB):
        raise _error(f"the clip is {clip.format.name}; expected YUV or RGB (8-16 bit integer, half or float)")


def _models(model: str | os.PathLike | Sequence[str | os.PathLike]) -> list[ModelFile]:
    paths = [model] if isinstance(model, str | os.PathLike) else list(model)
    if not paths:
        raise _error("model must name at least one ONNX file from `lgfn export`")
    try:
        return [read_model_file(path) for path in paths]
    except ModelFileError as exc:
        raise _error(str(exc)) from None


def _check_tiles(clip: vs.VideoNode, tilesize: tuple[int, int], overlap: tuple[int, int]) -> None:
    for axis, tile, margin, size in zip("wh", tilesize, overlap, (clip.width, clip.height), strict=True):
        if not 2 * margin < tile <= size:
            raise _error(
                f"tilesize {axis}={tile} with overlap {margin}: expected 2 * overlap < tilesize <= the "
                f"clip's {size}"
            )


def _check_model(
    model: ModelFile, clip: vs.VideoNode, tilesize: tuple[int, int] | None, overlap: tuple[int, int] | None
) -> None:
    if model.layout != "stacked":
        raise _error(
            f"{model.path} takes (1, t, 3, h, w) windows ({model.layout} layout); vs-mlrt passes frames "
            "stacked along the channels: export with --layout stacked"
        )
    if model.precision != "fp32":
        raise _error(
            f"{model.path} is a {model.precision} file; the plugins feed fp32 frames: export fp32 and "
            "pass fp16=True to the backend instead"
        )
    if tilesize is not None:
        _check_tiles(clip, tilesize, overlap)
    width, height = tilesize or (clip.width, clip.height)
    if model.size is not None and model.size != (height, width):
        raise _error(
            f"{model.path} takes {model.size[1]}x{model.size[0]} frames only (exported with --size); "
            f"the {'tiles are' if tilesize else 'clip is'} {width}x{height}: pass tilesize="
            f"({model.size[1]}, {model.size[0]}) or export without --size"
        )


def _range(props: vs.FrameProps, default: str) -> str:
    if "_Range" in props:
        return "full" if int(props["_Range"]) == 1 else "limited"
    if "_ColorRange" in props:
        return "full" if int(props["_ColorRange"]) == 0 else "limited"
    return default


def _colour(clip: vs.VideoNode) -> Colour:
    """The colour of the clip's first frame, unspecified values filled in as ``lgfn upscale`` reads."""
    props = clip.get_frame(0).props
    if clip.format.color_family == vs.RGB:
        return Colour(_MATRIX_RGB, _range(props, "full"), _CHROMA_LEFT, True)
    matrix = int(props.get("_Matrix", _MATRIX_UNSPECIFIED))
    given = matrix != _MATRIX_UNSPECIFIED
    chromaloc = int(props.get("_ChromaLocation", _CHROMA_LEFT))
    return Colour(matrix if given else UNTAGGED_MATRIX, _range(props, "limited"), chromaloc, given)


def _to_rgbs(clip: vs.VideoNode, colour: Colour) -> vs.VideoNode:
    """The clip as RGB float in [0, 1] (clamped, as 8-bit RGB frames are)."""
    if clip.format.color_family == vs.YUV:
        rgb = vs.core.resize.Bicubic(clip, format=vs.RGBS, matrix_in=colour.matrix, range_in_s=colour.range,
                                     chromaloc_in=colour.chromaloc)  # fmt: skip
    elif clip.format.id != vs.RGBS or colour.range != "full":
        rgb = vs.core.resize.Point(clip, format=vs.RGBS, range_in_s=colour.range, range_s="full")
    else:
        rgb = clip
    return vs.core.std.Limiter(rgb, min=0.0, max=1.0)


def _runs(indices: list[int]) -> list[tuple[int, int]]:
    """``indices`` as runs ``(first, last)`` of consecutive frames."""
    runs = [(indices[0], indices[0])]
    for index in indices[1:]:
        first, last = runs[-1]
        if index == last + 1:
            runs[-1] = (first, index)
        else:
            runs.append((index, index))
    return runs


def _position_indices(position: int, num_frames: int, length: int) -> list[int]:
    """Window position ``position``'s frame for every frame of the clip (``window_indices``)."""
    half = num_frames // 2
    # Only the first and last `half` windows reach past the clip; between them frame n takes
    # n - half + position.
    head = range(min(half, length))
    tail = range(max(length - half, len(head)), length)
    middle = range(len(head) + position - half, tail.start + position - half)
    return [
        *(window_indices(n, num_frames, length)[position] for n in head),
        *middle,
        *(window_indices(n, num_frames, length)[position] for n in tail),
    ]


def window_clips(clip: vs.VideoNode, num_frames: int) -> list[vs.VideoNode]:
    """The ``num_frames`` shifted copies of ``clip`` that vs-mlrt stacks: copy ``j``'s frame ``n`` is
    position ``j`` of frame ``n``'s window (:func:`window_indices`, ``new_info`` padding)."""
    copies = []
    for position in range(num_frames):
        runs = _runs(_position_indices(position, num_frames, clip.num_frames))
        pieces = [clip[first : last + 1] for first, last in runs]
        copies.append(pieces[0] if len(pieces) == 1 else vs.core.std.Splice(pieces))
    return copies


def _from_rgbs(rgb: vs.VideoNode, like: vs.VideoNode, colour: Colour, rgbs: bool) -> vs.VideoNode:
    """The network's output in ``like``'s format (or RGBS), with ``like``'s frame properties."""
    rgb = vs.core.std.Limiter(rgb, min=0.0, max=1.0)
    if rgbs or like.format.color_family == vs.RGB:
        colour = Colour(_MATRIX_RGB, "full" if rgbs else colour.range, _CHROMA_LEFT, True)
        if not rgbs and (like.format.id != vs.RGBS or colour.range != "full"):
            rgb = vs.core.resize.Point(rgb, format=like.format.id, range_in_s="full", range_s=colour.range)
        out = rgb
    else:
        if not colour.matrix_given:  # written as lgfn upscale writes an output of this height
            colour = Colour(output_matrix_code(rgb.height), colour.range, colour.chromaloc, False)
        out = vs.core.resize.Bicubic(rgb, format=like.format.id, matrix_in_s="rgb", matrix=colour.matrix,
                                     range_in_s="full", range_s=colour.range,
                                     chromaloc=colour.chromaloc)  # fmt: skip
    # The plugins give each frame the properties of the first window copy's frame (n - t//2).
    out = vs.core.std.CopyFrameProps(vs.core.std.RemoveFrameProps(out), like)
    rgb_out = out.format.color_family == vs.RGB
    if rgb_out:
        out = vs.core.std.RemoveFrameProps(out, ["_ChromaLocation"])
    return vs.core.std.SetFrameProps(out, **colour.props(rgb_out))


def upscale(
    clip: vs.VideoNode,
    model: str | os.PathLike | Sequence[str | os.PathLike],
    backend: str | Backend = "ort-cpu",
    *,
    tilesize: int | Sequence[int] | None = None,
    overlap: int | Sequence[int] | None = None,
    rgbs: bool = False,
) -> vs.VideoNode:
    """Super-resolve ``clip`` with an exported LGFN.

    Args:
        clip: YUV (4:2:0, 4:2:2, 4:4:4; 8-16 bit or float) or RGB (RGB24, RGB48, RGBH, RGBS...)
            of one format and size, as a source filter gives it.
        model: an ONNX file from ``lgfn export ... --layout stacked``, or several (e.g. the
            ``deform_conv`` and ``grid_sample`` exports): the first whose form the backend takes
            is run. Scale and window length come from the file's ``lgfn.*`` metadata.
        backend: ``"ort-cpu"``, ``"ort-cuda"``, ``"ov-cpu"``, ``"ov-gpu"``, ``"trt"``, or an
            :class:`~lgfn.vapoursynth.backends.ORT` / ``OV`` / ``TRT`` object with its knobs
            (device, ``fp16``, ``num_streams``...).
        tilesize: run the network on tiles of this many input pixels, ``w`` or ``(w, h)``
            (overlap included), for frames too large for memory; default: whole frames.
        overlap: input pixels each tile shares with its neighbours, cut from its output
            (default 16 when tiling).
        rgbs: return RGBS instead of the input's format.

    Returns:
        The clip ``scale`` times wider and higher, same frame count, rate and frame properties, in
        the input's format (RGBS with ``rgbs=True``).

    Raises:
        vs.Error: the clip or a model file is not one this filter takes (the message says why).
    """
    _check_clip(clip)
    tiles, margins = _pair(tilesize, "tilesize"), _pair(overlap, "overlap")
    if tiles is not None and margins is None:
        margins = (16, 16)
    runner = resolve_backend(backend)
    network = pick_model(_models(model), runner)
    _check_model(network, clip, tiles, margins)
    colour = _colour(clip)
    copies = window_clips(_to_rgbs(clip, colour), network.num_frames)
    try:
        sr = runner.run(copies, network, tiles, margins)
    except vs.Error as exc:
        raise _error(f"{type(runner).__name__} could not run {network.path}: {exc}") from None
    return _from_rgbs(sr, clip, colour, rgbs)
