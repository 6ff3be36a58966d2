"""Vectorised string building on Arrow arrays.

Millions of SMS bodies, IDs and JSON fragments are assembled column-wise with pyarrow compute
kernels instead of per-row Python formatting, which is what keeps 100k-customer worlds fast.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_FIELD = re.compile(r"\{(\w+)\}")


def ints(values: np.ndarray) -> pa.Array:
    """Decimal string of each integer."""
    return pc.cast(pa.array(np.asarray(values, dtype=np.int64)), pa.string())


def padded(values: np.ndarray, width: int) -> pa.Array:
    """Zero-padded decimal string of each non-negative integer."""
    return pc.utf8_lpad(ints(values), width, "0")


def ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """Prefixed, zero-padded identifiers such as CU00000042 (they sort like the numbers)."""
    return pc.binary_join_element_wise(prefix, padded(numbers, width), "")


def money(cents: np.ndarray) -> pa.Array:
    """Human money text with two decimals, e.g. 1234.50, from integer cents."""
    c = np.asarray(cents, dtype=np.int64)
    return pc.binary_join_element_wise(ints(c // 100), ".", padded(c % 100, 2), "")


def pick(vocab: Sequence[str] | np.ndarray, idx: np.ndarray) -> pa.Array:
    """vocab[idx] as an Arrow string array."""
    return pc.take(pa.array(list(vocab), pa.string()), pa.array(np.asarray(idx, dtype=np.int64)))


def concat(*parts: pa.Array | str) -> pa.Array:
    """Element-wise concatenation of arrays and literal strings."""
    return pc.binary_join_element_wise(*parts, "")


def render(template: str, fields: Mapping[str, pa.Array]) -> pa.Array:
    """Fill `{name}` placeholders of one template from same-length string arrays."""
    parts: list[pa.Array | str] = []
    pos = 0
    for m in _FIELD.finditer(template):
        if m.start() > pos:
            parts.append(template[pos : m.start()])
        parts.append(fields[m.group(1)])
        pos = m.end()
    if pos < len(template):
        parts.append(template[pos:])
    if not any(isinstance(p, pa.Array) for p in parts):
        raise ValueError(f"template without fields: {template!r}")
    return concat(*parts)


def render_many(
    templates: Sequence[str], which: np.ndarray, field: Callable[[str, np.ndarray], pa.Array]
) -> pa.Array:
    """Row i gets templates[which[i]] filled in; `field(name, rows)` builds the strings of
    placeholder `name` for the given row numbers only, so unused fields cost nothing."""
    n = len(which)
    out: list[pa.Array] = []
    order: list[np.ndarray] = []
    for k, tpl in enumerate(templates):
        rows = np.flatnonzero(which == k)
        if len(rows) == 0:
            continue
        names = dict.fromkeys(_FIELD.findall(tpl))  # ordered: fields draw random numbers
        out.append(render(tpl, {name: field(name, rows) for name in names}))
        order.append(rows)
    if not out:
        return pa.array([], pa.string())
    merged = pa.concat_arrays(out)
    inverse = np.empty(n, dtype=np.int64)
    inverse[np.concatenate(order)] = np.arange(n)
    return merged.take(pa.array(inverse))


def fixed_width(chars: np.ndarray) -> pa.Array:
    """Rows of an (n, w) uint8 ASCII matrix as strings of width w."""
    n, w = chars.shape
    buf = pa.py_buffer(np.ascontiguousarray(chars, dtype=np.uint8).tobytes())
    return pa.Array.from_buffers(pa.binary(w), n, [None, buf]).cast(pa.binary()).cast(pa.string())


def join_lists(offsets: np.ndarray, values: pa.Array, sep: str = ",") -> pa.Array:
    """Join the string values of consecutive groups (given by offsets, len = groups + 1)."""
    lists = pa.ListArray.from_arrays(pa.array(np.asarray(offsets, dtype=np.int32)), values)
    return pc.binary_join(lists, sep)


def group_offsets(group_of_row: np.ndarray, n_groups: int) -> np.ndarray:
    """Offsets for rows already sorted by group number 0..n_groups-1."""
    counts = np.bincount(group_of_row, minlength=n_groups)
    return np.concatenate([[0], np.cumsum(counts)])
