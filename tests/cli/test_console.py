"""Shared command-line helpers."""

from __future__ import annotations

import argparse

import pytest

from lgfn.cli.console import parse_size


def test_parse_size_reads_either_order_into_h_w():
    assert parse_size("144x180") == (144, 180)
    assert parse_size("720X576", order="WxH") == (576, 720)


@pytest.mark.parametrize("text", ["144", "144x", "ax180", "0x180", "-4x8", "1x2x3"])
def test_parse_size_rejects_malformed_sizes(text):
    with pytest.raises(argparse.ArgumentTypeError, match=f"expected HxW, e.g. 144x180, got '{text}'"):
        parse_size(text)
