"""Reading and parsing config input within fixed bounds (hostile input stays cheap).

A config file, and every file a ``${file:...}`` reference or the secrets directory
names, is read through `read_bounded`: at most the cap plus one byte, so ``/dev/zero``
or a huge file is refused after reading a little more than the cap. File references
must name regular files (not a FIFO that blocks, a device that never ends, or a
directory).

YAML is parsed by `BoundedSafeLoader`, PyYAML's pure-Python safe loader with limits
checked while the document is composed, before any Python object is built:

- nesting deeper than `MAX_CONFIG_DEPTH` (deep input would end in RecursionError);
- more than `MAX_YAML_ALIASES` alias uses, or a document whose aliases expand to more
  than `MAX_CONFIG_NODES` values (a "billion laughs" of a few hundred bytes);
- a key that appears twice in one mapping (named with its line: no "last one wins");
- a key that is not a string (``1:``, ``null:``, YAML 1.1's ``on:``/``yes:``): quote it.

JSON (``*.json``) is parsed strictly with the same depth, size and duplicate-key rules.
Every refusal is a one-line `ConfigError` (exit 3).
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from etl_framework.exceptions import ConfigError

MAX_CONFIG_BYTES = 1024 * 1024
"""Largest config file (local or ``gs://``) read; a bigger one is refused."""
MAX_REFERENCED_FILE_BYTES = 1024 * 1024
"""Largest file a ``${file:...}`` reference or the secrets directory may name."""
MAX_CONFIG_DEPTH = 50
"""Deepest nesting of mappings and lists in a config."""
MAX_YAML_ALIASES = 256
"""Most ``*alias`` uses in one YAML config."""
MAX_CONFIG_NODES = 100_000
"""Most values (scalars, lists, mappings) a config may hold once aliases are expanded."""

_READ_CHUNK = 64 * 1024
_MERGE_TAG = "tag:yaml.org,2002:merge"
_STR_TAG = "tag:yaml.org,2002:str"


def _size(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MiB" if limit % (1024 * 1024) == 0 else f"{limit} bytes"


def read_bounded(path: Path, limit: int, what: str, *, regular_only: bool) -> bytes:
    """At most ``limit`` bytes of ``path``; ConfigError if it holds more.

    ``regular_only`` refuses anything but a regular file (checked on the opened file,
    which is opened non-blocking so a FIFO without a writer cannot hang the run).

    Raises:
        ConfigError: too large, not a regular file (with ``regular_only``), a directory.
        OSError: the file cannot be opened or read (missing, no permission...).
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise ConfigError(f"{what} {path} is a directory")
        if regular_only and not stat.S_ISREG(mode):
            raise ConfigError(f"{what} {path} is not a regular file")
        if not stat.S_ISREG(mode):
            os.set_blocking(fd, True)  # a pipe or device given as the config: read it
        chunks: list[bytes] = []
        remaining = limit + 1
        while remaining > 0:
            chunk = os.read(fd, min(_READ_CHUNK, remaining))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
    finally:
        os.close(fd)
    if remaining <= 0:
        raise ConfigError(f"{what} {path} is larger than {_size(limit)}")
    return b"".join(chunks)


class _Refused(yaml.YAMLError):
    """A limit was hit while composing (turned into a ConfigError by `parse_config`)."""

    def __init__(self, message: str, node_or_line: Node | int | None = None) -> None:
        line = node_or_line
        if isinstance(line, Node):
            line = line.start_mark.line + 1
        self.message = message
        self.line = line
        super().__init__(message)


class BoundedSafeLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` that refuses deep nesting, alias bombs and duplicate keys."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_YAML_ALIASES:
                event: Any = self.peek_event()  # type: ignore[no-untyped-call]
                raise _Refused(f"more than {MAX_YAML_ALIASES} aliases", event.start_mark.line + 1)
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > MAX_CONFIG_DEPTH:
                event = self.peek_event()  # type: ignore[no-untyped-call]
                raise _Refused(
                    f"nested deeper than {MAX_CONFIG_DEPTH} levels", event.start_mark.line + 1
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_mapping_node(self, anchor: Any) -> MappingNode:
        node: MappingNode = super().compose_mapping_node(anchor)
        seen: set[tuple[str, str]] = set()
        for key_node, _value in node.value:
            if isinstance(key_node, ScalarNode) and key_node.tag == _MERGE_TAG:
                continue
            if not isinstance(key_node, ScalarNode):
                raise _Refused("a key is a list or mapping (keys must be strings)", key_node)
            if key_node.tag != _STR_TAG:
                raise _Refused(f"key {key_node.value!r} is not a string (quote it)", key_node)
            key = (key_node.tag, key_node.value)
            if key in seen:
                raise _Refused(f"duplicate key {key_node.value!r}", key_node)
            seen.add(key)
        return node

    def compose_document(self) -> Node | None:
        node: Node | None = super().compose_document()
        if node is not None:
            _count_nodes(node)
        return node


def _count_nodes(root: Node) -> int:
    """Values in the document with every alias expanded (shared nodes counted once per
    use, computed once per node); refuses a recursive alias or too many values."""
    sizes: dict[int, int] = {}
    in_progress: set[int] = set()

    def size(node: Node, depth: int) -> int:
        known = sizes.get(id(node))
        if known is not None:
            return known
        if id(node) in in_progress:
            raise _Refused("an alias refers to its own anchor (recursive structure)", node)
        if depth > MAX_CONFIG_DEPTH:
            raise _Refused(f"nested deeper than {MAX_CONFIG_DEPTH} levels (aliases)", node)
        in_progress.add(id(node))
        total = 1
        if isinstance(node, SequenceNode):
            children: list[Node] = list(node.value)
        elif isinstance(node, MappingNode):
            children = [part for pair in node.value for part in pair]
        else:
            children = []
        for child in children:
            total += size(child, depth + 1)
            if total > MAX_CONFIG_NODES:
                raise _Refused(f"expands to more than {MAX_CONFIG_NODES:,} values (aliases)", child)
        in_progress.discard(id(node))
        sizes[id(node)] = total
        return total

    return size(root, 0)


def parse_config(text: str, location: str) -> Any:
    """The parsed document: YAML (a superset of JSON) or, for ``*.json``, strict JSON."""
    if location.endswith(".json"):
        return _parse_json(text, location)
    loader = BoundedSafeLoader(text)
    try:
        return loader.get_single_data()
    except _Refused as exc:
        where = f"line {exc.line}: " if exc.line else ""
        raise ConfigError(f"config {location} refused: {where}{exc.message}") from None
    except (yaml.YAMLError, ComposerError) as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise ConfigError(f"config {location} is not valid YAML: {where}{problem}") from None
    finally:
        loader.dispose()


class _DuplicateJsonKey(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateJsonKey(key)
        result[key] = value
    return result


def _parse_json(text: str, location: str) -> Any:
    try:
        data = json.loads(text, object_pairs_hook=_json_object)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"config {location} is not valid JSON: line {exc.lineno}: {exc.msg}"
        ) from None
    except RecursionError:
        raise ConfigError(
            f"config {location} refused: nested deeper than {MAX_CONFIG_DEPTH} levels"
        ) from None
    except _DuplicateJsonKey as exc:
        # JSON is YAML: the bounded composer finds the same key with its line.
        try:
            BoundedSafeLoader(text).get_single_node()
        except _Refused as refused:
            if refused.line and refused.message.startswith("duplicate key"):
                raise ConfigError(
                    f"config {location} refused: line {refused.line}: duplicate key {exc.key!r}"
                ) from None
        except yaml.YAMLError:
            pass
        raise ConfigError(f"config {location} refused: duplicate key {exc.key!r}") from None
    _check_json_shape(data, location)
    return data


def _check_json_shape(data: Any, location: str) -> None:
    """Depth and value count of parsed JSON (no aliases: size is bounded by bytes)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    count = 0
    while stack:
        value, depth = stack.pop()
        count += 1
        if depth > MAX_CONFIG_DEPTH:
            raise ConfigError(
                f"config {location} refused: nested deeper than {MAX_CONFIG_DEPTH} levels"
            )
        if count > MAX_CONFIG_NODES:
            raise ConfigError(f"config {location} refused: more than {MAX_CONFIG_NODES:,} values")
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
