"""Running a trained LGFN over whole clips and video streams.

:class:`VideoSuperResolver` turns a sequence of low-resolution frames into super-resolved frames.
It is shared by ``test.py``, ``lgfn upscale`` and validation during training, and owns every speed
and memory choice:

- temporal windows around each centre frame, with the edge padding of
  :func:`lgfn.data.windows.window_indices`;
- feature reuse: each frame's extracted features are computed once and reused by every window
  that contains the frame (LGFN's extraction is shared by all frames and has no temporal input, so
  this changes nothing but the amount of work);
- several windows per forward pass (``batch``);
- spatial tiles with overlap, blended so seams do not show (:mod:`lgfn.inference.tiles`);
- precision: fp32, or bf16 / fp16 autocast, the deformable sampling staying in fp32;
- on CPU, the ``grid_sample`` deformable convolution instead of torchvision's slower kernel;
- the x8 self-ensemble (:mod:`lgfn.inference.ensemble`);
- streaming: frames are consumed from an iterator and results yielded as soon as their window is
  complete, holding only about ``num_frames + batch`` frames in memory
  (:mod:`lgfn.inference.streaming`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager

import numpy as np
import torch

from lgfn.data.windows import window_indices
from lgfn.devices import autocast, check_precision_on, resolve_device
from lgfn.errors import LGFNError, memory_error
from lgfn.inference.ensemble import ENSEMBLE_TRANSFORMS, inverse_transform, transform
from lgfn.inference.options import InferenceOptions
from lgfn.inference.streaming import StreamWindows, Window
from lgfn.inference.tiles import run_tiled
from lgfn.models.lgfn import LGFN

#: Per (transform, frame index): the LR frame ``(3, h, w)`` and, when reusing, its features ``(c, h, w)``.
FrameCache = dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor | None]]


def to_tensor(frame: np.ndarray, device: torch.device) -> torch.Tensor:
    """A frame -> ``(3, h, w)`` float32 in [0, 1] on ``device``.

    Args:
        frame: ``(h, w, 3)`` RGB or ``(h, w, 1)`` grey, uint8 or uint16 (16-bit frames keep their
            precision); a grey frame fills all three channels, a colour image without colour.
    """
    if frame.dtype == np.uint16:
        tensor = torch.from_numpy(np.ascontiguousarray(frame, np.float32) / np.float32(65535.0))
        tensor = tensor.to(device).permute(2, 0, 1)
    else:  # uint8 crosses to the device at a quarter of float32's size
        tensor = torch.from_numpy(np.ascontiguousarray(frame)).to(device).permute(2, 0, 1).float().div_(255.0)
    return tensor.expand(3, -1, -1) if tensor.shape[0] == 1 else tensor


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """``(3, h, w)`` float -> ``(h, w, 3)`` uint8: clamped to [0, 1], scaled and rounded."""
    # Not in place: the resolver's outputs are inference tensors, read-only outside inference mode.
    return image.float().clamp(0, 1).mul(255.0).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()


def to_frame(image: torch.Tensor, like: np.ndarray) -> np.ndarray:
    """``(3, h, w)`` float -> a frame of the format of the input frame ``like`` (see :func:`to_tensor`):
    its type (uint8, uint16) and channels, a grey frame the mean of the three."""
    if like.dtype != np.uint16 and like.shape[2] == 3:
        return to_uint8(image)
    image = image.float()
    if like.shape[2] == 1:
        image = image.mean(dim=0, keepdim=True)
    dtype = np.uint16 if like.dtype == np.uint16 else np.uint8
    peak = float(np.iinfo(dtype).max)
    return image.clamp(0, 1).mul(peak).round().permute(1, 2, 0).cpu().numpy().astype(dtype)


def _check_options(model: LGFN, batch: int, padding: str, tile: int, tile_overlap: int) -> None:
    if batch < 1:
        raise LGFNError(f"batch must be >= 1, got {batch}")
    if tile < 0 or tile_overlap < 0 or (tile and tile_overlap >= tile):
        raise LGFNError(
            f"need tile >= 0 and 0 <= tile_overlap < tile, got tile={tile}, overlap={tile_overlap}"
        )
    window_indices(0, model.num_frames, 1, padding)  # validates the padding name early


def _is_on(tensor: torch.Tensor, device: torch.device) -> bool:
    if device.type == "cuda" and device.index is None:  # plain "cuda" is the current GPU
        device = torch.device("cuda", torch.cuda.current_device())
    return tensor.device == device


def _model_to_run(
    model: LGFN, device: torch.device, memory_format: torch.memory_format, dcn_backend: str | None
) -> LGFN:
    """``model`` itself when it already runs as asked (eval mode, on ``device``, weights in
    ``memory_format``, the deformable backend ``dcn_backend``); otherwise a copy changed to do so."""
    tensors = [*model.parameters(), *model.buffers()]
    ready = (
        not any(module.training for module in model.modules())
        and all(_is_on(t, device) for t in tensors)
        and all(t.is_contiguous(memory_format=memory_format) for t in tensors if t.dim() == 4)
        and dcn_backend in (None, model.dcn_backend)
    )
    if ready:
        return model
    prepared = copy.deepcopy(model)  # the caller's model stays exactly as it was
    prepared.to(device).eval()
    prepared.to(memory_format=memory_format)
    if dcn_backend is not None:
        prepared.set_dcn_backend(dcn_backend)
    return prepared


class VideoSuperResolver:
    """Super-resolve clips or streams of LR frames with an :class:`LGFN`.

    Args:
        model: the network. It is never changed: when it is not already in eval mode on ``device``
            with its weights in the chosen memory format and the chosen deformable backend, the
            resolver runs a copy prepared so (:attr:`model`). That copy costs the memory of the
            weights once more on ``device`` while the resolver lives (about 4 bytes a parameter);
            the CPU fast path, which switches to channels-last weights and ``grid_sample``, always
            makes it unless handed a model prepared that way.
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
        dcn_backend: deformable-convolution backend to run (see :mod:`lgfn.models.deform_conv`);
            ``None`` picks ``"grid_sample"`` (several times faster than torchvision's CPU kernel,
            same function) on CPU when ``reuse_features`` is on and the model's own otherwise.

    Raises:
        LGFNError: an option value it cannot run with (fp16 on CPU, ``batch < 1``, a bad tile,
            an unknown padding or precision).
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
        check_precision_on(self.device, precision)
        _check_options(model, batch, padding, tile, tile_overlap)
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
        if dcn_backend is None and reuse_features and self.device.type == "cpu":
            dcn_backend = "grid_sample"
        self.model = _model_to_run(model, self.device, self.memory_format, dcn_backend)
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
            frames: all LR frames of the clip, each ``(h, w, 3)`` uint8 RGB (or grey, 16-bit: see
                :func:`to_tensor`), same size.
            indices: centre frames to produce (default: all), increasing.
            as_float: yield the raw network output ``(3, s*h, s*w)`` float32 tensor (not clamped;
                an inference tensor, read-only outside ``torch.inference_mode``) instead of the
                8-bit image; for comparing code paths.

        Yields:
            ``(index, sr)`` in the order of ``indices``; ``sr`` is ``(s*h, s*w, 3)`` uint8 RGB (or in
            the format of the input frames, :func:`to_frame`).
        """
        length = len(frames)
        if length == 0:
            raise LGFNError("cannot super-resolve a clip with no frames")
        indices = list(range(length)) if indices is None else list(indices)
        windows = [(k, window_indices(k, self.num_frames, length, self.padding)) for k in indices]
        for index, sr in self._run(iter(windows), frames.__getitem__):
            yield index, (sr if as_float else to_frame(sr, frames[index]))

    def stream(self, frames: Iterable[np.ndarray], start: int = 0) -> Iterator[np.ndarray]:
        """Super-resolve every frame of a stream, in order, holding only a few frames in memory.

        A window can be run once the frames it needs have arrived; the stream's length is known
        only at its end, so the last ``num_frames // 2`` windows wait for it.

        Args:
            frames: LR frames ``(h, w, 3)`` uint8 RGB (or grey, 16-bit: see :func:`to_tensor`), all
                the same size.
            start: the first frame to super-resolve (to continue an interrupted run); frames before
                it are read, and the last few kept as context, so the outputs are exactly those of
                a run from frame 0.

        Yields:
            SR frames ``(s*h, s*w, 3)`` uint8 RGB (or in the input frames' format, :func:`to_frame`),
            one per input frame from ``start`` on.
        """
        windows = StreamWindows(frames, self.num_frames, self.padding, start=start, batch=self.batch)
        for centre, sr in self._run(iter(windows), windows.fetch):
            yield to_frame(sr, windows.fetch(centre))  # the centre frame is still held

    # ---------------------------------------------------------------------------------------------
    # Internals

    def _autocast(self) -> AbstractContextManager:
        return autocast(self.device, self.precision)

    def _run(
        self, windows: Iterator[Window], fetch: Callable[[int], np.ndarray]
    ) -> Iterator[tuple[int, torch.Tensor]]:
        """Batch windows, run them and yield ``(centre, sr)`` in order, ``sr`` float ``(3, s*h, s*w)``.

        Inference mode is on while a batch runs, never across a ``yield``: it is thread-wide, and
        held across one it would leak into the caller's code (or leave it on for good when two
        resolvers' generators are interleaved).
        """
        cache: FrameCache = {}
        pending: list[Window] = []
        for window in windows:
            pending.append(window)
            if len(pending) == self.batch:
                yield from self._checked_batch(pending, fetch, cache)
                self._evict(cache, pending[-1][0])
                pending = []
        if pending:
            yield from self._checked_batch(pending, fetch, cache)

    def _checked_batch(
        self, windows: list[Window], fetch: Callable[[int], np.ndarray], cache: FrameCache
    ) -> list[tuple[int, torch.Tensor]]:
        """:meth:`_run_batch`, refusing in one clear error to go on out of memory or with an output
        that is not finite (fp16 overflows past 65504; nothing written is worth keeping then)."""
        try:
            results = self._run_batch(windows, fetch, cache)
        except (RuntimeError, MemoryError) as exc:
            h, w = fetch(windows[0][0]).shape[:2]
            frames = f"frame {windows[0][0]}" + (f" to {windows[-1][0]}" if len(windows) > 1 else "")
            error = memory_error(
                exc, self._memory_advice(), f"super-resolving {frames} ({w}x{h} on {self.device})"
            )
            if error is None:
                raise
            raise error from None
        for centre, sr in results:  # one pass over each output, cheap beside the network
            if not bool(torch.isfinite(sr).all()):
                raise LGFNError(
                    f"the network's output for frame {centre} holds inf or NaN values "
                    f"({int((~torch.isfinite(sr)).sum())} of {sr.numel()}): {self._overflow_advice()}"
                )
        return results

    def _memory_advice(self) -> str:
        steps = [f"a --tile smaller than {self.tile}" if self.tile else "--tile 256 (overlapping tiles)"]
        if self.batch > 1:
            steps.append("--batch 1")
        return f"less is needed with {' and '.join(steps)}"

    def _overflow_advice(self) -> str:
        """What to do about an output that is not finite (an ONNX file says it in its own terms)."""
        advice = getattr(self.model, "overflow_advice", None)
        if advice:
            return advice
        if self.precision != "fp32":
            return (
                f"{self.precision} can overflow where fp32 does not; run in fp32 (--precision fp32; in "
                "training's validation, val.precision)"
            )
        return "in fp32 this means that the weights or the input frames are damaged"

    def _evict(self, cache: FrameCache, last_centre: int) -> None:
        # Later windows have centres > last_centre and never reach back more than t-1 frames.
        oldest = last_centre + 1 - (self.num_frames - 1)
        for key in [k for k in cache if k[1] < oldest]:
            del cache[key]

    def _frame(
        self, cache: FrameCache, fetch: Callable[[int], np.ndarray], tf_id: int, index: int
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        key = (tf_id, index)
        if key not in cache:
            frame = transform(to_tensor(fetch(index), self.device), self.transforms[tf_id])
            features = None
            if self.reuse_features:
                with self._autocast():
                    lr = frame[None, None].contiguous(memory_format=torch.contiguous_format)
                    features = self._extract(lr)[0, 0]  # (c, h, w)
            cache[key] = (frame, features)
        return cache[key]

    @torch.inference_mode()
    def _run_batch(
        self, windows: list[Window], fetch: Callable[[int], np.ndarray], cache: FrameCache
    ) -> list[tuple[int, torch.Tensor]]:
        total = None
        for tf_id, tf in enumerate(self.transforms):
            entries = [[self._frame(cache, fetch, tf_id, i) for i in idx] for _, idx in windows]
            frames = torch.stack([torch.stack([e[0] for e in row]) for row in entries])  # (B, t, 3, h, w)
            features = None
            if self.reuse_features:
                features = torch.stack(
                    [torch.stack([e[1] for e in row]) for row in entries]
                )  # (B, t, c, h, w)
            out = run_tiled(self._forward_crop, frames, features, self.scale, self.tile, self.tile_overlap)
            out = inverse_transform(out, tf)  # (B, 3, s*h, s*w), float32
            total = out if total is None else total.add_(out)
        total = total / len(self.transforms)
        return [(centre, sr) for (centre, _), sr in zip(windows, total, strict=True)]

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


def resolver_from_options(model: LGFN, options: InferenceOptions, device: torch.device) -> VideoSuperResolver:
    """The resolver that runs ``model`` on ``device`` as ``options`` say (what ``test.py`` and
    ``lgfn upscale`` build from their shared command-line options).

    Args:
        model: the network; not changed (see :class:`VideoSuperResolver`).
        options: the user's choices; ``plain`` turns feature reuse, channels-last and the CPU's
            ``grid_sample`` backend off.
        device: where it runs. On CUDA the fast path also lets cuDNN time its convolution
            algorithms once per frame size (``torch.backends.cudnn.benchmark``, a process-wide
            setting; a video keeps its size).

    Returns:
        A :class:`VideoSuperResolver`.
    """
    if device.type == "cuda" and not options.plain:
        torch.backends.cudnn.benchmark = True
    return VideoSuperResolver(
        model,
        device=device,
        precision=options.precision,
        batch=options.batch,
        padding=options.padding,
        tile=options.tile,
        tile_overlap=options.tile_overlap,
        self_ensemble=options.self_ensemble,
        reuse_features=not options.plain,
        channels_last=not options.plain,
        compile=options.compile,
    )
