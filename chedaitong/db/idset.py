"""`in_ids(column, ids)`: ``column IN ids`` as ONE bind parameter, however many ids.

SQLAlchemy's ``column.in_(list)`` renders one parameter per value; PostgreSQL's protocol refuses
more than 65,535 per statement (a nightly run at a million loans has ~70,000 open cases) and
SQLite more than 32,766. Here PostgreSQL gets ``column = ANY(:ids)`` (one bigint[]) and SQLite
``column IN (SELECT value FROM json_each(:ids))`` (one JSON text): no limit, and the statement's
text stays the same for any number of ids.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import BigInteger, Boolean, String, any_, bindparam, column, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement


class InIds(ColumnElement[bool]):
    """``column IN ids`` for integer ids, rendered per dialect (see the module docstring)."""

    inherit_cache = False  # the ids are part of the element: never reuse a compiled form
    type = Boolean()
    _is_implicitly_boolean = True  # a comparison: no "= 1" on databases without booleans

    def __init__(self, col: Any, ids: Iterable[int]) -> None:
        self.column = col
        self.ids = [int(i) for i in ids]


def in_ids(col: Any, ids: Iterable[int]) -> InIds:
    """A WHERE clause: `col` is one of `ids` (integers; any iterable, any size)."""
    return InIds(col, ids)


@compiles(InIds)
def _in_json(element: InIds, compiler: Any, **kw: Any) -> str:
    values = bindparam(None, json.dumps(element.ids), type_=String())
    inner = select(column("value")).select_from(func.json_each(values))
    return compiler.process(element.column.in_(inner), **kw)


@compiles(InIds, "postgresql")
def _in_array(element: InIds, compiler: Any, **kw: Any) -> str:
    values = bindparam(None, element.ids, type_=ARRAY(BigInteger()))
    return compiler.process(element.column == any_(values), **kw)
