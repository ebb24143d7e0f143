"""Running an upscaler over clips and streams of frames.

- :class:`Upscaler` (``upscaler.py``): the interface every upscaler offers and evaluation and
  streaming use.
- :class:`VideoSuperResolver` (``resolver.py``): a trained LGFN over whole clips or streams, with
  temporal windows (``streaming.py`` for streams), spatial tiles (``tiles.py``), the x8
  self-ensemble (``ensemble.py``) and every speed and memory choice; :func:`resolver_from_options`
  builds one from the user's :class:`InferenceOptions` (``options.py``).
- :class:`BicubicUpscaler` (``bicubic.py``): the bicubic baseline.
- :class:`~lgfn.inference.compare.CompareUpscaler` (``compare.py``): the baseline and another upscaler
  in one labelled frame, for judging by eye (``lgfn upscale --compare``).
- :func:`upscale_stream` (``pipeline.py``): a video through an upscaler into a sink, one frame at a
  time, optionally from the input's BI degradation; ``reference_scores`` scores what was written.

None of these take command-line arguments; :mod:`lgfn.cli` turns those into plain values.
"""

from lgfn.inference.bicubic import BicubicUpscaler
from lgfn.inference.ensemble import ENSEMBLE_TRANSFORMS
from lgfn.inference.options import InferenceOptions
from lgfn.inference.pipeline import UpscaleReport, upscale_stream
from lgfn.inference.resolver import VideoSuperResolver, resolver_from_options, to_tensor, to_uint8
from lgfn.inference.tiles import tile_starts
from lgfn.inference.upscaler import Upscaler

__all__ = [
    "ENSEMBLE_TRANSFORMS",
    "BicubicUpscaler",
    "InferenceOptions",
    "UpscaleReport",
    "Upscaler",
    "VideoSuperResolver",
    "resolver_from_options",
    "tile_starts",
    "to_tensor",
    "to_uint8",
    "upscale_stream",
]
