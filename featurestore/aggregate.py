"""Point-in-time join and grouped reductions on numpy arrays.

Feature computation runs for one entity per request (online) and for 100,000+ entities
(historical); pandas merges and groupbys cost milliseconds each even on a one-row frame, so
the join and the reductions are done here with sorted arrays, `searchsorted` and `bincount`,
which cost microseconds at one row and stay linear at a million.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

US_PER_DAY = 86_400_000_000
#: Largest (rows × key range) counted with a bitmap in `Visible.count_distinct_keys` (32 MB).
BITMAP_CELLS = 1 << 25


def micros(values: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """UTC timestamps as int64 microseconds since the epoch (NaT → min int64)."""
    return (
        np.asarray(values.astype("datetime64[us, UTC]").astype("int64"), dtype=np.int64)
        if isinstance(values, pd.Series)
        else values.asi8
    )


def _codes(values: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Integer codes (-1 for missing) and the distinct values they index: a categorical's own
    codes (the store's facts are categoricals, `normalise_facts`; hashing millions of them
    again was a tenth of the nightly features), else `pd.factorize`."""
    if isinstance(values.dtype, pd.CategoricalDtype):  # (the categories as they are: a
        # night's inquiry digests are ~150k strings, not worth an object copy per partition)
        return (values.cat.codes.to_numpy().astype(np.int32, copy=False),
                pd.Index(values.cat.categories))
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    return codes.astype(np.int32), pd.Index(uniques, dtype=object)


def stable_order(key: np.ndarray) -> np.ndarray:
    """`np.argsort(key, kind="stable")` of non-negative integer keys: below 2**32 as two
    16-bit radix passes (numpy sorts 16-bit integers by radix, in linear time), where the
    merge sort of 32-bit keys was a third of building a night's index — its facts come in
    arrival order, not grouped by customer."""
    top = int(key.max()) if len(key) else 0
    if top >= 1 << 32:
        return np.argsort(key, kind="stable")
    order = np.argsort(key.astype(np.uint16), kind="stable")  # (the low 16 bits)
    if top < 1 << 16:
        return order
    return order[np.argsort((key >> 16).astype(np.uint16)[order], kind="stable")]


@dataclass(frozen=True)
class FactIndex:
    """Facts as integer codes sorted by (source, customer), so each entity's facts of one
    source are one contiguous slice; text lives once in the `*_names` indexes."""

    source_names: pd.Index
    customer_names: pd.Index
    kind_names: pd.Index
    key_names: pd.Index
    source: np.ndarray
    customer: np.ndarray
    kind: np.ndarray
    event_us: np.ndarray
    uploaded_us: np.ndarray
    value: np.ndarray
    key: np.ndarray

    @classmethod
    def build(cls, facts: pd.DataFrame) -> FactIndex:
        src, src_names = _codes(facts["source"])
        cust, cust_names = _codes(facts["customer_id"].astype(str)
                                  if not isinstance(facts["customer_id"].dtype,
                                                    pd.CategoricalDtype)
                                  else facts["customer_id"])
        kind, kind_names = _codes(facts["kind"])
        key, key_names = _codes(facts["key"])
        # one integer key (source, customer) and one stable sort: a lexsort of the two was
        # twice the work, for the same order (int32 when it fits, built in place)
        span = len(cust_names) + 1
        wide = (len(src_names) + 1) * span >= np.iinfo(np.int32).max
        order = src.astype(np.int64 if wide else np.int32)
        order += 1
        order *= span
        order += cust
        order += 1
        order = stable_order(order)
        return cls(
            source_names=src_names, customer_names=pd.Index(cust_names.astype(str, copy=False)),
            kind_names=kind_names, key_names=key_names,
            source=src[order], customer=cust[order], kind=kind[order],
            event_us=micros(facts["event_time"])[order],
            uploaded_us=micros(facts["uploaded_at"])[order],
            value=facts["value"].to_numpy(dtype="float64")[order], key=key[order],
        )

    def source_slice(self, source: str) -> slice:
        code = self.source_names.get_indexer([source])[0]
        if code < 0:
            return slice(0, 0)
        # the code in the array's own dtype: an int64 scalar made numpy cast every source code
        # (millions of facts) to int64 for each search, ~8 ms a join at night
        code = self.source.dtype.type(code)
        return slice(int(np.searchsorted(self.source, code, "left")),
                     int(np.searchsorted(self.source, code, "right")))

    def customer_codes(self, customers: np.ndarray) -> np.ndarray:
        """Codes of entity customers (-1 for a customer without any fact)."""
        keys = pd.Index(customers)
        if keys.dtype != self.customer_names.dtype and keys.inferred_type != "string":
            keys = keys.astype(str)  # (text already is looked up as it is: no copy)
        return self.customer_names.get_indexer(keys)

    def kind_codes(self, *kinds: str) -> np.ndarray:
        return np.array([self._kind_code.get(k, -1) for k in kinds], np.intp)

    @cached_property
    def _kind_code(self) -> dict[str, int]:
        """Kind name → code (a few dozen kinds; an `Index.get_indexer` per question built a
        text array each time)."""
        return {k: i for i, k in enumerate(self.kind_names)}


NAT = np.iinfo(np.int64).min


def _row_max(rows: np.ndarray, values: np.ndarray) -> np.ndarray:
    """For each pair, the largest of ``values`` over the pairs of its entity row. ``rows``
    comes grouped (a `Visible` join emits each row's pairs together and every subset keeps
    it), so one `reduceat` over the runs, no sort and no scattered `maximum.at`."""
    if not len(rows):
        return values.copy()
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    return np.repeat(np.maximum.reduceat(values, starts), np.diff(np.r_[starts, len(rows)]))


class Visible:
    """(entity row, fact) pairs of one source that the row may see at its as-of time.

    Held as the pairs' entity rows and their facts' positions in the index; a fact column
    (`kind`, `event_us`, `uploaded_us`, `value`, `key`, `age_days`) is gathered on first use.
    A `subset` masks a column only when it is read, from its parent's copy when the parent
    has one (the nightly features take ~30 subsets of a million pairs, most reading one or
    two columns: masking every gathered column up front was a sixth of the fact features).
    `within_days`, `of_kind` and `latest_upload_only` are kept per object, with
    `distinct_days` and `mean`: the loan features and the behaviour columns ask the same
    joined source the same questions (the bureau's latest report twice per side)."""

    def __init__(self, index: FactIndex, n_rows: int, row: np.ndarray, pos: np.ndarray,
                 as_of_us: np.ndarray, columns: dict[str, np.ndarray] | None = None,
                 parent: tuple[Visible, np.ndarray] | None = None,
                 custom: frozenset[str] = frozenset()):
        self.index, self.n_rows, self.row, self.pos = index, n_rows, row, pos
        self._as_of_us = as_of_us  # per entity row
        self._columns = columns if columns is not None else {}
        self._parent = parent  # (the Visible this is a subset of, the mask)
        self._custom = custom  # columns not gathered from the index (`with_key`)
        self._memo: dict[tuple, Any] = {}

    def _column(self, name: str) -> np.ndarray:
        got = self._columns.get(name)
        if got is None:
            up = self._parent
            if up is not None and (name in self._custom or name in up[0]._columns):
                got = up[0]._column(name)[up[1]]
            elif name == "age_days":
                got = (self._as_of_us[self.row] - self.event_us) / US_PER_DAY
            else:
                got = getattr(self.index, name)[self.pos]
            self._columns[name] = got
        return got

    def _memoised(self, key: tuple, make: Callable[[], Any]) -> Any:
        got = self._memo.get(key)
        if got is None:
            got = self._memo[key] = make()
        return got

    kind = property(lambda self: self._column("kind"))
    event_us = property(lambda self: self._column("event_us"))
    uploaded_us = property(lambda self: self._column("uploaded_us"))
    value = property(lambda self: self._column("value"))
    key = property(lambda self: self._column("key"))
    age_days = property(lambda self: self._column("age_days"))

    @classmethod
    def join(cls, index: FactIndex, source: str, customers: np.ndarray,
             as_of_us: np.ndarray, codes: np.ndarray | None = None) -> Visible:
        """``codes``: `index.customer_codes(customers)` when the caller already has them
        (one lookup per entity frame instead of one per source).

        The pairs come grouped by entity row, each row's facts in index order — not in row
        order: each customer's first row is one lookup per fact, the slice's facts in their
        own order (the store's codes are text-sorted, so they never follow the loans); the
        further rows of customers who hold several loans are expanded after."""
        sl = index.source_slice(source)
        cust = index.customer[sl]  # sorted codes, -1 (no customer) first
        wanted = index.customer_codes(customers) if codes is None else codes
        known = np.flatnonzero(wanted >= 0)
        n_codes = len(index.customer_names)
        rows_of = np.bincount(wanted[known], minlength=n_codes)  # entity rows per code
        shared = rows_of[wanted[known]] > 1
        # code → the first entity row of its customer (-1: none); the extra last cell
        # answers -1 for a fact without a customer, so the int32 codes index it as they are
        of_code = np.full(n_codes + 1, -1, np.intp)
        alone = known[~shared]
        of_code[wanted[alone]] = alone
        extra = alone[:0]
        if len(alone) < len(known):  # customers holding several loans: first rows here,
            many = known[shared]     # the other rows expanded below
            many = many[np.argsort(wanted[many], kind="stable")]
            first = np.r_[True, wanted[many][1:] != wanted[many][:-1]]
            of_code[wanted[many[first]]] = many[first]
            extra = many[~first]
        row = of_code[cust]
        picked = row >= 0
        if picked.all():  # a night's facts are all of its loans' customers: the slice as is
            pos = np.arange(sl.start, sl.stop)
            event, uploaded = index.event_us[sl], index.uploaded_us[sl]
        else:
            take = np.flatnonzero(picked)
            row, pos = row[take], sl.start + take
            event, uploaded = index.event_us[pos], index.uploaded_us[pos]
        if len(extra):  # each further row of a customer: its code's range of the slice
            code = wanted[extra].astype(cust.dtype)
            lo = np.searchsorted(cust, code, "left")
            counts = np.searchsorted(cust, code, "right") - lo
            more_row = np.repeat(extra, counts)
            # positions lo[r] .. lo[r]+counts[r]-1 for each row, without a Python loop
            starts = np.repeat(lo - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
            more_pos = sl.start + starts + np.arange(counts.sum())
            row, pos = np.concatenate([row, more_row]), np.concatenate([pos, more_pos])
            event = np.concatenate([event, index.event_us[more_pos]])
            uploaded = np.concatenate([uploaded, index.uploaded_us[more_pos]])
        # one as-of for every row (the night): compared as a scalar, not gathered per pair
        one = len(as_of_us) > 0 and bool((as_of_us == as_of_us[0]).all())
        as_of = as_of_us[0] if one else as_of_us[row]
        ok = (event <= as_of) & (uploaded <= as_of)
        if ok.all():  # a night's read: every fact read is before the night
            return cls(index, len(customers), row, pos, as_of_us,
                       {"event_us": event, "uploaded_us": uploaded})
        return cls(index, len(customers), row[ok], pos[ok], as_of_us,
                   {"event_us": event[ok], "uploaded_us": uploaded[ok]})

    def subset(self, mask: np.ndarray) -> Visible:
        return Visible(self.index, self.n_rows, self.row[mask], self.pos[mask], self._as_of_us,
                       parent=(self, mask), custom=self._custom)

    def with_key(self, key: np.ndarray) -> Visible:
        """The same pairs keyed by ``key`` (one integer per pair, e.g. the fix's day), for
        `count_distinct_keys`."""
        return Visible(self.index, self.n_rows, self.row, self.pos, self._as_of_us,
                       {**self._columns, "key": key}, self._parent, self._custom | {"key"})

    def of_kind(self, *kinds: str) -> Visible:
        def make() -> Visible:
            codes = self.index.kind_codes(*kinds)
            return self.subset(self.kind == codes[0] if len(codes) == 1
                               else np.isin(self.kind, codes))

        return self._memoised(("kind", kinds), make)

    def within_days(self, days: float) -> Visible:
        return self._memoised(("within", days), lambda: self.subset(self.age_days < days))

    def distinct_days(self) -> np.ndarray:
        """Distinct event days (UTC) per row — a tracker's days with a fix."""
        return self._memoised(("days",), lambda: self.with_key(
            self.event_us // US_PER_DAY).count_distinct_keys()).copy()

    # ---- reductions: one value per entity row -------------------------------------------
    def count(self) -> np.ndarray:
        return self._memoised(("count",), lambda: np.bincount(
            self.row, minlength=self.n_rows).astype("float64")).copy()

    def has_any(self) -> np.ndarray:
        return self.count() > 0

    def total(self) -> np.ndarray:
        return np.bincount(self.row, weights=self.value, minlength=self.n_rows)

    def mean(self) -> np.ndarray:
        def make() -> np.ndarray:
            n = self.count()
            with np.errstate(invalid="ignore", divide="ignore"):
                return np.where(n > 0, self.total() / n, np.nan)

        return self._memoised(("mean",), make).copy()

    def count_distinct_keys(self) -> np.ndarray:
        """Distinct non-negative key codes per row (digests, or any integer key)."""
        rows, keys = self.row, self.key
        has_key = keys >= 0
        if not has_key.all():
            rows, keys = rows[has_key], keys[has_key]
        if not len(rows):
            return np.zeros(self.n_rows)
        # the pairs come grouped by row; when each row's keys are in order too (a night's
        # fix days: the store lists facts as they arrived) the distinct keys are the starts
        # of the (row, key) runs — a few linear passes, no bitmap and no sort
        step = rows[1:] != rows[:-1]
        if ((keys[1:] >= keys[:-1]) | step).all():
            first = np.r_[True, step | (keys[1:] != keys[:-1])]
            return np.bincount(rows[first], minlength=self.n_rows).astype("float64")
        rows, keys = rows.astype(np.int64, copy=False), keys.astype(np.int64, copy=False)
        lo = int(keys.min())
        span = int(keys.max()) - lo + 1
        if self.n_rows * span <= BITMAP_CELLS:
            # narrow key ranges (fix days: ~30 values): a (row, key) bitmap is linear, where
            # hashing millions of pairs cost a third of the nightly features; its set cells
            # counted per row by position (a sum over the bitmap's short rows was slower)
            seen = np.zeros(self.n_rows * span, bool)
            seen[rows * span + (keys - lo)] = True
            return np.bincount(np.flatnonzero(seen) // span,
                               minlength=self.n_rows).astype("float64")
        # wide ranges (inquiry digests): sort the (row, key) pairs and count the first of
        # each run: 7 ms for 300k pairs where `np.unique` (hashing, numpy 2.4) took 360 ms
        pairs = np.sort(rows * span + (keys - lo))
        first = np.r_[True, pairs[1:] != pairs[:-1]]
        return np.bincount(pairs[first] // span, minlength=self.n_rows).astype("float64")

    def median(self) -> np.ndarray:
        out = np.full(self.n_rows, np.nan)
        if not len(self.row):
            return out
        order = np.lexsort((self.value, self.row))
        rows, vals = self.row[order], self.value[order]
        starts = np.searchsorted(rows, np.arange(self.n_rows), side="left")
        n = np.bincount(rows, minlength=self.n_rows)
        has = n > 0
        lo = starts[has] + (n[has] - 1) // 2
        hi = starts[has] + n[has] // 2
        out[has] = (vals[lo] + vals[hi]) / 2
        return out

    def latest(self, kind: str | None = None, column: str = "value") -> np.ndarray:
        """The value (or the key / kind text) of the most recent fact per row: latest event,
        then latest upload."""
        v = self if kind is None else self.of_kind(kind)
        text = {"key": self.index.key_names, "kind": self.index.kind_names}.get(column)
        out = np.full(self.n_rows, np.nan) if text is None \
            else np.full(self.n_rows, None, dtype=object)
        if not len(v.row):
            return out
        # the latest event, then the latest upload, then the last in index order among equals
        # (what a stable lexsort picked) — without sorting, the pairs being grouped by row
        rows, event, uploaded = v.row, v.event_us, v.uploaded_us
        best = event == _row_max(rows, event)
        best &= uploaded == _row_max(rows, np.where(best, uploaded, NAT))
        idx = np.flatnonzero(best)
        last = idx[np.r_[rows[idx][1:] != rows[idx][:-1], True]]
        picked = getattr(v, column)[last]
        if text is not None:
            names = np.asarray(text, dtype=object)
            picked = np.where(picked >= 0, names[np.clip(picked, 0, None)], None) \
                if len(names) else np.full(len(picked), None, dtype=object)
        out[rows[last]] = picked
        return out

    def latest_upload_only(self) -> Visible:
        """Facts delivered with the most recent upload per row (one report's snapshot)."""
        if not len(self.row):
            return self
        return self._memoised(("latest upload",), lambda: self.subset(
            self.uploaded_us == _row_max(self.row, self.uploaded_us)))
