"""One strict reading of every JSON body, before any view runs.

Python's `json` accepts what a database or an encoder later chokes on — a lone surrogate
(``"\\ud800"``) fails only when the driver encodes it, nesting ~1000 deep raises
`RecursionError`, a repeated key silently keeps the last value, ``NaN`` is not JSON — so any of
those would reach a view and end as a 500 (or a silently different request). Here they are a
400 that names the problem and where it is, for every endpoint at once; webargs then parses the
same bytes knowing they are clean.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from flask import Flask, request
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge

MAX_DEPTH = 32  # the deepest body the apps send is 3; this leaves room without a recursion risk


class BadJson(ValueError):
    """The body is not strict JSON; ``where`` is the path to the offending value."""

    def __init__(self, reason: str, where: str = "_body"):
        super().__init__(reason)
        self.reason, self.where = reason, where


def _pairs(pairs: list[tuple[str, object]]) -> dict:
    obj: dict = {}
    for key, value in pairs:
        if key in obj:
            raise BadJson(f"duplicate key {key!r}", key if _is_text(key) else "_body")
        obj[key] = value
    return obj


def _constant(name: str) -> float:
    raise BadJson(f"{name} is not a JSON number")


def _is_text(value: str) -> bool:
    """False for a string with a lone surrogate (not encodable as UTF-8)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as text: a lone surrogate, or a NUL (PostgreSQL refuses
    it in any text column, so it would fail deep in the driver)."""
    if not _is_text(value):
        return "contains invalid Unicode (a lone surrogate escape such as \\ud800)"
    if "\x00" in value:
        return "contains a NUL character (\\u0000)"
    return None


def _nodes(doc: object) -> Iterator[tuple[str, int, object]]:
    """(path, depth, value) of every value, iteratively (no recursion on hostile depth)."""
    stack: list[tuple[str, int, object]] = [("", 1, doc)]
    while stack:
        path, depth, value = stack.pop()
        yield path, depth, value
        if isinstance(value, dict):
            stack.extend((f"{path}.{k}" if path else str(k), depth + 1, v)
                         for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((f"{path}[{i}]", depth + 1, v) for i, v in enumerate(value))


def strict_loads(data: bytes) -> object:
    """The JSON document in ``data``, or `BadJson` naming what is wrong and where."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadJson(f"the body is not valid UTF-8 (byte {exc.start})") from None
    try:
        doc = json.loads(text, object_pairs_hook=_pairs, parse_constant=_constant)
    except json.JSONDecodeError as exc:
        raise BadJson(f"not valid JSON: {exc.msg} (line {exc.lineno} column {exc.colno})") \
            from None
    except RecursionError:  # ~1000 deep: the C scanner gives up before building it
        raise BadJson(f"nested deeper than {MAX_DEPTH} levels") from None
    except BadJson:
        raise
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise BadJson(f"not valid JSON: {exc}") from None
    for path, depth, value in _nodes(doc):
        if depth > MAX_DEPTH:
            raise BadJson(f"nested deeper than {MAX_DEPTH} levels", path)
        keys = value.keys() if isinstance(value, dict) else ()
        for text_value in (value, *keys):
            problem = text_problem(text_value) if isinstance(text_value, str) else None
            if problem:
                raise BadJson(problem, path or "_body")
    return doc


def bad_request(exc: BadJson) -> BadRequest:
    err = BadRequest(f"the JSON body was refused: {exc.reason}")
    err.data = {"messages": {"json": {exc.where: [exc.reason]}}}
    return err


def _check_fields(location: str, fields) -> None:
    for key, value in fields.items(multi=True):
        problem = text_problem(key) or text_problem(value)
        if problem:
            err = BadRequest(f"the {location} was refused: {key!r} {problem}")
            err.data = {"messages": {location: {key if _is_text(key) else "_": [problem]}}}
            raise err


def _check_request() -> None:
    _check_fields("query", request.args)
    if request.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        _check_fields("form", request.form)
    if not request.is_json:
        return
    data = request.get_data(cache=True)
    if not data:
        return
    limit = request.max_content_length
    if request.content_length is None and limit is not None and len(data) >= limit:
        # a chunked body is cut at the limit without a word (Werkzeug raises only on a read
        # past it): what is left would be judged as truncated JSON
        raise RequestEntityTooLarge()
    try:
        strict_loads(data)
    except BadJson as exc:
        raise bad_request(exc) from None


def init_app(app: Flask) -> None:
    """Check every JSON body, query string and form before any view."""
    app.before_request(_check_request)
