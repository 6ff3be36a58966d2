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
    bad: tuple[str, ...] | None = None  # the target labels read as bad, when text


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


def coerce_target(values: pd.Series, name: str, bad: Sequence[str] | None = None) -> pd.Series:
    """0/1 floats (1 = bad) with NaN for unlabelled rows.

    Without ``bad`` the column must hold 0/1 (or booleans); with ``bad`` (the labels that mean
    bad, e.g. ``["bad"]``) every other label is good. Refuses anything else, saying how to
    declare text labels."""
    if bad:
        text = values.astype("string").str.strip()
        labels = {str(b).strip() for b in bad}
        present = set(text.dropna())
        if not present & labels:
            raise BadColumnError(
                f"target {name!r}: none of the bad labels {sorted(labels)} occur; "
                f"its values are {sorted(present)[:5]}"
            )
        return text.isin(labels).astype(float).where(text.notna())
    if pd.api.types.is_bool_dtype(values):
        return values.astype(float)
    out = pd.to_numeric(values, errors="coerce").astype(float)
    wrong = (values.notna() & out.isna()) | (out.notna() & ~out.isin([0.0, 1.0]))
    if wrong.any():
        found = sorted(set(values[wrong].astype(str)))[:3]
        hint = ""
        if (values.notna() & out.isna()).any():
            hint = (f"; for text labels say which mean bad: --bad {found[0]} or, in the mapping "
                    f"file, target: {{column: {name}, bad: [{found[0]}]}}")
        raise BadColumnError(f"target {name!r} must be 0/1 (1 = bad); found {found}{hint}")
    return out


def prepare(
    frame: pd.DataFrame,
    *,
    target: str = "bad_12m",
    features: Sequence[str] | None = None,
    mapping: ColumnMapping | None = None,
    time: str | None = "applied_at",
    bad: Sequence[str] | None = None,
    cat: Mapping[str, Any] | None = None,
    min_rows: int = MIN_ROWS,
    min_per_class: int = MIN_PER_CLASS,
) -> Prepared:
    """Check and coerce ``frame`` for training; see the module constants for the minimums
    (evaluation passes lower ones). ``bad``: target labels meaning bad (text targets)."""
    if target not in frame.columns:
        raise MissingTargetError(f"target column {target!r} is not in the table")
    specs = resolve_specs(list(frame.columns), features, mapping, cat)
    y = coerce_target(frame[target], target, bad)
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
    return Prepared(prepared, tuple(final), target, time_col, int((~labelled).sum()),
                    tuple(bad) if bad else None)


def _stamp(t: Any) -> str:
    """A timestamp to the second (no nanoseconds in reports)."""
    return pd.Timestamp(t).floor("s").isoformat(sep=" ")


@dataclass(frozen=True)
class SplitSpec:
    """Where the test part starts: at ``test_from`` along the time column (test: t ≥ test_from),
    else the last ``test_fraction`` of rows in time order (the cut-off is read off the data,
    ties staying together). Without a time column the last rows in file order are held out
    (a hold-out, not an out-of-time test; stated). Everything before the test part is fitted."""

    test_from: pd.Timestamp | None = None
    test_fraction: float = 0.2

    def __post_init__(self) -> None:
        if not 0 < self.test_fraction < 1:
            raise ConfigError("the test fraction must be between 0 and 1 (exclusive)")


@dataclass(frozen=True)
class Split:
    """Row positions of the fitted (``train``) and measured-only (``test``) parts, and how they
    were cut: ``kind`` is ``"out-of-time"`` (by the time column) or ``"hold-out"``."""

    train: np.ndarray
    test: np.ndarray
    method: str  # "time:<column>" or "row order (no time column)"
    test_from: str | None
    kind: str = "out-of-time"

    def summary(self, frame: pd.DataFrame, target: str, time: str | None) -> dict[str, Any]:
        """Rows, bads, bad rate and period per part (JSON-ready)."""
        parts = {}
        for part in ("train", "test"):
            idx = getattr(self, part)
            y = frame[target].to_numpy()[idx]
            d: dict[str, Any] = {"rows": int(len(idx)), "bads": int(y.sum()),
                                 "bad_rate": round(float(y.mean()), 5)}
            if time:
                ts = frame[time].iloc[idx]
                d["from"], d["to"] = _stamp(ts.min()), _stamp(ts.max())
            parts[part] = d
        return {"method": self.method, "kind": self.kind, "test_from": self.test_from, **parts}


def naive_utc(value):
    """Compare times in UTC without zones: feature-store frames carry UTC-aware timestamps,
    analysts' tables and cut-off dates usually none."""
    if isinstance(value, pd.Series):
        return value.dt.tz_convert("UTC").dt.tz_localize(None) if value.dt.tz else value
    return value.tz_convert("UTC").tz_localize(None) if value.tzinfo else value


def split_frame(prepared: Prepared, spec: SplitSpec = SplitSpec()) -> Split:
    """Cut ``prepared.frame`` into the fitted part and the test part; refuses a part with
    fewer than ``MIN_PER_CLASS_PER_PART`` bads or goods."""
    frame, time = prepared.frame, prepared.time
    n = len(frame)
    pos = np.arange(n)
    if time is None:
        cut = int(round(n * (1 - spec.test_fraction)))
        split = Split(pos[:cut], pos[cut:], "row order (no time column)", None, "hold-out")
    else:
        ts = naive_utc(frame[time])
        if spec.test_from is not None:
            tf = naive_utc(pd.Timestamp(spec.test_from))
        else:
            ordered = ts.sort_values(kind="stable").to_numpy()
            # the cut-off to the second, so the stated date is exactly the one applied
            tf = pd.Timestamp(ordered[min(int(n * (1 - spec.test_fraction)), n - 1)]).floor("s")
        t = ts.to_numpy()
        split = Split(pos[t < tf.to_datetime64()], pos[t >= tf.to_datetime64()],
                      f"time:{time}", _stamp(tf), "out-of-time")
    y = frame[prepared.target].to_numpy()
    for part in ("train", "test"):
        yp = y[getattr(split, part)]
        bads, goods = int(yp.sum()), int(len(yp) - yp.sum())
        if min(bads, goods) < MIN_PER_CLASS_PER_PART:
            cls = ConstantTargetError if min(bads, goods) == 0 else TooFewRowsError
            raise cls(
                f"{part} part has {bads} bads and {goods} goods; need at least "
                f"{MIN_PER_CLASS_PER_PART} of each (move the cut-off or add data)"
            )
    return split


#: Fewest bads and goods each cross-validation fold must hold out.
MIN_PER_CLASS_PER_FOLD = 5


def cv_folds(prepared: Prepared, rows: np.ndarray, k: int, seed: int = 42
             ) -> tuple[list[tuple[np.ndarray, np.ndarray]], str]:
    """K folds over ``rows`` (positions into ``prepared.frame``): (fit, held-out) position pairs
    and a description. With a time column the folds are forward in time (expanding window:
    fold i fits everything before its block, never later rows); without one they are
    stratified and shuffled with ``seed``. ``k`` shrinks (to 2) until every held-out block has
    ``MIN_PER_CLASS_PER_FOLD`` bads and goods."""
    y = prepared.frame[prepared.target].to_numpy()[rows]
    for kk in range(k, 1, -1):
        if prepared.time is None:
            from sklearn.model_selection import StratifiedKFold

            if min(int(y.sum()), int(len(y) - y.sum())) < kk:
                continue
            skf = StratifiedKFold(kk, shuffle=True, random_state=seed)
            folds = [(rows[a], rows[b]) for a, b in skf.split(np.zeros(len(rows)), y)]
            how = f"{kk}-fold stratified cross-validation"
        else:
            t = naive_utc(prepared.frame[prepared.time]).to_numpy()[rows]
            ordered = np.sort(t)
            cuts = [ordered[int(len(t) * i / (kk + 1))] for i in range(1, kk + 1)]
            folds = []
            for i, c in enumerate(cuts):
                nxt = cuts[i + 1] if i + 1 < len(cuts) else None
                held = (t >= c) & (t < nxt) if nxt is not None else t >= c
                folds.append((rows[t < c], rows[held]))
            how = f"{kk} forward-in-time folds (expanding window)"
        ok = all(len(a) and min(int(yy.sum()), int(len(yy) - yy.sum())) >= MIN_PER_CLASS_PER_FOLD
                 for a, b in folds for yy in [prepared.frame[prepared.target].to_numpy()[b]])
        if ok:
            return folds, how
    raise TooFewRowsError(
        f"cannot form 2 cross-validation folds with {MIN_PER_CLASS_PER_FOLD} bads and goods "
        "each in the fitted part; add data or move the test cut-off"
    )
