"""Parquet output: pinned writer options, content hashes and an all-or-nothing output folder.

Same seed must give byte-identical files, so every option that could vary is fixed here and no
wall-clock value is ever written (pyarrow puts no timestamps in Parquet metadata; `created_by`
names the pyarrow version, so identical bytes assume the same pyarrow).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

MONEY = pa.decimal128(18, 2)
ROW_GROUP = 1_000_000
WRITE_OPTIONS = {
    "compression": "zstd",
    "compression_level": 6,
    "write_statistics": True,
    "version": "2.6",
    "data_page_version": "1.0",
    "data_page_size": 1 << 20,
    "store_schema": True,
}


def money(cents: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    """decimal128(18, 2) array from integer cents, without a float round trip."""
    c = np.asarray(cents, dtype=np.int64)
    words = np.empty((len(c), 2), dtype=np.int64)
    words[:, 0] = c
    words[:, 1] = np.where(c < 0, -1, 0)  # two's-complement sign extension to 128 bits
    validity = None
    null_count = 0
    if mask is not None and mask.any():
        validity = pa.array(~mask).buffers()[1]
        null_count = int(mask.sum())
    return pa.Array.from_buffers(
        MONEY, len(c), [validity, pa.py_buffer(words.tobytes())], null_count=null_count
    )


def encodings(schema: pa.Schema) -> tuple[list[str], dict[str, str]]:
    """Dictionary-encode text; delta-encode integers and timestamps (ids and times are sorted or
    nearly so); split the bytes of floats (coordinates). Keeps the files small."""
    dictionary, special = [], {}
    for f in schema:
        t = f.type
        if pa.types.is_string(t) or pa.types.is_list(t):
            dictionary.append(f.name)
        elif pa.types.is_int64(t) or pa.types.is_int32(t) or pa.types.is_timestamp(t):
            special[f.name] = "DELTA_BINARY_PACKED"
        elif pa.types.is_floating(t):
            special[f.name] = "BYTE_STREAM_SPLIT"
    return dictionary, special


def write_parquet(path: Path, data: pa.Table | Iterable[pa.Table]) -> int:
    """Write a table (or a stream of tables with one schema) and return the row count."""
    tables: Iterator[pa.Table] = iter([data]) if isinstance(data, pa.Table) else iter(data)
    first = next(tables)
    rows = 0
    dictionary, special = encodings(first.schema)
    with pq.ParquetWriter(
        path, first.schema, use_dictionary=dictionary, column_encoding=special, **WRITE_OPTIONS
    ) as w:
        for t in _chain(first, tables):
            w.write_table(t.cast(first.schema), row_group_size=ROW_GROUP)
            rows += t.num_rows
    return rows


def _chain(first: pa.Table, rest: Iterator[pa.Table]) -> Iterator[pa.Table]:
    yield first
    yield from rest


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@contextmanager
def atomic_dir(target: Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a fresh temporary folder beside `target`; on success it replaces `target` with one
    rename, on any error it is deleted, so readers never see a half-written world."""
    target = Path(target)
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=parent))
    try:
        yield tmp
        os.chmod(tmp, 0o755)
        if target.exists() and overwrite:
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=parent))
            os.replace(target, old / "world")
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)  # fails if target is a non-empty folder
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
