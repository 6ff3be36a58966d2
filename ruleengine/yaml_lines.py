"""YAML loading that remembers line numbers, so validation can say ``file:line: message``.

Mappings load as :class:`LineDict` and sequences as :class:`LineList`; both know the line of
the node itself and of each key / item. Scalars stay plain Python values (safe tags only).
Duplicate keys, which PyYAML silently overwrites, are reported instead.
"""

from __future__ import annotations

from typing import Any

import yaml

from ruleengine.errors import Issue


class LineDict(dict):
    """A mapping with ``line`` (its own first line) and ``lines[key]`` (line of each key, where
    an analyst looks for ``key: value``, also when the value is a block below it)."""

    line: int = 0

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.lines: dict[Any, int] = {}

    def line_of(self, key: Any) -> int:
        return self.lines.get(key, self.line)


class LineList(list):
    """A sequence with ``line`` and ``lines[i]`` (line of each item)."""

    line: int = 0

    def __init__(self, *args: Any):
        super().__init__(*args)
        self.lines: list[int] = []

    def line_of(self, index: int) -> int:
        return self.lines[index] if index < len(self.lines) else self.line


class _Loader(yaml.SafeLoader):
    """SafeLoader building line-aware containers; collects duplicate-key issues."""

    def __init__(self, stream: str, path: str):
        super().__init__(stream)
        self.path = path
        self.issues: list[Issue] = []


def _mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    out = LineDict()
    out.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str | int | float | bool) and key is not None:
            loader.issues.append(
                Issue(loader.path, key_node.start_mark.line + 1, "mapping keys must be plain text")
            )
            continue
        if key in out:
            loader.issues.append(
                Issue(
                    loader.path,
                    key_node.start_mark.line + 1,
                    f"duplicate key {key!r} (first at line {out.lines[key]})",
                )
            )
            continue
        out[key] = loader.construct_object(value_node, deep=True)
        out.lines[key] = key_node.start_mark.line + 1
    return out


def _sequence(loader: _Loader, node: yaml.SequenceNode) -> LineList:
    out = LineList(loader.construct_object(child, deep=True) for child in node.value)
    out.line = node.start_mark.line + 1
    out.lines = [child.start_mark.line + 1 for child in node.value]
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _sequence)


def load_yaml(text: str, path: str) -> tuple[Any, list[Issue]]:
    """Parse ``text``; returns (document or None, issues). Syntax errors become one issue."""
    loader = _Loader(text, path)
    try:
        doc = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = exc.problem or exc.context or "invalid YAML"
        return None, [Issue(path, line, f"YAML syntax error: {problem}")]
    except yaml.YAMLError as exc:
        return None, [Issue(path, 1, f"YAML error: {exc}")]
    finally:
        loader.dispose()
    return doc, loader.issues
