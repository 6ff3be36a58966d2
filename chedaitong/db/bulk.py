"""Bulk I/O on PostgreSQL through COPY (psycopg 3): loading synthetic books, measuring floors.

ORM or executemany inserts cost ~50 µs a row; COPY streams CSV at millions of values a second.
PostgreSQL only (SQLite has no COPY); callers hand over a SQLAlchemy `Connection`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text

ROWS_PER_WRITE = 100_000


def _raw(conn: Connection) -> Any:
    if conn.dialect.name != "postgresql":
        raise ValueError("COPY needs PostgreSQL")
    return conn.connection.driver_connection


def copy_frame(conn: Connection, table: str, frame: Any, *,
               rows_per_write: int = ROWS_PER_WRITE) -> int:
    """COPY a pandas DataFrame (columns = table columns) into `table`; NaN/None → NULL.

    bytes go as ``\\x…`` hex strings; the caller's transaction commits. Returns rows copied."""
    cols = ", ".join(f'"{c}"' for c in frame.columns)
    with _raw(conn).cursor() as cur, cur.copy(
            f"COPY {table} ({cols}) FROM STDIN WITH (FORMAT csv)") as copy:
        for start in range(0, len(frame), rows_per_write):
            copy.write(frame.iloc[start:start + rows_per_write].to_csv(
                index=False, header=False, na_rep=""))
    return len(frame)


def copy_out(conn: Connection, query: str) -> int:
    """``COPY (query) TO STDOUT``, read and discarded; returns the bytes read (a floor)."""
    n = 0
    with _raw(conn).cursor() as cur, cur.copy(f"COPY ({query}) TO STDOUT") as copy:
        for block in copy:
            n += len(block)
    return n


def reset_sequence(conn: Connection, table: str, column: str = "id") -> None:
    """After COPY with explicit ids: the next ORM insert must not collide."""
    conn.execute(text(
        f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
        f"COALESCE((SELECT max({column}) FROM {table}), 0) + 1, false)"))


def id_array(ids: Any) -> str:
    """A ``bigint[]`` SQL literal of these ids, for COPY (which takes no bind parameters);
    every id goes through int(), so nothing but digits reaches the SQL. Bound statements use
    `chedaitong.db.idset.in_ids` instead."""
    return "'{" + ",".join(str(int(i)) for i in ids) + "}'::bigint[]"


def in_id_range(column: str, ids: Any) -> str:
    """``column`` is one of `ids`, as SQL for COPY: ``BETWEEN min AND max`` plus
    ``= ANY(array)``. A chunk's ids are a near-contiguous run; the range bounds the index scan
    to it, where a bare ``= ANY`` of 20,000 ids cost two to three times as much on a million-
    loan schedule table. Integers only (`id_array`); no ids: ``FALSE``."""
    values = [int(i) for i in ids]
    if not values:
        return "FALSE"
    return (f"{column} BETWEEN {min(values)} AND {max(values)} AND "
            f"{column} = ANY({id_array(values)})")


def read_frame(conn: Connection, query: str, *, dates: list[str] = (), days: list[str] = (),
               exact_text: bool = False, **dtypes: Any) -> Any:
    """``COPY (query) TO STDOUT`` (CSV with header) into a pandas DataFrame.

    `dates`: ``YYYY-MM-DD`` text columns; `days`: integer day numbers since 1970-01-01
    (``d - DATE '1970-01-01'`` in SQL: no date text formatted and parsed again), both made
    ``datetime64[ns]`` with NaT for NULL. `exact_text`: only an empty field is NULL (pandas
    otherwise also reads text such as ``NA``, ``null`` or ``None`` as missing).

    The C CSV parser instead of one Python row object and one Decimal per value: several
    times faster for the millions of schedule lines of a nightly run. `query` must be complete
    SQL (COPY takes no bind parameters): pass only integers and trusted literals into it."""
    import io

    import pandas as pd

    buf = io.BytesIO()
    with _raw(conn).cursor() as cur, cur.copy(
            f"COPY ({query}) TO STDOUT WITH (FORMAT csv, HEADER true)") as copy:
        for block in copy:
            buf.write(block)
    buf.seek(0)
    na = {"keep_default_na": False, "na_values": [""]} if exact_text else {}
    frame = pd.read_csv(buf, dtype=dtypes or None, **na)
    for col in dates:
        frame[col] = pd.to_datetime(frame[col], format="%Y-%m-%d")
    for col in days:
        frame[col] = _from_days(frame[col].to_numpy("float64"))
    return frame


def _from_days(values: Any) -> Any:
    import numpy as np

    out = np.full(len(values), np.datetime64("NaT"), "datetime64[ns]")
    known = ~np.isnan(values)
    out[known] = values[known].astype(np.int64).astype("datetime64[D]")
    return out


# ---- the same writes on every database: COPY on PostgreSQL, executemany elsewhere ----------
def _with_defaults(table: Any, frame: Any) -> Any:
    """`frame` plus the table's Python-side column defaults it leaves out (COPY runs none)."""
    out = frame
    for col in table.columns:
        if col.name in frame.columns or col.primary_key or col.default is None:
            continue
        default = col.default
        if getattr(default, "is_scalar", False):
            value = default.arg
        elif getattr(default, "is_callable", False):
            value = default.arg(None)  # SQLAlchemy wraps zero-argument callables
        else:
            continue
        out = out.assign(**{col.name: [value] * len(out)})
    return out


def _json_columns(table: Any) -> list[str]:
    from sqlalchemy import JSON

    return [c.name for c in table.columns if isinstance(c.type, JSON)]


def insert_rows(conn: Connection, table: Any, frame: Any, *, bulk: bool | None = None) -> int:
    """Insert the rows of a DataFrame into `table` (a SQLAlchemy Table; columns named like it).

    PostgreSQL: one COPY (JSON columns dumped, the table's Python-side defaults filled in);
    elsewhere (or ``bulk=False``) one executemany ``INSERT``. Same rows either way; the
    caller's transaction."""
    from sqlalchemy import insert

    if not len(frame):
        return 0
    if not (conn.dialect.name == "postgresql" if bulk is None else bulk):
        conn.execute(insert(table), frame.to_dict("records"))
        return len(frame)
    data = _with_defaults(table, frame)
    for name in _json_columns(table):
        if name in data.columns:
            data = data.assign(**{name: _dumps(data[name])})
    return copy_frame(conn, table.name, data)


def _dumps(values: Any) -> list[str]:
    """``json.dumps`` of each value; a list of strings (rule ids, reason names: a handful of
    distinct ones a night) is encoded once per distinct list, None (a column most rows leave
    empty, e.g. ``behaviour_scores.routing``) is ``null`` without a call."""
    import json

    seen: dict[tuple[str, ...], str] = {}
    out = []
    for v in values:
        if v is None:  # JSON null (as SQLAlchemy's JSON type stores None): no call for it
            out.append("null")
        elif isinstance(v, list | tuple) and all(isinstance(x, str) for x in v):
            key = tuple(v)
            text = seen.get(key)
            if text is None:
                text = seen[key] = json.dumps(v)
            out.append(text)
        else:
            out.append(json.dumps(v))
    return out


def update_from(conn: Connection, table: Any, frame: Any, key: str, assignments: str,
                *, where: str = "") -> int:
    """``UPDATE table SET assignments FROM frame WHERE table.key = frame.key`` on PostgreSQL:
    the frame goes by COPY into a temporary table named ``src`` (dropped at commit), then one
    set-based UPDATE. `assignments` is SQL over ``t`` (the table) and ``src``, e.g.
    ``"x = t.x + src.dx"``; frame columns are typed bigint unless named in the frame's
    ``attrs["sql_types"]``. PostgreSQL only; returns rows updated."""
    types = frame.attrs.get("sql_types", {})
    cols = ", ".join(f'"{c}" {types.get(c, "bigint")}' for c in frame.columns)
    raw = _raw(conn)
    with raw.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS src")
        cur.execute(f"CREATE TEMPORARY TABLE src ({cols}) ON COMMIT DROP")
    copy_frame(conn, "src", frame)
    extra = f" AND {where}" if where else ""
    with raw.cursor() as cur:
        cur.execute(f"UPDATE {table.name} AS t SET {assignments} FROM src "
                    f"WHERE t.{key} = src.{key}{extra}")
        n = cur.rowcount
        cur.execute("DROP TABLE src")
    return n
