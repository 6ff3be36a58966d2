"""data/README.md documents every table and every column, and nothing that does not exist."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow.parquet as pq

from chedaitong_sim.worldgen.generate import TABLES

README = Path(__file__).resolve().parents[2] / "data" / "README.md"


def documented() -> dict[str, list[str]]:
    """{table: [columns]} from '### `table`' sections and their '| `column` |' rows."""
    tables: dict[str, list[str]] = {}
    current = None
    for line in README.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^### `(\w+)`\s*$", line)
        if m:
            current = m.group(1)
            tables[current] = []
            continue
        if line.startswith("## ") or line.startswith("### "):
            current = None
        m = re.match(r"^\| `(\w+)` \|", line)
        if m and current is not None:
            tables[current].append(m.group(1))
    return {t: cols for t, cols in tables.items() if cols}


def test_every_table_and_column_documented(small_world):
    docs = documented()
    assert set(docs) == set(TABLES)
    for table in TABLES:
        schema = pq.read_schema(small_world.path / f"{table}.parquet")
        assert docs[table] == schema.names, table


def test_parser_sees_sections():
    docs = documented()
    assert "applications" in docs and "true_pd" in docs["applications"]
