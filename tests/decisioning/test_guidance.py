"""Re-apply guidance: declined and referred customers are told which honest changes would get
them approved, and following the first one does."""

from __future__ import annotations

import re
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from chedaitong.db import Application, make_engine
from chedaitong.db import migrate as migrations
from chedaitong_sim.worldload.origination import load_world
from decisioning import guidance as G
from decisioning.guidance import Vehicle, customer_view, guide
from decisioning.policy import decide
from decisioning.service import DecisionService
from featurestore import offline
from featurestore.store import FeatureStore
from models.scoring import load_champion

from .conftest import CIPHER, WORLD

CHANGEABLE_LEVERS = {"vehicle", "down_payment", "term_months", "evidence"}


@pytest.fixture(scope="module")
def service(model_root, rulebook, tmp_path_factory) -> DecisionService:
    return DecisionService(store=FeatureStore(CIPHER), rules=rulebook,
                           model=load_champion(model_root), model_root=model_root,
                           rules_archive=tmp_path_factory.mktemp("archive"))


@pytest.fixture(scope="module")
def decided(service, world_facts, tmp_path_factory):
    """120 sample customers' applications decided at their world time, once for the module
    (SQLite): (session, [(application, record)])."""
    eng = make_engine(f"sqlite:///{tmp_path_factory.mktemp('guidance') / 'g.db'}")
    migrations.upgrade(eng)
    as_of = offline.application_entities(WORLD).set_index("application_id")["as_of"].to_dict()
    with Session(eng) as s:
        load_world(s, service.store, WORLD, customers=120, facts=world_facts)
        s.commit()
        apps = s.scalars(select(Application).order_by(Application.id)).all()
        pairs = [(a, service.decide(s, a, as_of=as_of[a.ref].to_pydatetime())) for a in apps]
        s.commit()
        yield s, pairs
    eng.dispose()


def test_declined_and_referred_customers_get_honest_options_that_approve(decided, service):
    s, pairs = decided
    refused = [(a, r) for a, r in pairs if r.outcome != "approve"]
    declined = [(a, r) for a, r in refused if r.outcome == "decline"]
    with_options = [(a, r) for a, r in refused if r.guidance["options"]]
    assert all(r.guidance is None for _, r in pairs if r.outcome == "approve")
    assert len(declined) >= 30 and len(with_options) >= 15
    assert sum(1 for _, r in declined if r.guidance["options"]) >= 5
    for _, r in with_options:
        assert r.guidance["disagreements"] == 0
        options = r.guidance["options"]
        assert 1 <= len(options) <= 3 and [o["rank"] for o in options] == list(
            range(1, len(options) + 1))
        for o in options:
            assert {c["lever"] for c in o["changes"]} <= CHANGEABLE_LEVERS and o["changes"]
            assert o["plan"]["financed_amount"] and o["plan"]["first_installment"]
            terms = o["terms"]
            assert Decimal(terms["down_payment"]) < Decimal(terms["vehicle_price"])
            assert Decimal(terms["loan_amount"]) <= (Decimal(terms["vehicle_price"])
                                                     - Decimal(terms["down_payment"]))
    # following an option: the same customer, evidence and versions with the new terms approve
    checked = 0
    for a, r in with_options[:12]:
        for o in r.guidance["options"]:
            if any(c["lever"] == "evidence" for c in o["changes"]):
                continue
            again = _with_terms(s, service, a, r, o["terms"])
            assert again.outcome == "approve", (o["text_en"], again.fired_rules)
            assert again.offers[0]["product_id"] == o["plan"]["product_id"]
            checked += 1
    assert checked >= 10


def _with_terms(s, service, app, record, terms):
    """Decide the application again with ``terms`` at the original decision time (rolled
    back: nothing of the probe is kept). An application has one decision, so the probe
    stands in for the recorded one inside the savepoint."""
    with s.begin_nested() as probe:
        s.delete(record)
        for k, v in terms.items():
            setattr(app, k, Decimal(v) if k in ("vehicle_price", "down_payment",
                                                "loan_amount") else v)
        s.flush()
        outcome = service.decide(s, app, as_of=record.as_of)
        probe.rollback()
    s.expire(app)
    return outcome


def test_options_never_touch_what_the_customer_cannot_change(decided, service):
    """Age, income, bureau history and device signals are the same in every candidate; a
    decline for one of them gets no option at all."""
    s, pairs = decided
    frozen = [f for f in ("age_at_application", "monthly_income", "bureau_overdue_amount",
                          "bureau_worst_status_24m", "tp_blacklisted", "sms_collection_90d",
                          "device_shared_customers", "gps_share_in_home_city_90d",
                          "contacts_blacklisted", "home_to_dealer_km", "dealer_channel")]
    a, r = next((a, r) for a, r in pairs if r.guidance and r.guidance["options"])
    base = {k: v for k, v in r.features.items() if k not in ("model_pd", "model_score",
                                                             "risk_grade")}
    grid = G._grid(base, None, [], G._terms_offered(service.rules))
    cands = G.Candidates(base, grid)
    rows = [cands.features(i, service.rules.catalog) for i in range(len(cands))]
    assert len(rows) > 10
    for f in frozen:
        assert {row.get(f) for row in rows} == {base.get(f)}, f
    unfixable = {"UW_BUREAU_SEVERE_DELINQUENCY", "UW_TP_BLACKLIST", "UW_AGE_UNDER_22",
                 "UW_AGE_OVER_60", "UW_COLLECTION_SMS", "UW_BUREAU_OVERDUE"}
    blocked = [r for _, r in pairs if {f["id"] for f in r.fired_rules} & unfixable]
    assert blocked and all(r.guidance["options"] == [] for r in blocked)


def test_the_vector_search_and_the_durable_path_agree_on_every_candidate(decided, service):
    """Each candidate of a grid (with the champion's score of it) gets the same underwriting
    outcome from durable-rules as from the vector executor the search uses."""
    s, pairs = decided
    book, model = service.rules, service.model
    compared = 0
    for a, r in [p for p in pairs if p[1].outcome != "approve"][:10]:
        base = {k: v for k, v in r.features.items() if k not in ("model_pd", "model_score",
                                                                 "risk_grade")}
        stock = G.dealer_stock(s, a)
        grid = G._grid(base, None, stock, G._terms_offered(book))
        cands = G.Candidates(base, grid)
        rows = []
        for i in range(len(cands)):
            row = cands.features(i, book.catalog)
            score = model.score(row, n_reasons=0)
            rows.append({**row, "model_pd": score.pd, "model_score": float(score.score),
                         "risk_grade": score.grade})
        frame = pd.DataFrame(rows)
        durable = book.evaluate_many(rows, "underwriting", executor="durable")
        vector = book.evaluate_frame(frame, "underwriting")
        assert [e.outcome for e in durable] == list(vector["outcome"].astype(str))
        durable_p = book.evaluate_many(rows, "products", executor="durable")
        assert [sorted(e.fired_ids) for e in durable_p] == [
            sorted(p) for p in book.evaluate_frame(frame, "products")["eligible_products"]]
        # and the search's own approval mask is what deciding each candidate concludes
        approving = G._approves(book, model, cands)
        decided = [decide({k: v for k, v in row.items() if k not in (
            "model_pd", "model_score", "risk_grade")}, book, model).outcome == "approve"
                   for row in rows]
        assert list(approving) == decided
        # the decision's own fired rules standing in for the rules no candidate changes
        fired = {f["id"] for f in r.fired_rules}
        assert list(G._approves(book, model, cands, fired)) == decided
        compared += len(rows)
    assert compared >= 300


def _old_style_plans(book, model):
    """What confirming a candidate was before batching: `policy.decide` on it alone (its
    own single-row score, every offer priced), the recommended offer if it approves."""
    def plans(rows, _book):
        out = []
        for row in rows:
            outcome = decide({k: v for k, v in row.items() if k not in (
                "model_pd", "model_score", "risk_grade")}, book, model, n_reasons=0)
            out.append(next(o for o in outcome.offers if o["recommended"])
                       if outcome.outcome == "approve" else None)
        return out
    return plans


def _one_by_one(base, book, model, grid, cands, order, plans, max_options=3):
    options, used, disagreements = [], [], 0
    for i in order:
        row = grid.row(i)
        levers = G._levers(row, base)
        if any(G._asks_at_least(levers, chosen) for chosen in used):
            continue
        f = cands.features(i, book.catalog)
        f.update(G._live_outputs(model, f))
        [plan] = plans([f], book)
        if plan is None:
            disagreements += 1
            continue
        used.append(levers)
        options.append(G._option(base, row, grid.vehicles, plan))
        if len(options) >= max_options:
            break
    return options, disagreements


def test_batched_confirmation_gives_the_one_by_one_options(decided, service, monkeypatch):
    """Options confirmed a batch per engine trip, pricing only the plan shown, are those of
    deciding each candidate alone through `policy.decide`; and when the durable path
    rejects candidates (every other one here), the same options and count as confirming
    one by one."""
    s, pairs = decided
    book, model = service.rules, service.model
    real = G.policy.approved_plans
    searched = rejected_some = 0
    for a, r in [p for p in pairs if p[1].outcome != "approve"][:30]:
        base = {k: v for k, v in r.features.items() if k not in ("model_pd", "model_score",
                                                                 "risk_grade")}
        grid = G._grid(base, None, G.dealer_stock(s, a), G._terms_offered(book))
        cands = G.Candidates(base, grid)
        approving = G._approves(book, model, cands)
        order = [int(i) for i in
                 np.flatnonzero(approving)[np.argsort(grid.cost[approving], kind="stable")]]
        if not order:
            continue
        searched += 1
        batched = G._confirmed(base, book, model, grid, cands, order, 3)
        assert batched == _one_by_one(base, book, model, grid, cands, order,
                                      _old_style_plans(book, model))
        assert batched[1] == 0

        def key(row, varying=tuple(cands.varying)):
            return tuple(row[k] for k in varying)
        index = {key(cands.features(i, book.catalog)): i for i in order}

        def rejecting(rows, book_, index=index, rejected=frozenset(order[::2])):
            return [None if index[key(row)] in rejected else plan
                    for row, plan in zip(rows, real(rows, book_), strict=True)]
        monkeypatch.setattr(G.policy, "approved_plans", rejecting)
        got = G._confirmed(base, book, model, grid, cands, order, 3)
        assert got == _one_by_one(base, book, model, grid, cands, order, rejecting)
        assert got[1] >= 1
        rejected_some += got[1]
        monkeypatch.setattr(G.policy, "approved_plans", real)
    assert searched >= 3 and rejected_some >= 3


def test_the_customer_sees_actions_not_thresholds_or_device_facts(decided):
    s, pairs = decided
    views = [v for _, r in pairs if r.guidance for v in customer_view(r.guidance)]
    assert views
    device_words = re.compile(r"GPS|SMS|contact|device|photo|blacklist|定位|短信|通讯录|设备|"
                              r"相册|黑名单", re.I)
    for v in views:
        assert set(v) == {"rank", "text_en", "text_zh", "terms", "plan"}
        text = v["text_en"] + v["text_zh"]
        assert not device_words.search(text), text
        assert "%" not in text and "ratio" not in text.lower() and "score" not in text.lower()
        assert not re.search(r"\b0\.\d", text), text  # no rates, ratios or probabilities
        assert "pd" not in {k.lower() for k in v["plan"]}


def test_missing_identity_evidence_is_suggested_when_it_is_what_blocks(decided, service):
    """A referral only for a liveness check not done yet: the first option is to do it."""
    features = _approvable_features(decided[1])
    assert decide(features, service.rules, service.model).outcome == "approve"
    features = {**features, "liveness_passed": None, "liveness_score": None}
    refused = decide(features, service.rules, service.model)
    assert refused.outcome == "refer"
    g = guide(refused.features, service.rules, service.model, fired=refused.fired_rules)
    first = g.options[0]
    assert first["changes"] == [{"lever": "evidence", "item": "liveness"}]
    assert first["text_en"].startswith("Complete the liveness")


def test_a_cheaper_vehicle_from_the_dealers_stock_can_be_the_option(decided, service):
    """A loan too large for the income: a cheaper car of the dealer's stock is offered (and
    never one that is not in the stock)."""
    features = _approvable_features(decided[1])
    price = Decimal(str(features["vehicle_price"]))
    income = features["monthly_income"]
    # the same application on a car three times dearer, financed almost fully
    dear = price * 3
    loan = dear * Decimal("0.85")
    grid = G.Grid(np.array([0]), np.array([float(dear)]), np.array([float(dear) * 0.15]),
                  np.array([float(loan)]), np.array([features["term_months"]]), [()],
                  np.array([0.0]), [])
    row = G.Candidates({**features, "down_payment_ratio": 0.15}, grid).features(
        0, service.rules.catalog)
    refused = decide(row, service.rules, service.model)
    assert refused.outcome != "approve" and income
    stock = [Vehicle("Brand", "Small", price), Vehicle("Brand", "Mid", price * 2)]
    g = guide(refused.features, service.rules, service.model, fired=refused.fired_rules,
              vehicle={"vehicle_brand": "Brand", "vehicle_model": "Large"}, stock=stock)
    cars = [c for o in g.options for c in o["changes"] if c["lever"] == "vehicle"]
    assert cars and {c["vehicle_model"] for c in cars} <= {"Small", "Mid"}


def _approvable_features(pairs) -> dict:
    """Features of an application the champion and rules approved (model outputs removed)."""
    record = next(r for _, r in pairs if r.outcome == "approve")
    return {k: v for k, v in record.features.items() if k not in ("model_pd", "model_score",
                                                                  "risk_grade")}


def test_cheaper_cars_come_from_the_dealers_stock_and_only_cars_on_sale(decided, service):
    """Every suggested car is on sale in its dealer's stock table, cheaper than the one
    applied for; a car taken off sale is no longer offered."""
    from chedaitong.db import Dealer
    from chedaitong.db.stock import DealerVehicle
    from decisioning.origination import stock

    s, pairs = decided
    suggested = [(a, c) for a, r in pairs if r.guidance for o in r.guidance["options"]
                 for c in o["changes"] if c["lever"] == "vehicle"]
    assert suggested, "no cheaper-car option in the sample"
    for a, c in suggested:
        row = s.scalar(select(DealerVehicle).where(
            DealerVehicle.dealer_id == a.dealer_id,
            DealerVehicle.vehicle_brand == c["vehicle_brand"],
            DealerVehicle.vehicle_model == c["vehicle_model"]))
        assert row is not None and row.active and row.price == Decimal(c["to"])
        assert row.price < a.vehicle_price
    a, c = suggested[0]
    offered = G.dealer_stock(s, a)
    assert (c["vehicle_brand"], c["vehicle_model"]) in {(v.brand, v.model) for v in offered}
    with s.begin_nested() as change:
        stock.put(session=s, actor=None, dealer=s.get(Dealer, a.dealer_id),
                  vehicle_brand=c["vehicle_brand"], vehicle_model=c["vehicle_model"],
                  price=c["to"], active=False)
        assert (c["vehicle_brand"], c["vehicle_model"]) not in {
            (v.brand, v.model) for v in G.dealer_stock(s, a)}
        change.rollback()
