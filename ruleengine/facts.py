"""Feature values checked against the catalog before either executor sees them.

durable-rules never rejects a type: it compares a string with a number as text, counts ``true``
as ``1`` and NaN matches nothing. So both executors receive values coerced here, with one
definition of *missing*: absent, ``None``, ``pd.NA`` or NaN. Missing features are left out of
the durable fact (where every comparison on an absent field is false) and are NaN / code -1 in
the vector executor's columns.

Ranges, identical in both executors: ints within ±2**53 (exact in float64); floats finite,
``|x| < 1e15``, and ``|x| < 1e-9`` is flushed to 0 (durable's parser needs positional numbers).
"""

from __future__ import annotations

import json
import numbers
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from ruleengine.errors import FactError
from ruleengine.jsontext import format_number

INT_LIMIT = 2**53
FLOAT_LIMIT = 1e15
FLOAT_TINY = 1e-9


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def is_missing(v: Any) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    return isinstance(v, float | np.floating) and v != v


def _bad(name: str, dtype: str, v: Any) -> FactError:
    return FactError(f"feature {name} is {dtype}: got {v!r} ({type(v).__name__})")


def _as_int(name: str, v: Any) -> Any:
    if type(v) is int:
        x = v
    elif is_missing(v):
        return MISSING
    elif isinstance(v, bool | np.bool_ | str | bytes):
        raise _bad(name, "int", v)
    elif isinstance(v, numbers.Integral):
        x = int(v)
    elif isinstance(v, numbers.Real | Decimal):
        f = float(v)
        if not f.is_integer():
            raise _bad(name, "int", v)
        x = int(f)
    else:
        raise _bad(name, "int", v)
    if -INT_LIMIT <= x <= INT_LIMIT:
        return x
    raise FactError(f"feature {name}: {v!r} is out of range (|x| <= 2**53)")


def _as_float(name: str, v: Any) -> Any:
    if type(v) is float:
        x = v
    elif is_missing(v):
        return MISSING
    elif isinstance(v, bool | np.bool_ | str | bytes):
        raise _bad(name, "float", v)
    elif isinstance(v, numbers.Real | Decimal):
        x = float(v)
    else:
        raise _bad(name, "float", v)
    if x != x:
        return MISSING
    if not -FLOAT_LIMIT < x < FLOAT_LIMIT:
        raise FactError(f"feature {name}: {v!r} is out of range (|x| < 1e15)")
    return 0.0 if -FLOAT_TINY < x < FLOAT_TINY else x


def _as_bool(name: str, v: Any) -> Any:
    if v is True or v is False:
        return v
    if is_missing(v):
        return MISSING
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, numbers.Real) and not isinstance(v, str) and v in (0, 1):
        return bool(v)
    raise _bad(name, "bool", v)


def _category(name: str, categories: tuple[str, ...]) -> Callable[[Any], Any]:
    allowed = frozenset(categories)

    def coerce(v: Any) -> Any:
        if isinstance(v, str):
            if v in allowed:
                return v
            choices = ", ".join(categories)
            raise FactError(f"feature {name}: unknown category {v!r}; one of {choices}")
        if is_missing(v):
            return MISSING
        raise _bad(name, "category", v)

    return coerce


def coercer(fd: Any) -> Callable[[Any], Any]:
    """A function value -> coerced value or MISSING (raises :class:`FactError`)."""
    if fd.dtype == "int":
        return lambda v: _as_int(fd.name, v)
    if fd.dtype == "float":
        return lambda v: _as_float(fd.name, v)
    if fd.dtype == "bool":
        return lambda v: _as_bool(fd.name, v)
    return _category(fd.name, fd.categories)


class FactEncoder:
    """Coerces the features one ruleset reads and writes them as the body of a durable fact.

    Only the features the rules read are sent (durable fails beyond 255 fields), and missing
    ones are left out, so durable's "absent field" semantics is the one definition of missing.
    """

    def __init__(self, names: Sequence[str], catalog: Mapping[str, Any]):
        self.names = tuple(names)
        self._steps = [(n, coercer(catalog[n]), json.dumps(n) + ":") for n in self.names]

    def coerce(self, features: Mapping[str, Any]) -> dict[str, Any]:
        """The read features, coerced; missing ones absent."""
        out: dict[str, Any] = {}
        get = features.get
        for name, coerce, _ in self._steps:
            value = coerce(get(name))
            if value is not MISSING:
                out[name] = value
        return out

    def encode(self, features: Mapping[str, Any]) -> str:
        """``"f1":v1,"f2":v2`` for the present read features (the fact body after sid and id)."""
        parts = []
        get = features.get
        for name, coerce, key in self._steps:
            value = coerce(get(name))
            if value is MISSING:
                continue
            if isinstance(value, str):
                parts.append(key + json.dumps(value, ensure_ascii=False))
            else:
                parts.append(key + format_number(value))
        return ",".join(parts)


# -- frames ---------------------------------------------------------------------------------
def _float_column(name: str, s: pd.Series) -> np.ndarray:
    if pd.api.types.is_bool_dtype(s.dtype) or not (
        pd.api.types.is_numeric_dtype(s.dtype) or s.dtype == object
    ):
        raise FactError(f"column {name}: expected numbers, got dtype {s.dtype}")
    try:
        x = s.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise FactError(f"column {name}: expected numbers ({exc})") from None
    return x


def _column(fd: Any, s: pd.Series) -> np.ndarray:
    name = fd.name
    if fd.dtype == "category":
        return _category_codes(name, fd.categories, s)
    if fd.dtype == "bool":
        if pd.api.types.is_bool_dtype(s.dtype):
            x = s.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            x = _float_column(name, s) if s.dtype != object else _object_bools(name, s)
        return _checked_numbers(fd, x)
    return _checked_numbers(fd, _float_column(name, s))


def _checked_numbers(fd: Any, x: np.ndarray) -> np.ndarray:
    """A float64 column (NaN = missing) checked against ``fd``'s dtype and ranges: the
    numeric half of `_column`, on numpy alone — a candidate grid's computed columns are
    float arrays already, and a pandas Series per column cost more than the check."""
    name = fd.name
    if fd.dtype == "bool":
        present = ~np.isnan(x)
        if not np.isin(x[present], (0.0, 1.0)).all():
            raise FactError(f"column {name} is bool: values must be true/false or 0/1")
        return x
    finite = np.isfinite(x)
    if np.isinf(x).any():
        raise FactError(f"column {name}: infinite values")
    if fd.dtype == "int":
        v = x[finite]
        if (v != np.floor(v)).any():
            raise FactError(f"column {name} is int: non-integral values")
        if (np.abs(v) > INT_LIMIT).any():
            raise FactError(f"column {name}: values out of range (|x| <= 2**53)")
        return x
    if (np.abs(x[finite]) >= FLOAT_LIMIT).any():
        raise FactError(f"column {name}: values out of range (|x| < 1e15)")
    with np.errstate(invalid="ignore"):
        return np.where(np.abs(x) < FLOAT_TINY, 0.0, x)


def _category_codes(name: str, categories: tuple[str, ...], s: pd.Series) -> np.ndarray:
    if isinstance(s.dtype, pd.CategoricalDtype):  # remap codes without touching strings
        index = {c: i for i, c in enumerate(categories)}
        lut = np.array([index.get(c, -2) for c in s.cat.categories] + [-1], dtype=np.int16)
        codes = lut[s.cat.codes.to_numpy()]
        if (codes == -2).any():
            bad = sorted({str(c) for c in s.cat.categories if c not in index})[:5]
            raise FactError(f"column {name}: unknown categories {bad}")
        return codes
    cat = pd.Categorical(s, categories=list(categories))
    codes = np.asarray(cat.codes, dtype=np.int16)
    unknown = (codes < 0) & ~pd.isna(s).to_numpy()
    if unknown.any():
        bad = pd.unique(np.asarray(s, dtype=object)[unknown])[:5]
        raise FactError(f"column {name}: unknown categories {list(bad)}")
    return codes


def _object_bools(name: str, s: pd.Series) -> np.ndarray:
    out = np.empty(len(s), dtype=np.float64)
    for i, v in enumerate(s.to_numpy(dtype=object)):
        b = _as_bool(name, v)
        out[i] = np.nan if b is MISSING else float(b)
    return out


#: facts the platform computes only at decision time (its own books, the consent on file): a
#: historical frame (backtest, notebooks) has none, and reads them as missing — as the online
#: path reads an absent key (catalog: "not computed (offline paths)")
DECISION_TIME_SOURCES = ("platform_books", "consent")


def frame_columns(
    df: pd.DataFrame, names: Sequence[str], catalog: Mapping[str, Any]
) -> dict[str, np.ndarray]:
    """Validated numpy columns: float64 with NaN for numbers and bools, int16 codes for
    categories (-1 = missing, codes in catalog order)."""
    absent = [n for n in names if n not in df.columns
              and getattr(catalog.get(n), "source", None) not in DECISION_TIME_SOURCES]
    if absent:
        raise FactError(f"frame lacks column(s) read by the rules: {', '.join(absent)}")
    n_rows = len(df)
    return {n: _column(catalog[n], df[n]) if n in df.columns
            else _column(catalog[n], pd.Series([None] * n_rows, dtype=object))
            for n in names}


def repeated_columns(
    features: Mapping[str, Any], names: Sequence[str], catalog: Mapping[str, Any], n_rows: int
) -> dict[str, np.ndarray]:
    """`frame_columns` of ``n_rows`` copies of one row, coded from its values by the same
    coercion the durable fact uses (no frame): the unchanged part of a candidate grid."""
    out: dict[str, np.ndarray] = {}
    for name in names:
        fd = catalog[name]
        v = coercer(fd)(features.get(name))
        if fd.dtype == "category":
            code = -1 if v is MISSING else fd.categories.index(v)
            out[name] = np.full(n_rows, code, dtype=np.int16)
        else:
            out[name] = np.full(n_rows, np.nan if v is MISSING else float(v))
    return out


def array_column(fd: Any, values: np.ndarray) -> np.ndarray:
    """One column of values (numbers, or category labels) coded and checked as
    `frame_columns` codes a frame's column."""
    if fd.dtype == "category" and values.dtype == object:  # labels: code without pandas
        index = {c: i for i, c in enumerate(fd.categories)}
        codes = np.fromiter((-1 if is_missing(v) else index.get(v, -2) for v in values),
                            dtype=np.int16, count=len(values))
        if (codes == -2).any():
            raise FactError(f"column {fd.name}: unknown categories "
                            f"{sorted({str(v) for v in values if v not in index})[:5]}")
        return codes
    numeric = values.dtype.kind in "fiu" or (values.dtype.kind == "b" and fd.dtype == "bool")
    if numeric and fd.dtype != "category":  # numbers: checked on numpy alone
        return _checked_numbers(fd, values.astype(np.float64, copy=False))
    return _column(fd, pd.Series(values, copy=False))


def rows_to_frame(rows: Sequence[Mapping[str, Any]], names: Sequence[str]) -> pd.DataFrame:
    """A frame of ``rows`` restricted to ``names`` (object columns; missing keys become None)."""
    data = {n: pd.Series([r.get(n) for r in rows], dtype=object) for n in names}
    return pd.DataFrame(data, index=pd.RangeIndex(len(rows)))
