"""One report parsed in plain Python gives the facts the bulk Arrow parser gives, and one
customer's bureau features from plain facts equal the frame path's — on the sample world's
reports and customers, at as-of times around their reports."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from chedaitong.crypto import DataCipher
from featurestore import compute, offline, one_report
from featurestore.bureau import (
    OWN_INSTITUTION,
    BureauReportError,
    pboc_facts,
    thirdparty_facts,
)
from featurestore.definitions import catalog
from featurestore.store import vector_from_row
from tests.conftest import sample_world_facts

WORLD = Path(__file__).resolve().parents[2] / "data" / "sample"
DIGEST = DataCipher(bytes(range(32))).blind_index
BUREAU_FEATURES = [n for n in catalog() if n.startswith(("bureau_", "tp_"))
                   and catalog()[n].entity == "application"]


def _reports(table: str) -> pd.DataFrame:
    raw = offline.read_world_table(WORLD, table, ["customer_id", "reported_at", "report_json"])
    return raw.reset_index(drop=True)


def _as_tuples(frame: pd.DataFrame) -> list[tuple]:
    return sorted(
        (r.source, r.kind, r.event_time.to_pydatetime(), r.uploaded_at.to_pydatetime(),
         None if pd.isna(r.value) else round(float(r.value), 9),
         None if pd.isna(r.key) else r.key)
        for r in frame.itertuples(index=False))


def _plain(facts: list[one_report.Fact]) -> list[tuple]:
    return sorted((f.source, f.kind, f.event_time, f.uploaded_at,
                   None if f.value is None or math.isnan(f.value) else round(f.value, 9), f.key)
                  for f in facts)


@pytest.mark.parametrize(("bureau", "table", "batch"), [
    ("pboc", "bureau_pboc", pboc_facts), ("thirdparty", "bureau_thirdparty", thirdparty_facts)])
def test_each_report_gives_the_facts_of_the_bulk_parser(bureau, table, batch):
    raw = _reports(table).head(3000)
    # one batch parse, each report under its own customer id: the facts of report i
    bulk = batch(raw.assign(customer_id=[str(i) for i in range(len(raw))]), DIGEST)
    per_report = dict(tuple(bulk.groupby(bulk["customer_id"].astype(str), observed=True)))
    mismatched = []
    for i, r in enumerate(raw.itertuples(index=False)):
        expected = _as_tuples(per_report.get(str(i), bulk.iloc[0:0]))
        got = _plain(one_report.report_facts(bureau, r.report_json,
                                             r.reported_at.to_pydatetime(), DIGEST))
        if got != expected:
            mismatched.append((got, expected))
    assert mismatched == []
    assert len(raw) > 1000
    if bureau == "pboc":  # refreshed reports list our own loans: counted apart from others'
        assert (bulk.loc[bulk["kind"] == "own_open_loans", "value"] > 0).any()
        assert (bulk.loc[bulk["kind"] == "own_overdue_amount", "value"] > 0).any()
        # ... and our own loans are no `loan_opened` facts (loans opened at other lenders)
        own_keys = {DIGEST(f"{OWN_INSTITUTION}|{acc['opened_on']}")
                    for text in raw["report_json"] for acc in json.loads(text)["loans"]
                    if acc.get("institution") == OWN_INSTITUTION and acc.get("opened_on")}
        opened = set(bulk.loc[bulk["kind"] == "loan_opened", "key"])
        assert own_keys and opened
        assert len(own_keys & opened) == 0


@pytest.mark.parametrize("text", [
    "not json", "[1, 2]", '{"loans": [], "cards": []}',
    '{"loans": [{"overdue_amount": "a lot"}], "cards": [], "inquiries": []}',
    '{"loans": "none", "cards": [], "inquiries": []}'])
def test_a_broken_pboc_report_is_refused_by_both_parsers(text):
    raw = pd.DataFrame({"customer_id": ["c"], "reported_at": [pd.Timestamp.now(tz="UTC")],
                        "report_json": [text]})
    with pytest.raises(BureauReportError):
        pboc_facts(raw, DIGEST)
    with pytest.raises(BureauReportError):
        one_report.report_facts("pboc", text, pd.Timestamp.now(tz="UTC").to_pydatetime(),
                                DIGEST)


def test_one_customers_bureau_features_equal_the_frame_path():
    pboc, tp = _reports("bureau_pboc"), _reports("bureau_thirdparty")
    rng = np.random.default_rng(3)
    customers = rng.choice(pboc["customer_id"].astype(str).unique(), 150, replace=False)
    facts = pd.concat([pboc_facts(pboc[pboc["customer_id"].isin(customers)], DIGEST),
                       thirdparty_facts(tp[tp["customer_id"].isin(customers)], DIGEST)],
                      ignore_index=True)
    rows = []
    for c in customers:
        times = facts.loc[facts["customer_id"].astype(str) == c, "uploaded_at"]
        for t in rng.choice(times.to_numpy(), 3):  # at, just before and long after a report
            t = pd.Timestamp(t)
            rows += [(c, t), (c, t - pd.Timedelta(seconds=1)), (c, t + pd.Timedelta(days=200))]
    entities = pd.DataFrame({"entity_id": [f"e{i}" for i in range(len(rows))],
                             "customer_id": [c for c, _ in rows], "as_of": [t for _, t in rows]})
    frame = compute.customer_evidence(entities, facts, catalog())
    by_customer = {c: [one_report.Fact(r.source, r.kind, r.event_time.to_pydatetime(),
                                       r.uploaded_at.to_pydatetime(),
                                       None if pd.isna(r.value) else float(r.value),
                                       None if pd.isna(r.key) else r.key)
                       for r in part.itertuples(index=False)]
                   for c, part in facts.groupby(facts["customer_id"].astype(str), observed=True)}
    mismatches = []
    for i, (c, t) in enumerate(rows):
        expected = vector_from_row(frame.iloc[i][BUREAU_FEATURES], catalog())
        got = vector_from_row(one_report.bureau_values(by_customer[c], t.to_pydatetime()),
                              catalog())
        if got.keys() != expected.keys() or any(not _same(got[k], expected[k]) for k in got):
            mismatches.append((c, t, got, expected))
    assert mismatches == []
    assert frame["bureau_inquiries_12m"].fillna(0).gt(0).any()  # not trivially empty
    assert frame["bureau_card_utilisation"].notna().any()


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == pytest.approx(b, rel=1e-9, abs=1e-9)
    return a == b


def test_a_pulled_report_updates_the_vector_as_the_batch_materialisation_would(engine):
    """The decision path (plain parse, plain facts, bureau features merged into the stored
    vector) against recomputing the whole vector from the database's facts by the batch
    path, for customers of the sample world pulling a new report of each bureau."""
    from sqlalchemy.orm import Session

    from chedaitong.db import Customer
    from featurestore.store import FeatureStore

    store = FeatureStore(DataCipher(bytes(range(32))))
    pboc, tp = _reports("bureau_pboc"), _reports("bureau_thirdparty")
    refs = list(pboc["customer_id"].drop_duplicates().head(12))
    with Session(engine) as s:
        ids = store.import_world(s, WORLD, refs, facts=sample_world_facts(store.cipher))
        later = pboc["reported_at"].max().to_pydatetime() + pd.Timedelta(days=3).to_pytimedelta()
        for i, ref in enumerate(refs):
            cid = ids[ref]
            store.materialise_customer(s, cid, later - pd.Timedelta(days=1).to_pytimedelta())
            customer = s.get(Customer, cid)
            # another customer's report: new to this one, so it changes the features
            new = store.add_bureau_report(s, customer, "pboc",
                                          pboc["report_json"].iloc[(i * 37) % len(pboc)], later)
            new += store.add_bureau_report(s, customer, "thirdparty",
                                           tp["report_json"].iloc[i], later)
            assert new
            got = store.refresh_bureau_features(s, cid, later, store.bureau_facts(s, cid))
            before = store.online(s, "customer", str(cid))
            assert got == before  # stored as returned
            batch = store.materialise_customer(s, cid, later)
            assert [k for k in BUREAU_FEATURES if not _same(got[k], batch[k])] == [], ref
            # device and identity features are what was materialised a day earlier
            assert set(got) == set(batch)
            assert got["tp_score"] == float(
                one_report.report_facts("thirdparty", tp["report_json"].iloc[i], later,
                                        DIGEST)[0].value)
        s.commit()
