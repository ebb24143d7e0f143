"""Running a trained LGFN over whole clips and video streams.

:class:`VideoSuperResolver` turns a sequence of low-resolution frames into super-resolved frames.
It is shared by ``test.py`` and ``lgfn upscale`` and owns every speed and memory choice:

- temporal windows around each centre frame, with the edge padding of
  :func:`lgfn.data.windows.window_indices`;
- feature reuse: each frame's extracted features are computed once and reused by every window
  that contains the frame (LGFN's extraction is shared by all frames and has no temporal input, so
  this changes nothing but the amount of work);
- several windows per forward pass (``batch``);
- spatial tiles with overlap, blended with linear ramps so seams do not show (``tile``);
- precision: fp32, or bf16 / fp16 autocast, the deformable sampling staying in fp32;
- on CPU, the ``grid_sample`` deformable convolution instead of torchvision's slower kernel;
- the x8 self-ensemble (flips and transposes, outputs averaged);
- streaming: frames are consumed from an iterator and results yielded as soon as their window is
  complete, holding only about ``num_frames + batch`` frames in memory.

:class:`BicubicUpscaler` offers the same interface for the bicubic baseline.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np
import torch

from lgfn.data.windows import window_indices
from lgfn.devices import autocast, check_precision, resolve_device
from lgfn.errors import LGFNError
from lgfn.models.lgfn import LGFN

logger = logging.getLogger(__name__)

#: The 8 dihedral transforms of the self-ensemble as (transpose, flip rows, flip columns).
ENSEMBLE_TRANSFORMS = [(tr, fv, fh) for tr in (False, True) for fv in (False, True) for fh in (False, True)]

Window = tuple[int, list[int]]  # (centre index, frame indices of its window)


def to_tensor(frame: np.ndarray, device: torch.device) -> torch.Tensor:
    """``(h, w, 3)`` uint8 RGB -> ``(3, h, w)`` float32 in [0, 1] on ``device``."""
    return torch.from_numpy(np.ascontiguousarray(frame)).to(device).permute(2, 0, 1).float().div_(255.0)


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """``(3, h, w)`` float -> ``(h, w, 3)`` uint8: clamped to [0, 1], scaled and rounded."""
    return image.float().clamp_(0, 1).mul_(255.0).round_().to(torch.uint8).permute(1, 2, 0).cpu().numpy()


def _transform(x: torch.Tensor, tf: tuple[bool, bool, bool]) -> torch.Tensor:
    """Apply a dihedral transform to the last two axes: transpose, then flip rows, then columns."""
    transpose, flip_v, flip_h = tf
    if transpose:
        x = x.transpose(-2, -1)
    if flip_v:
        x = x.flip(-2)
    if flip_h:
        x = x.flip(-1)
    return x


def _inverse_transform(x: torch.Tensor, tf: tuple[bool, bool, bool]) -> torch.Tensor:
    transpose, flip_v, flip_h = tf
    if flip_h:
        x = x.flip(-1)
    if flip_v:
        x = x.flip(-2)
    if transpose:
        x = x.transpose(-2, -1)
    return x


def tile_starts(size: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of length ``tile`` covering ``[0, size)`` with at least ``overlap`` shared."""
    if tile <= 0 or tile >= size:
        return [0]
    stride = tile - overlap
    starts = list(range(0, size - tile, stride))
    starts.append(size - tile)
    return starts


def _ramp(length: int, overlap_before: int, overlap_after: int) -> torch.Tensor:
    """1-D blending weights: rising over the leading overlap, falling over the trailing one."""
    w = torch.ones(length)
    if overlap_before > 0:
        w[:overlap_before] = torch.arange(1, overlap_before + 1) / (overlap_before + 1)
    if overlap_after > 0:
        w[length - overlap_after :] = torch.arange(overlap_after, 0, -1) / (overlap_after + 1)
    return w


class VideoSuperResolver:
    """Super-resolve clips or streams of LR frames with an :class:`LGFN`.

    Args:
        model: the network; moved to ``device`` and put in eval mode.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``"auto"``.
        precision: ``"fp32"``, ``"bf16"`` (CPU with native bf16 or CUDA) or ``"fp16"`` (CUDA).
        batch: windows per forward pass.
        padding: temporal edge padding, see :func:`lgfn.data.windows.window_indices`.
        tile: LR tile size in pixels (0: whole frames). Large frames are cut into overlapping tiles
            so memory stays bounded.
        tile_overlap: LR pixels shared by neighbouring tiles, blended linearly.
        self_ensemble: average the outputs of the 8 flips/transposes of the input.
        reuse_features: extract each frame's features once and share them between windows;
            ``False`` runs the plain ``model(window)`` forward (the reference path).
        channels_last: run convolutions in channels-last memory format (faster with oneDNN/cuDNN);
            ``None`` picks it on CUDA and on CPU when ``reuse_features`` is on.
        compile: wrap the model's stages in ``torch.compile``.
        dcn_backend: deformable-convolution backend to switch the model to (see
            :mod:`lgfn.models.deform_conv`); ``None`` picks ``"grid_sample"`` (several times faster
            than torchvision's CPU kernel, same function) on CPU when ``reuse_features`` is on and
            leaves the model's own otherwise.

    The model is moved, converted and switched in place; pass a copy to keep the original as it is.
    """

    def __init__(
        self,
        model: LGFN,
        device: str | torch.device = "cpu",
        precision: str = "fp32",
        batch: int = 1,
        padding: str = "new_info",
        tile: int = 0,
        tile_overlap: int = 16,
        self_ensemble: bool = False,
        reuse_features: bool = True,
        channels_last: bool | None = None,
        compile: bool = False,
        dcn_backend: str | None = None,
    ) -> None:
        self.device = resolve_device(device)
        check_precision(precision, option="precision")
        if precision == "fp16" and self.device.type != "cuda":
            raise LGFNError("precision fp16 needs a CUDA device; on CPU use bf16 or fp32")
        if batch < 1:
            raise LGFNError(f"batch must be >= 1, got {batch}")
        if tile < 0 or tile_overlap < 0 or (tile and tile_overlap >= tile):
            raise LGFNError(
                f"need tile >= 0 and 0 <= tile_overlap < tile, got tile={tile}, overlap={tile_overlap}"
            )
        window_indices(0, model.num_frames, 1, padding)  # validates the padding name early
        self.model = model.to(self.device).eval()
        self.precision = precision
        self.batch = batch
        self.padding = padding
        self.tile = tile
        self.tile_overlap = tile_overlap
        self.transforms = ENSEMBLE_TRANSFORMS if self_ensemble else ENSEMBLE_TRANSFORMS[:1]
        self.reuse_features = reuse_features
        if channels_last is None:
            channels_last = reuse_features
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.model.to(memory_format=self.memory_format)
        if dcn_backend is None and reuse_features and self.device.type == "cpu":
            dcn_backend = "grid_sample"
        if dcn_backend is not None:
            self.model.set_dcn_backend(dcn_backend)
        self._extract: Callable[[torch.Tensor], torch.Tensor] = self.model.extract_features
        self._head: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = self.model.forward_features
        self._forward: Callable[[torch.Tensor], torch.Tensor] = self.model
        if compile:
            self._extract = torch.compile(self._extract, dynamic=True)
            self._head = torch.compile(self._head, dynamic=True)
            self._forward = torch.compile(self._forward, dynamic=True)

    @property
    def scale(self) -> int:
        return self.model.scale

    @property
    def num_frames(self) -> int:
        return self.model.num_frames

    # ---------------------------------------------------------------------------------------------
    # Public API

    def upscale_clip(
        self, frames: Sequence[np.ndarray], indices: Sequence[int] | None = None, as_float: bool = False
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Super-resolve chosen frames of a whole clip.

        Args:
            frames: all LR frames of the clip, each ``(h, w, 3)`` uint8 RGB, same size.
            indices: centre frames to produce (default: all), increasing.
            as_float: yield the raw network output ``(3, s*h, s*w)`` float32 tensor (not clamped)
                instead of the 8-bit image; for comparing code paths.

        Yields:
            ``(index, sr)`` in the order of ``indices``; ``sr`` is ``(s*h, s*w, 3)`` uint8 RGB.
        """
        length = len(frames)
        if length == 0:
            raise LGFNError("cannot super-resolve a clip with no frames")
        indices = list(range(length)) if indices is None else list(indices)
        windows = [(k, window_indices(k, self.num_frames, length, self.padding)) for k in indices]
        for index, sr in self._run(iter(windows), frames.__getitem__):
            yield index, (sr if as_float else to_uint8(sr))

    def stream(self, frames: Iterable[np.ndarray], start: int = 0) -> Iterator[np.ndarray]:
        """Super-resolve every frame of a stream, in order, holding only a few frames in memory.

        A window can be run once the frames it needs have arrived; the stream's length is known
        only at its end, so the last ``num_frames // 2`` windows wait for it.

        Args:
            frames: LR frames ``(h, w, 3)`` uint8 RGB, all the same size.
            start: the first frame to super-resolve (to continue an interrupted run); frames before
                it are read, and the last few kept as context, so the outputs are exactly those of
                a run from frame 0.

        Yields:
            SR frames ``(s*h, s*w, 3)`` uint8 RGB, one per input frame from ``start`` on.
        """
        buffer: dict[int, np.ndarray] = {}
        state = {"received": 0, "done": False}
        source = iter(frames)
        # No window from `start` on reaches back more than num_frames - 1 frames.
        first_needed = start - self.num_frames

        def pull(upto: int) -> None:
            while not state["done"] and state["received"] <= upto:
                try:
                    frame = next(source)
                except StopIteration:
                    state["done"] = True
                    return
                if state["received"] >= first_needed:
                    buffer[state["received"]] = frame
                state["received"] += 1

        def windows() -> Iterator[Window]:
            centre = start
            while True:
                # Enough frames for this centre's window whatever the final length turns out to be.
                pull(centre + self.num_frames)
                if centre >= state["received"]:
                    return
                # Until the stream ends, frames received so far bound the length from below,
                # which fixes every window that ends before them.
                length = state["received"]
                idx = window_indices(centre, self.num_frames, length, self.padding)
                yield centre, idx
                # Drop frames that no later window can need; windows wait in batches before they
                # run, so the frames of the last `batch` windows stay.
                keep_from = centre + 1 - (self.num_frames - 1) - self.batch
                for old in [i for i in buffer if i < keep_from]:
                    del buffer[old]
                centre += 1

        for _, sr in self._run(windows(), buffer.__getitem__):
            yield to_uint8(sr)

    # ---------------------------------------------------------------------------------------------
    # Internals

    def _autocast(self):
        return autocast(self.device, self.precision)

    def _run(
        self, windows: Iterator[Window], fetch: Callable[[int], np.ndarray]
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Batch windows, run them and yield ``(centre, sr)`` in order, ``sr`` float ``(3, s*h, s*w)``."""
        # Per (transform, frame index): the LR frame tensor and, when reusing, its features.
        cache: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor | None]] = {}
        pending: list[Window] = []
        with torch.inference_mode():
            for window in windows:
                pending.append(window)
                if len(pending) == self.batch:
                    yield from self._run_batch(pending, fetch, cache)
                    self._evict(cache, pending[-1][0])
                    pending = []
            if pending:
                yield from self._run_batch(pending, fetch, cache)

    def _evict(self, cache: dict, last_centre: int) -> None:
        # Later windows have centres > last_centre and never reach back more than t-1 frames.
        oldest = last_centre + 1 - (self.num_frames - 1)
        for key in [k for k in cache if k[1] < oldest]:
            del cache[key]

    def _frame(self, cache: dict, fetch: Callable[[int], np.ndarray], tf_id: int, index: int):
        key = (tf_id, index)
        if key not in cache:
            frame = _transform(to_tensor(fetch(index), self.device), self.transforms[tf_id])
            features = None
            if self.reuse_features:
                with self._autocast():
                    lr = frame[None, None].contiguous(memory_format=torch.contiguous_format)
                    features = self._extract(lr)[0, 0]  # (c, h, w)
            cache[key] = (frame, features)
        return cache[key]

    def _run_batch(self, windows: list[Window], fetch, cache: dict) -> Iterator[tuple[int, np.ndarray]]:
        total = None
        for tf_id, tf in enumerate(self.transforms):
            entries = [[self._frame(cache, fetch, tf_id, i) for i in idx] for _, idx in windows]
            frames = torch.stack([torch.stack([e[0] for e in row]) for row in entries])  # (B, t, 3, h, w)
            features = None
            if self.reuse_features:
                features = torch.stack(
                    [torch.stack([e[1] for e in row]) for row in entries]
                )  # (B, t, c, h, w)
            out = self._tiled(frames, features)  # (B, 3, s*h, s*w), float32
            out = _inverse_transform(out, tf)
            total = out if total is None else total.add_(out)
        total = total / len(self.transforms)
        for (centre, _), sr in zip(windows, total, strict=True):
            yield centre, sr

    def _forward_crop(self, frames: torch.Tensor, features: torch.Tensor | None) -> torch.Tensor:
        """One forward pass on (possibly cropped) windows; returns float32 ``(B, 3, s*h, s*w)``."""
        m = frames.shape[1] // 2
        with self._autocast():
            if features is None:
                out = self._forward(frames)
            else:
                b, t, c, h, w = features.shape
                # channels-last applies to the 4-D views the convolutions see.
                flat = features.reshape(b * t, c, h, w).contiguous(memory_format=self.memory_format)
                centre = frames[:, m].contiguous(memory_format=self.memory_format)
                out = self._head(flat.reshape(b, t, c, h, w), centre)
        return out.float()

    def _tiled(self, frames: torch.Tensor, features: torch.Tensor | None) -> torch.Tensor:
        b, t, _, h, w = frames.shape
        s = self.scale
        ys = tile_starts(h, self.tile, self.tile_overlap)
        xs = tile_starts(w, self.tile, self.tile_overlap)
        if len(ys) == 1 and len(xs) == 1:
            return self._forward_crop(frames, features)
        th, tw = min(self.tile, h), min(self.tile, w)
        out = torch.zeros(b, 3, s * h, s * w, device=self.device)
        weight = torch.zeros(1, 1, s * h, s * w, device=self.device)
        for iy, y0 in enumerate(ys):
            for ix, x0 in enumerate(xs):
                crop = (..., slice(y0, y0 + th), slice(x0, x0 + tw))
                sr = self._forward_crop(frames[crop], None if features is None else features[crop])
                # Overlap with the previous / next tile on each axis, in HR pixels.
                top = s * (ys[iy - 1] + th - y0) if iy > 0 else 0
                bottom = s * (y0 + th - ys[iy + 1]) if iy + 1 < len(ys) else 0
                left = s * (xs[ix - 1] + tw - x0) if ix > 0 else 0
                right = s * (x0 + tw - xs[ix + 1]) if ix + 1 < len(xs) else 0
                wy = _ramp(s * th, top, bottom).to(self.device)
                wx = _ramp(s * tw, left, right).to(self.device)
                wmap = wy[:, None] * wx[None, :]
                region = (..., slice(s * y0, s * (y0 + th)), slice(s * x0, s * (x0 + tw)))
                out[region] += sr * wmap
                weight[region] += wmap
        return out / weight


def resolver_from_args(model: LGFN, args, device: torch.device) -> VideoSuperResolver:
    """Build the resolver from the inference options that ``test.py`` and ``lgfn upscale`` share.

    ``args`` has ``precision``, ``batch``, ``padding``, ``tile``, ``tile_overlap``, ``plain``
    (the reference path) and ``compile``, and optionally ``self_ensemble``. On CUDA the fast path
    also lets cuDNN time its convolution algorithms once per frame size (a video keeps its size).
    """
    if device.type == "cuda" and not args.plain:
        torch.backends.cudnn.benchmark = True
    return VideoSuperResolver(
        model,
        device=device,
        precision=args.precision,
        batch=args.batch,
        padding=args.padding,
        tile=args.tile,
        tile_overlap=args.tile_overlap,
        self_ensemble=getattr(args, "self_ensemble", False),
        reuse_features=not args.plain,
        channels_last=not args.plain,
        compile=args.compile,
    )


class BicubicUpscaler:
    """The bicubic baseline (MATLAB-compatible) behind the :class:`VideoSuperResolver` interface.

    Args:
        scale: upsampling factor.
    """

    def __init__(self, scale: int = 4) -> None:
        self.scale = scale
        self.num_frames = 1

    def upscale_clip(
        self, frames: Sequence[np.ndarray], indices: Sequence[int] | None = None
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(index, bicubic(frames[index]))`` for each index (default all), uint8 RGB."""
        from lgfn.data.degradations import bicubic_upscale

        for i in range(len(frames)) if indices is None else indices:
            yield i, bicubic_upscale(frames[i], self.scale)

    def stream(self, frames: Iterable[np.ndarray], start: int = 0) -> Iterator[np.ndarray]:
        """Yield the bicubic upscaling of every frame from index ``start`` on, in order."""
        from lgfn.data.degradations import bicubic_upscale

        for frame in itertools.islice(frames, start, None):
            yield bicubic_upscale(frame, self.scale)
