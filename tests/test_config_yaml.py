"""Reading a config file's YAML: UTF-8, keys written once, aliases that cannot blow the file up."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from lgfn.config import load_config
from lgfn.config_yaml import MAX_VALUES, read_config_yaml
from lgfn.errors import ConfigError


def alias_bomb(levels: int) -> str:
    """Nested mappings, each level two aliases of the one below: ``levels`` levels stand for
    ``2**levels`` copies of the bottom mapping in a file of about 30 bytes a level."""
    lines = ["a0: &a0 {k: v}"]
    lines += [f"a{i}: &a{i} {{x: *a{i - 1}, y: *a{i - 1}}}" for i in range(1, levels + 1)]
    return "\n".join([*lines, f"train: *a{levels}", ""])


def test_an_alias_bomb_is_refused_at_once(tmp_path: Path) -> None:
    """40 levels: about a trillion mappings once expanded, which the duplicate-key check used to walk
    one by one (0.76 s at 18 levels, doubling with each: weeks at 40); each node is now counted once
    and the expansion refused past the limit."""
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb(40))
    assert path.stat().st_size < 1300
    start = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert time.perf_counter() - start < 5
    assert str(info.value).startswith(f"{path}: line ")
    assert f"expands to more than {MAX_VALUES} values through its aliases" in str(info.value)


def test_aliases_that_share_a_few_values_are_fine(tmp_path: Path) -> None:
    path = tmp_path / "shared.yaml"
    path.write_text("data:\n  type: video_files\n  videos: &clips [a.mp4, b.mp4]\nval:\n  clips: *clips\n")
    config = load_config(path)
    assert config.data.videos == config.val.clips == ["a.mp4", "b.mp4"]
    assert read_config_yaml(tmp_path / "shared.yaml")["val"]["clips"] == ["a.mp4", "b.mp4"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("train: &t\n  betas: [0.9, *t]\n", "line 1: this value contains an alias of itself"),
        ("train:\n  trainable: " + "[" * 3000 + "]" * 3000 + "\n", "nested too deeply"),
        ("train:\n  lr: 2026-13-40\n", "not valid YAML"),  # a date PyYAML cannot make
        ("train:\n  seed: " + "9" * 5000 + "\n", "not valid YAML"),  # past Python's digit limit
    ],
)
def test_self_reference_deep_nesting_and_bad_scalars_are_one_error(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "odd.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: ") and message in str(info.value)
    assert "\n" not in str(info.value).split(": not valid YAML")[0]


def test_a_file_that_is_not_utf8_is_named_with_the_first_bad_byte(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("train:\n  pretrained: café.pth\n".encode("latin-1"))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"{path}: line 2: not UTF-8 text (byte 0xe9); save it as UTF-8"


def test_a_utf8_file_with_a_byte_order_mark_reads(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes("\ufefftrain:\n  pretrained: café.pth\n".encode())
    assert load_config(path).train.pretrained == "café.pth"


def test_an_unreadable_config_is_one_error(tmp_path: Path) -> None:
    folder = tmp_path / "folder.yaml"
    folder.mkdir()
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(folder)
    with pytest.raises(ConfigError, match=f"cannot read the config file {folder}"):
        read_config_yaml(folder)
