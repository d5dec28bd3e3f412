"""The line-tracking YAML loader used for every user document.

:func:`load_yaml_file` reads a pipeline (or scenario) file through
:mod:`shmpipeline.user_files` (regular files only, size cap, never blocking)
and parses it with a ``SafeLoader`` that

- records the line of every mapping key and sequence item (:class:`LineDict`,
  :class:`LineList`; :func:`line_of` maps a problem location to its line),
- rejects duplicate keys,
- reads ``1e-3`` as a float (YAML 1.2 style), and
- refuses documents whose aliases expand to more than
  :data:`MAX_ALIAS_EXPANSION` nodes beyond those written (the "billion
  laughs" attack: 0.4 KB of nested aliases that expand to 10**9 items), before
  anything is constructed or walked.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from shmpipeline._problems import Loc, show
from shmpipeline.errors import ConfigValidationError
from shmpipeline.user_files import read_user_bytes

__all__ = [
    "MAX_ALIAS_EXPANSION",
    "LineDict",
    "LineList",
    "LineLoader",
    "line_of",
    "load_yaml_file",
    "parse_yaml_text",
    "plain",
]

#: most nodes aliases may add to a document (its expanded size minus its
#: written size); real pipelines use a handful of aliases
MAX_ALIAS_EXPANSION = 100_000


class LineDict(dict):
    """A mapping loaded from YAML: ``line`` of the mapping, ``key_lines``."""

    __slots__ = ("line", "key_lines")


class LineList(list):
    """A sequence loaded from YAML: ``line`` and ``item_lines``."""

    __slots__ = ("line", "item_lines")


class LineLoader(yaml.SafeLoader):
    """SafeLoader recording lines, rejecting duplicate keys and alias bombs."""

    def construct_document(self, node: yaml.Node) -> Any:
        _check_alias_expansion(node)
        return super().construct_document(node)


def _check_alias_expansion(root: yaml.Node) -> None:
    """Refuse a node graph whose tree expansion exceeds the alias budget.

    Sizes are memoised per node, so the check is linear in the written nodes
    even when the expansion is astronomically large; a recursive alias (a node
    containing itself) is refused too.
    """
    sizes: dict[int, int] = {}
    active: set[int] = set()
    written = 0
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            active.discard(key)
            total = 1
            for child in _children(node):
                total += sizes[id(child)]
            sizes[key] = total
            continue
        if key in sizes:
            continue
        if key in active:
            raise yaml.constructor.ConstructorError(
                None, None, "found a recursive alias (a node containing itself)",
                node.start_mark,
            )
        active.add(key)
        written += 1
        stack.append((node, True))
        for child in _children(node):
            if id(child) in active:
                raise yaml.constructor.ConstructorError(
                    None, None, "found a recursive alias (a node containing itself)",
                    child.start_mark,
                )
            if id(child) not in sizes:
                stack.append((child, False))
    if sizes[id(root)] - written > MAX_ALIAS_EXPANSION:
        raise yaml.constructor.ConstructorError(
            None,
            None,
            f"aliases expand the document by more than {MAX_ALIAS_EXPANSION} "
            "nodes (refused: an alias bomb)",
            root.start_mark,
        )


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [child for pair in node.value for child in pair]
    return []


_MERGE_TAG = "tag:yaml.org,2002:merge"


def _construct_mapping(loader: LineLoader, node: yaml.Node) -> LineDict:
    if not isinstance(node, yaml.MappingNode):
        raise yaml.constructor.ConstructorError(
            None, None, f"expected a mapping node, but found {node.id}", node.start_mark
        )
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.tag != _MERGE_TAG:
            key = loader.construct_object(key_node)
            try:
                duplicate = key in seen
            except TypeError:
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found duplicate key {show(key)}",
                    key_node.start_mark,
                )
            seen.add(key)
    loader.flatten_mapping(node)
    result = LineDict()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                "found unhashable key",
                key_node.start_mark,
            ) from None
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = key_node.start_mark.line + 1
    return result


def _construct_sequence(loader: LineLoader, node: yaml.Node) -> LineList:
    if not isinstance(node, yaml.SequenceNode):
        raise yaml.constructor.ConstructorError(
            None,
            None,
            f"expected a sequence node, but found {node.id}",
            node.start_mark,
        )
    result = LineList()
    result.line = node.start_mark.line + 1
    result.item_lines = []
    for child in node.value:
        result.append(loader.construct_object(child, deep=True))
        result.item_lines.append(child.start_mark.line + 1)
    return result


LineLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping
)
LineLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence
)
LineLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def line_of(raw: Any, loc: Loc) -> int | None:
    """The line of the deepest element of ``loc`` found in YAML-loaded ``raw``."""
    line = getattr(raw, "line", None)
    node = raw
    for key in loc:
        if isinstance(node, LineDict):
            try:
                if key not in node:
                    break
            except TypeError:
                break
            line = node.key_lines.get(key, line)
            node = node[key]
        elif isinstance(node, LineList) and isinstance(key, int):
            if not 0 <= key < len(node):
                break
            line = node.item_lines[key]
            node = node[key]
        else:
            break
    return line


def plain(value: Any, memo: dict[int, Any] | None = None) -> Any:
    """Deep copy of mappings/lists into plain ``dict``/``list`` (tuples kept).

    Shared sub-objects (YAML aliases) stay shared, so the copy costs time
    linear in the written document.
    """
    if memo is None:
        memo = {}
    if isinstance(value, Mapping):
        if id(value) in memo:
            return memo[id(value)]
        out: dict[Any, Any] = {}
        memo[id(value)] = out
        for key, item in value.items():
            out[key] = plain(item, memo)
        return out
    if isinstance(value, list):
        if id(value) in memo:
            return memo[id(value)]
        seq: list[Any] = []
        memo[id(value)] = seq
        seq.extend(plain(item, memo) for item in value)
        return seq
    if isinstance(value, tuple):
        return tuple(plain(item, memo) for item in value)
    return value


def parse_yaml_text(text: str, *, display: str | None = None) -> Any:
    """Parse one YAML document with :class:`LineLoader`.

    Any parser problem is a one-line :class:`ConfigValidationError`
    (``invalid YAML: ...``) carrying ``display`` as its path and the line.
    """
    try:
        return yaml.load(text, Loader=LineLoader)  # noqa: S506 (a SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "cannot parse"
        if exc.problem and exc.context:
            problem = f"{exc.problem} ({exc.context})"
        raise ConfigValidationError(
            f"invalid YAML: {problem}", path=display, line=line
        ) from None
    except RecursionError:
        raise ConfigValidationError(
            "invalid YAML: nested too deeply", path=display
        ) from None
    except Exception as exc:  # anything else the parser raises is bad input too
        raise ConfigValidationError(
            f"invalid YAML: {type(exc).__name__}: {show(str(exc))}", path=display
        ) from None


def load_yaml_file(path: Any) -> tuple[Any, str, Path]:
    """Read and parse a YAML file; return (data, display path, path).

    The file is stat-ed first: a missing path, a directory, a FIFO, a device
    or a file over the size cap is refused before anything is read.
    """
    try:
        file_path = Path(path)
    except TypeError:
        raise ConfigValidationError(
            f"config path must be a string or a path, got {show(path)}"
        ) from None
    display = str(path) if isinstance(path, str) else str(file_path)
    try:
        info = os.stat(file_path)
    except FileNotFoundError:
        raise ConfigValidationError("config file not found", path=display) from None
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ConfigValidationError(
            f"cannot read config file: {reason}", path=display
        ) from None
    if stat.S_ISDIR(info.st_mode):
        raise ConfigValidationError(
            "config path is a directory, not a file", path=display
        )
    prefix = f"config file {str(file_path)!r} "

    def refuse(message: str) -> ConfigValidationError:
        rest = message[len(prefix) :] if message.startswith(prefix) else message
        if rest.startswith("cannot be read: "):
            rest = "cannot read config file: " + rest[len("cannot be read: ") :]
        elif rest.startswith("does not exist"):
            rest = "config file not found"
        else:
            rest = "config file " + rest
        return ConfigValidationError(rest, path=display)

    data = read_user_bytes(file_path, what="config file", error=refuse)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigValidationError(
            "config file is not UTF-8 text", path=display, line=line
        ) from None
    return parse_yaml_text(text, display=display), display, file_path
