"""Grouped reductions agree with pandas: distinct-key counts (the bitmap for narrow key ranges,
the sort for wide ones) and the latest fact per row (the reduceat that replaced a stable sort)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from featurestore import aggregate
from featurestore.aggregate import FactIndex, Visible, micros
from featurestore.facts import normalise_facts


def test_distinct_keys_are_counted_once_per_row_either_way(monkeypatch):
    rng = np.random.default_rng(3)
    n = 400
    at = pd.Timestamp("2025-06-01", tz="UTC")
    facts = normalise_facts(pd.DataFrame({
        "customer_id": [f"C{i}" for i in rng.integers(0, 50, n)],
        "source": "pboc", "kind": "inquiry",
        "event_time": at - pd.to_timedelta(rng.integers(1, 90, n), unit="D"),
        "uploaded_at": at - pd.Timedelta(hours=1), "value": np.nan,
        "key": [f"inq-{k}" for k in rng.integers(0, 30, n)],  # repeats within a customer
    }))
    customers = np.array([f"C{i}" for i in range(60)], dtype=object)  # 10 without any fact
    as_of = micros(pd.Series([at] * len(customers)))
    v = Visible.join(FactIndex.build(facts), "pboc", customers, as_of)
    expected = (facts.assign(customer_id=facts["customer_id"].astype(str))
                .groupby("customer_id", observed=True)["key"].nunique()
                .reindex(customers, fill_value=0).to_numpy(float))
    bitmap = v.count_distinct_keys()
    # each row's keys in order (fix days as the facts arrived): counted by runs
    by_row = np.lexsort((v.key, v.row))
    runs = Visible(v.index, v.n_rows, v.row[by_row], v.pos[by_row], as_of).count_distinct_keys()
    monkeypatch.setattr(aggregate, "BITMAP_CELLS", 0)
    np.testing.assert_array_equal(bitmap, expected)
    np.testing.assert_array_equal(runs, expected)
    np.testing.assert_array_equal(v.count_distinct_keys(), expected)
    assert expected[-10:].sum() == 0 and expected.max() > 1


def test_latest_and_latest_upload_follow_the_stable_sort_they_replace():
    # ties everywhere (a few event days, two upload times), facts after the as-of time, two
    # sources, customers seen by two entity rows at different dates, customers without facts
    rng = np.random.default_rng(11)
    n = 3000
    at = pd.Timestamp("2025-06-01", tz="UTC")
    facts = normalise_facts(pd.DataFrame({
        "customer_id": [f"C{i}" for i in rng.integers(0, 80, n)],
        "source": rng.choice(["pboc", "device_sms"], n),
        "kind": rng.choice(["a", "b"], n),
        "event_time": at - pd.to_timedelta(rng.integers(-3, 6, n), unit="D"),
        "uploaded_at": at - pd.to_timedelta(rng.choice([0, 2], n), unit="D"),
        "value": np.arange(n, dtype=float),  # which fact was picked
        "key": [f"k{k}" for k in rng.integers(0, 7, n)],
    }))
    customers = np.array([f"C{i}" for i in list(range(90)) + list(range(0, 80, 3))],
                         dtype=object)
    as_of_ts = [at - pd.Timedelta(days=int(d)) for d in rng.integers(-1, 4, len(customers))]
    index = FactIndex.build(facts)
    plain = facts.assign(customer_id=facts["customer_id"].astype(str),
                         source=facts["source"].astype(str), kind=facts["kind"].astype(str),
                         key=facts["key"].astype(str))
    for source in ("pboc", "device_sms"):
        v = Visible.join(index, source, customers, micros(pd.Series(as_of_ts)))
        expect_value, expect_key, expect_b, expect_upload_n = [], [], [], []
        for customer, as_of in zip(customers, as_of_ts, strict=True):
            seen = plain[(plain.source == source) & (plain.customer_id == customer)
                         & (plain.event_time <= as_of) & (plain.uploaded_at <= as_of)]
            ordered = seen.sort_values(["event_time", "uploaded_at"], kind="stable")
            expect_value.append(ordered["value"].iloc[-1] if len(ordered) else np.nan)
            expect_key.append(ordered["key"].iloc[-1] if len(ordered) else None)
            of_b = ordered[ordered.kind == "b"]
            expect_b.append(of_b["value"].iloc[-1] if len(of_b) else np.nan)
            expect_upload_n.append(float((seen.uploaded_at == seen.uploaded_at.max()).sum())
                                   if len(seen) else 0.0)
        np.testing.assert_array_equal(v.latest(), expect_value)
        assert list(v.latest(column="key")) == expect_key
        np.testing.assert_array_equal(v.latest("b"), expect_b)
        np.testing.assert_array_equal(v.latest_upload_only().count(), expect_upload_n)
        assert np.isnan(expect_value).sum() >= 10  # rows that see nothing are in the test


def _night_facts(rng: np.random.Generator, customers: list[str], n: int) -> pd.DataFrame:
    """Facts as the store hands them over: arrival order, customer ids as text (so the codes
    are text-sorted: "C10" < "C9"), facts after the as-of time among them."""
    at = pd.Timestamp("2025-06-01", tz="UTC")
    event = at - pd.to_timedelta(rng.integers(-2, 60, n), unit="D")
    return normalise_facts(pd.DataFrame({
        "customer_id": rng.choice(customers, n), "source": rng.choice(["pboc", "app"], n),
        "kind": rng.choice(["a", "b"], n), "event_time": event,
        "uploaded_at": event + pd.to_timedelta(rng.choice([0, 3], n), unit="D"),
        "value": np.arange(n, dtype=float), "key": [f"k{k}" for k in rng.integers(0, 9, n)],
    }).sort_values("uploaded_at", kind="stable"))


def test_join_of_a_night_whose_customers_hold_several_loans_in_no_code_order():
    # a night: loans in loan-id order, ~a third of the customers holding 2–3 of them, the
    # codes text-sorted (so following neither), customers without any fact, one as-of or
    # one per row: each row sees exactly its customer's facts visible then, in index order
    rng = np.random.default_rng(7)
    people = [f"C{i}" for i in range(120)]
    facts = _night_facts(rng, people[:100], 4000)
    index = FactIndex.build(facts)
    loans = np.array(rng.permutation(people + people[::3] + people[::7]), dtype=object)
    at = pd.Timestamp("2025-06-01", tz="UTC")
    plain = facts.assign(customer_id=facts["customer_id"].astype(str),
                         source=facts["source"].astype(str))
    plain["pos"] = np.arange(len(plain))
    for as_of_ts in ([at] * len(loans),
                     [at - pd.Timedelta(days=int(d)) for d in rng.integers(0, 30, len(loans))]):
        as_of = micros(pd.Series(as_of_ts))
        for source in ("pboc", "app"):
            v = Visible.join(index, source, loans, as_of)
            runs = v.row[np.r_[True, v.row[1:] != v.row[:-1]]]
            assert len(runs) == len(set(runs))  # each row's pairs together
            for r, (customer, when) in enumerate(zip(loans, as_of_ts, strict=True)):
                seen = plain[(plain.source == source) & (plain.customer_id == customer)
                             & (plain.event_time <= when) & (plain.uploaded_at <= when)]
                mine = v.row == r
                # the values of its facts, in the order of the index (source, customer, arrival)
                assert v.value[mine].tolist() == seen["value"].tolist(), (source, customer)
        np.testing.assert_array_equal(
            Visible.join(index, "pboc", loans, as_of).latest(),
            [Visible.join(index, "pboc", loans[r:r + 1], as_of[r:r + 1]).latest()[0]
             for r in range(len(loans))])
    assert len(set(loans)) < len(loans) and not facts["customer_id"].cat.categories.equals(
        pd.Index(people[:100]))


def test_the_radix_order_is_the_stable_sort():
    rng = np.random.default_rng(5)
    for top in (7, 60_000, 70_000, 3_000_000, 2**33):  # one pass, two passes, 64-bit keys
        for dtype in (np.int32, np.int64):
            if top >= 2**31 and dtype is np.int32:
                continue
            key = rng.integers(0, top, 50_000).astype(dtype)
            np.testing.assert_array_equal(aggregate.stable_order(key),
                                          np.argsort(key, kind="stable"))
