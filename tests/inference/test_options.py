"""resolver_from_options: the user's plain option values become the resolver's settings."""

from __future__ import annotations

import pytest
import torch

from lgfn.devices import check_precision_on
from lgfn.errors import LGFNError
from lgfn.inference import InferenceOptions, resolver_from_options

CPU = torch.device("cpu")


def test_default_options_are_the_fast_path(model):
    resolver = resolver_from_options(model, InferenceOptions(), CPU)
    assert resolver.reuse_features and resolver.memory_format == torch.channels_last
    assert resolver.model.dcn_backend == "grid_sample" and len(resolver.transforms) == 1
    assert (resolver.precision, resolver.batch, resolver.padding) == ("fp32", 1, "new_info")
    assert (resolver.tile, resolver.tile_overlap) == (0, 16)


def test_plain_turns_every_optimisation_off_and_the_rest_is_passed_on(model):
    options = InferenceOptions(
        precision="bf16",
        batch=3,
        padding="reflection",
        tile=32,
        tile_overlap=4,
        self_ensemble=True,
        plain=True,
    )
    resolver = resolver_from_options(model, options, CPU)
    assert not resolver.reuse_features and resolver.memory_format == torch.contiguous_format
    assert resolver.model is model and model.dcn_backend == "torchvision"
    assert len(resolver.transforms) == 8
    assert (resolver.precision, resolver.batch, resolver.padding) == ("bf16", 3, "reflection")
    assert (resolver.tile, resolver.tile_overlap) == (32, 4)


def test_precision_must_fit_the_device():
    check_precision_on(CPU, "bf16")
    with pytest.raises(LGFNError, match="precision fp16 needs a CUDA device; on CPU use bf16 or fp32"):
        check_precision_on(CPU, "fp16")
    with pytest.raises(LGFNError, match="precision must be one of fp32, bf16, fp16, got 'int8'"):
        check_precision_on(CPU, "int8")
