"""Reading a config file's YAML: UTF-8 text, one document, no key written twice, and aliases that
cannot multiply the document past :data:`MAX_VALUES` values.

PyYAML composes a file into a graph of nodes in which an alias (``*name``) is the very node its
anchor (``&name``) marks, so a small file can stand for an enormous document (an "alias bomb": each
level of nested aliases doubles it). Every check here visits each node once and counts what the
aliases expand to, so reading a config takes time in proportion to the file, whatever it holds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from lgfn.errors import ConfigError

#: The most values (mappings, lists and scalars, aliases expanded) a config file may stand for: far
#: more than any experiment needs, and few enough that checking and reporting them stays instant.
MAX_VALUES = 100_000


def read_config_yaml(path: Path) -> Any:
    """The YAML document in the config file ``path`` (``None`` for an empty file).

    Raises:
        ConfigError: the file cannot be read, is not UTF-8, is not valid YAML, writes a key twice in
            one mapping, nests too deeply or expands through aliases past :data:`MAX_VALUES` values.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the config file {path}: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8-sig")  # a byte-order mark, as some editors write, is no content
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            f"{path}: line {line}: not UTF-8 text (byte {data[exc.start]:#04x}); save it as UTF-8"
        ) from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_node(node, path, "", {})
        return loader.construct_document(node)
    except (yaml.YAMLError, ValueError, OverflowError) as exc:  # a bad date or number is a ValueError
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path}: values nested too deeply; a config is sections of plain values") from None
    finally:
        loader.dispose()


def _check_node(node: yaml.Node, path: Path, prefix: str, sizes: dict[int, int | None]) -> int:
    """Refuse a key written twice in a mapping (PyYAML would silently keep the last one) and a value
    that contains itself or expands past :data:`MAX_VALUES`; each node is checked once.

    Args:
        node: a composed node.
        path: the file, for messages.
        prefix: the dotted name of the mapping ``node`` is (``"train."``), ``""`` at the top.
        sizes: id of each node checked -> the number of values it expands to (``None`` while its
            children are being checked, which is how a value holding an alias of itself shows).

    Returns:
        The number of values ``node`` stands for, aliases expanded.
    """
    line = node.start_mark.line + 1
    if id(node) in sizes:
        size = sizes[id(node)]
        if size is None:
            raise ConfigError(f"{path}: line {line}: this value contains an alias of itself; write it out")
        return size
    sizes[id(node)] = None
    size = 1
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            key_line = key_node.start_mark.line + 1
            if key is not None and key in seen:
                what = "section" if not prefix else "key"
                raise ConfigError(
                    f"{path}: line {key_line}: {what} {prefix}{key} is written twice (first on line "
                    f"{seen[key]}); keep one"
                )
            if key is not None:
                seen[key] = key_line
            size += _check_node(key_node, path, prefix, sizes)
            size += _check_node(value_node, path, f"{prefix}{key}.", sizes)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            size += _check_node(item, path, prefix, sizes)
    if size > MAX_VALUES:
        raise ConfigError(
            f"{path}: line {line}: this value expands to more than {MAX_VALUES} values through its "
            "aliases (*name); a config needs far fewer: write the values out"
        )
    sizes[id(node)] = size
    return size
