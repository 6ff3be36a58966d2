"""Reading and checking a labelled table, and the time-based train / validation / OOT split.

Every check runs before training and refuses with one typed error, so a bad table never costs
a training run or leaves a half-written version behind.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models.errors import (
    BadColumnError,
    ConfigError,
    ConstantTargetError,
    MissingTargetError,
    TooFewRowsError,
)
from models.features import (
    ColumnMapping,
    FeatureSpec,
    coerce_column,
    default_features,
    spec_from_catalog,
)

#: Refuse below these: fewer rows cannot support a validation and an out-of-time part.
MIN_ROWS = 500
MIN_PER_CLASS = 30  # bads and goods over the whole table
MIN_PER_CLASS_PER_PART = 10  # bads and goods in each of train / validation / OOT test
#: Columns carried through untouched when present (segments, oracle, ids).
PASSTHROUGH = ("application_id", "lease_type", "dealer_channel", "province", "region", "true_pd")


def read_table(path: str | Path) -> pd.DataFrame:
    """A Parquet (``.parquet``/``.pq``) or CSV (``.csv``, ``.csv.gz``) file as a DataFrame."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"data file {path} does not exist")
    name = path.name.lower()
    try:
        if name.endswith((".parquet", ".pq")):
            return pd.read_parquet(path)
        if name.endswith((".csv", ".csv.gz", ".txt")):
            return pd.read_csv(path, low_memory=False)
    except Exception as exc:  # noqa: BLE001 - any reader failure is one operator message
        raise ConfigError(f"cannot read {path}: {exc}") from None
    raise ConfigError(f"data file {path}: expected .parquet, .pq or .csv")


@dataclass(frozen=True)
class Prepared:
    """A checked table: one column per feature (canonical names, coerced dtypes), ``target``
    as 0/1 ints, the time column (if any) as timestamps, plus passthrough columns."""

    frame: pd.DataFrame
    specs: tuple[FeatureSpec, ...]
    target: str
    time: str | None
    dropped_unlabelled: int = 0


def resolve_specs(
    columns: Sequence[str],
    features: Sequence[str] | None,
    mapping: ColumnMapping | None,
    cat: Mapping[str, Any] | None = None,
) -> list[FeatureSpec]:
    """The model inputs: ``features`` (catalog or mapped names), else every mapped column, else
    every catalog application feature (all must then be present)."""
    by_name = {s.name: s for s in mapping.columns.values()} if mapping else {}
    if features:
        specs = [by_name.get(n) or spec_from_catalog(n, cat) for n in features]
    elif mapping:
        specs = list(mapping.columns.values())
    else:
        specs = default_features(cat)
        absent = [s.name for s in specs if s.name not in columns]
        if absent:
            raise BadColumnError(
                f"table lacks {len(absent)} catalog application feature(s) (e.g. {absent[:3]}); "
                "pass --features or a --mapping file to train on a subset"
            )
    wanted = [s.source_column or s.name for s in specs]
    absent = [c for c in wanted if c not in columns]
    if absent:
        raise BadColumnError(f"table has no column(s) {absent[:5]} for the requested features")
    if not specs:
        raise BadColumnError("no features to train on")
    return specs


def coerce_target(values: pd.Series, name: str) -> pd.Series:
    """0/1 floats with NaN for unlabelled rows; refuses anything else."""
    if pd.api.types.is_bool_dtype(values):
        return values.astype(float)
    out = pd.to_numeric(values, errors="coerce").astype(float)
    bad = (values.notna() & out.isna()) | (out.notna() & ~out.isin([0.0, 1.0]))
    if bad.any():
        found = sorted(set(values[bad].astype(str)))[:3]
        raise BadColumnError(f"target {name!r} must be 0/1 (1 = bad); found {found}")
    return out


def prepare(
    frame: pd.DataFrame,
    *,
    target: str = "bad_12m",
    features: Sequence[str] | None = None,
    mapping: ColumnMapping | None = None,
    time: str | None = "applied_at",
    cat: Mapping[str, Any] | None = None,
    min_rows: int = MIN_ROWS,
    min_per_class: int = MIN_PER_CLASS,
) -> Prepared:
    """Check and coerce ``frame`` for training; see the module constants for the minimums
    (evaluation passes lower ones)."""
    if target not in frame.columns:
        raise MissingTargetError(f"target column {target!r} is not in the table")
    specs = resolve_specs(list(frame.columns), features, mapping, cat)
    y = coerce_target(frame[target], target)
    labelled = y.notna().to_numpy()
    n = int(labelled.sum())
    if n == 0:
        raise MissingTargetError(f"target column {target!r} has no labelled rows")
    bads = int(y[labelled].sum())
    if bads in (0, n):
        raise ConstantTargetError(f"target {target!r} is constant ({int(y[labelled].iloc[0])}) "
                                  f"over all {n} labelled rows")
    if n < min_rows:
        raise TooFewRowsError(f"{n} labelled rows; need at least {min_rows}")
    if min(bads, n - bads) < min_per_class:
        raise TooFewRowsError(
            f"{bads} bads and {n - bads} goods; need at least {min_per_class} of each"
        )
    src = frame.loc[labelled]
    out: dict[str, Any] = {}
    final: list[FeatureSpec] = []
    for spec in specs:
        col = src[spec.source_column or spec.name]
        if spec.dtype == "category" and not spec.categories:  # new feature: learn its levels
            levels = tuple(sorted(set(col.dropna().astype(str))))
            spec = replace(spec, categories=levels)
        out[spec.name] = coerce_column(col, spec)
        final.append(spec)
    out[target] = y[labelled].astype(int)
    time_col = time if time and time in src.columns else None
    if time and not time_col and time != "applied_at":
        raise BadColumnError(f"time column {time!r} is not in the table")
    if time_col:
        ts = pd.to_datetime(src[time_col], errors="coerce")
        if ts.isna().any():
            raise BadColumnError(f"time column {time_col!r} has {int(ts.isna().sum())} "
                                 "missing or unparseable values")
        out[time_col] = ts
    for col in PASSTHROUGH:
        if col in src.columns and col not in out:
            out[col] = src[col]
    prepared = pd.DataFrame(out, index=src.index).reset_index(drop=True)
    return Prepared(prepared, tuple(final), target, time_col, int((~labelled).sum()))


def _stamp(t: Any) -> str:
    """A timestamp to the second (no nanoseconds in reports)."""
    return pd.Timestamp(t).floor("s").isoformat(sep=" ")


@dataclass(frozen=True)
class SplitSpec:
    """How to cut train / validation / out-of-time test along time.

    Either explicit cut-offs (train: t < valid_from; validation: valid_from ≤ t < test_from;
    test: t ≥ test_from) or ``fractions`` of rows in time order (cut-offs are then read off
    the data, ties staying together). Without a time column, row order is used (stated)."""

    valid_from: pd.Timestamp | None = None
    test_from: pd.Timestamp | None = None
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)

    def __post_init__(self) -> None:
        if (self.valid_from is None) != (self.test_from is None):
            raise ConfigError("give both --valid-from and --test-from, or neither")
        if self.valid_from is not None and self.valid_from >= self.test_from:  # type: ignore[operator]
            raise ConfigError("--valid-from must be before --test-from")
        f = self.fractions
        if len(f) != 3 or min(f) <= 0 or abs(sum(f) - 1) > 1e-6:
            raise ConfigError("split fractions must be three positive numbers summing to 1")


@dataclass(frozen=True)
class Split:
    """Row positions of each part and a statement of how they were cut."""

    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    method: str  # "time:<column>" or "row order"
    valid_from: str | None
    test_from: str | None

    def summary(self, frame: pd.DataFrame, target: str, time: str | None) -> dict[str, Any]:
        """Rows, bads, bad rate and period per part (JSON-ready)."""
        parts = {}
        for part in ("train", "valid", "test"):
            idx = getattr(self, part)
            y = frame[target].to_numpy()[idx]
            d: dict[str, Any] = {"rows": int(len(idx)), "bads": int(y.sum()),
                                 "bad_rate": round(float(y.mean()), 5)}
            if time:
                ts = frame[time].iloc[idx]
                d["from"], d["to"] = _stamp(ts.min()), _stamp(ts.max())
            parts[part] = d
        return {"method": self.method, "valid_from": self.valid_from,
                "test_from": self.test_from, **parts}


def naive_utc(value):
    """Compare times in UTC without zones: feature-store frames carry UTC-aware timestamps,
    analysts' tables and cut-off dates usually none."""
    if isinstance(value, pd.Series):
        return value.dt.tz_convert("UTC").dt.tz_localize(None) if value.dt.tz else value
    return value.tz_convert("UTC").tz_localize(None) if value.tzinfo else value


def split_frame(prepared: Prepared, spec: SplitSpec = SplitSpec()) -> Split:
    """Cut ``prepared.frame`` into train / validation / OOT test; refuses empty or one-class
    parts (each needs ``MIN_PER_CLASS_PER_PART`` bads and goods)."""
    frame, time = prepared.frame, prepared.time
    n = len(frame)
    if time is None:
        a, b = int(n * spec.fractions[0]), int(n * (spec.fractions[0] + spec.fractions[1]))
        pos = np.arange(n)
        split = Split(pos[:a], pos[a:b], pos[b:], "row order (no time column)", None, None)
    else:
        ts = naive_utc(frame[time])
        if spec.valid_from is not None:
            vf, tf = (naive_utc(pd.Timestamp(spec.valid_from)),
                      naive_utc(pd.Timestamp(spec.test_from)))
        else:
            ordered = ts.sort_values(kind="stable").to_numpy()
            # cut-offs to the second, so the stated dates are exactly the ones applied
            vf = pd.Timestamp(ordered[int(n * spec.fractions[0])]).floor("s")
            tf = pd.Timestamp(ordered[int(n * (spec.fractions[0] + spec.fractions[1]))]).floor("s")
        t = ts.to_numpy()
        pos = np.arange(n)
        split = Split(
            pos[t < vf.to_datetime64()],
            pos[(t >= vf.to_datetime64()) & (t < tf.to_datetime64())],
            pos[t >= tf.to_datetime64()],
            f"time:{time}",
            _stamp(vf),
            _stamp(tf),
        )
    y = frame[prepared.target].to_numpy()
    for part in ("train", "valid", "test"):
        yp = y[getattr(split, part)]
        bads, goods = int(yp.sum()), int(len(yp) - yp.sum())
        if min(bads, goods) < MIN_PER_CLASS_PER_PART:
            cls = ConstantTargetError if min(bads, goods) == 0 else TooFewRowsError
            raise cls(
                f"{part} part has {bads} bads and {goods} goods; need at least "
                f"{MIN_PER_CLASS_PER_PART} of each (move the cut-offs or add data)"
            )
    return split
