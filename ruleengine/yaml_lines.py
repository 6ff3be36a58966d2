"""YAML loading that remembers line numbers, so validation can say ``file:line: message``.

Mappings load as :class:`LineDict` and sequences as :class:`LineList`; both know the line of
the node itself and of each key / item. Scalars stay plain Python values (safe tags only).
Duplicate keys, which PyYAML silently overwrites, are reported instead; so are what a rule
file can hold but the platform cannot use — text with a NUL or a lone surrogate (written as
``"\\0"`` or ``"\\ud800"``: PostgreSQL refuses it in the decision it would be recorded in),
an integer too long for Python to convert, nesting deeper than `MAX_DEPTH` — each on its line,
never a traceback.
"""

from __future__ import annotations

from typing import Any

import yaml

from ruleengine.errors import Issue

#: deeper than any rule or case file needs (a condition is a few levels); far below the
#: depth at which PyYAML's recursive constructor raises RecursionError
MAX_DEPTH = 64


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


def _text(loader: _Loader, node: yaml.ScalarNode) -> str | None:
    value = loader.construct_yaml_str(node)
    problem = ("contains a NUL character" if "\x00" in value else
               "contains a lone surrogate (invalid Unicode)"
               if any("\ud800" <= ch <= "\udfff" for ch in value) else None)
    if problem is None:
        return value
    loader.issues.append(Issue(loader.path, node.start_mark.line + 1, f"text {problem}"))
    return value  # reported once here; the file fails validation on this issue


def _int(loader: _Loader, node: yaml.ScalarNode) -> int | None:
    try:
        return loader.construct_yaml_int(node)
    except ValueError:  # more digits than int() converts (4300)
        loader.issues.append(Issue(loader.path, node.start_mark.line + 1,
                                   f"integer {node.value[:20]}… is too long"))
        return None


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _sequence)
_Loader.add_constructor("tag:yaml.org,2002:str", _text)
_Loader.add_constructor("tag:yaml.org,2002:int", _int)


def _too_deep(text: str, path: str) -> Issue | None:
    """The first collection nested deeper than `MAX_DEPTH`, read from the parser's events
    (iteratively: the constructor would recurse once per level)."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                return Issue(path, event.start_mark.line + 1,
                             f"nested deeper than {MAX_DEPTH} levels")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
    return None


def load_yaml(text: str, path: str) -> tuple[Any, list[Issue]]:
    """Parse ``text``; returns (document or None, issues). Syntax errors become one issue."""
    loader = None
    try:
        deep = _too_deep(text, path)
        if deep is not None:
            return None, [deep]
        loader = _Loader(text, path)
        doc = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = exc.problem or exc.context or "invalid YAML"
        return None, [Issue(path, line, f"YAML syntax error: {problem}")]
    except yaml.reader.ReaderError as exc:  # a control character such as a raw NUL
        line = text.count("\n", 0, exc.position) + 1
        return None, [Issue(path, line, f"character #x{exc.character:04x} is not allowed "
                                        "in YAML (a control character)")]
    except yaml.YAMLError as exc:
        return None, [Issue(path, 1, f"YAML error: {exc}")]
    finally:
        if loader is not None:
            loader.dispose()
    return doc, loader.issues
