"""Shared command-line helpers."""

from __future__ import annotations

import argparse

import pytest

from lgfn.console import parse_model_overrides, parse_size
from lgfn.errors import ConfigError


def test_parse_size_reads_either_order_into_h_w():
    assert parse_size("144x180") == (144, 180)
    assert parse_size("720X576", order="WxH") == (576, 720)


@pytest.mark.parametrize("text", ["144", "144x", "ax180", "0x180", "-4x8", "1x2x3"])
def test_parse_size_rejects_malformed_sizes(text):
    with pytest.raises(argparse.ArgumentTypeError, match=f"expected HxW, e.g. 144x180, got '{text}'"):
        parse_size(text)


def test_model_overrides_are_yaml_values_of_known_fields():
    values = parse_model_overrides(["num_rcab=5", "dcn_backend=grid_sample", "num_features=32"])
    assert values == {"num_rcab": 5, "dcn_backend": "grid_sample", "num_features": 32}


@pytest.mark.parametrize("item", ["num_rcabs=5", "num_rcab"])
def test_model_overrides_reject_unknown_keys_and_missing_values(item):
    with pytest.raises(ConfigError, match=r"expected KEY=VALUE with KEY one of .*num_rcab"):
        parse_model_overrides([item])
