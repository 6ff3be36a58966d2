"""The whole sample world decided once (2,254 applications of 2,000 customers, at their world
times) with a champion and a challenger sharing live traffic, loans booked for the approvals —
for the routing comparison and the segment monitoring. Features are the world's point-in-time
vectors (the feature store's own computation) served by a stub store, so the test spends its
time deciding, not importing raw device data."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from chedaitong.db import Application, Customer, Dealer, DecisionRecord, make_engine
from chedaitong.db import migrate as migrations
from chedaitong.db.servicing import Loan, ScheduledInstallment
from decisioning.routing import RoutingPolicy, RoutingStore
from decisioning.service import DecisionService
from featurestore import catalog, offline
from featurestore.store import vector_from_row
from models.registry import Registry
from models.scoring import load_challenger, load_champion
from models.train import TrainConfig, train_and_register

from ..conftest import CIPHER, WORLD

MODEL_KEYS = ("model_pd", "model_score", "risk_grade")
CHALLENGER_PERCENT = 20.0


@dataclass
class VectorStore:
    """Serves each application's world feature vector (what `FeatureStore.decision_vector`
    would compute from the loaded facts)."""

    vectors: dict[str, dict[str, Any]]

    def profile(self, customer) -> None:
        return None  # no bureau is called here: nothing personal is needed

    def decision_vector(self, session, app, as_of=None, profile=None,
                        evidence=None) -> dict[str, Any]:
        return dict(self.vectors[app.application_id])


@pytest.fixture(scope="session")
def world_frame(world_facts) -> pd.DataFrame:
    entities = offline.application_entities(WORLD)
    frame = offline.historical_applications(Path("-"), entities, facts=world_facts)
    return frame.assign(dealer_id=entities["dealer_id"].to_numpy(),
                        applied_at=entities["applied_at"].to_numpy())


@pytest.fixture(scope="session")
def two_models(sample_champion_root, world_frame, tmp_path_factory) -> Path:
    """The sample champion and a leaner LightGBM challenger in one registry."""
    root = tmp_path_factory.mktemp("cc-models")
    shutil.copytree(sample_champion_root, root, dirs_exist_ok=True)
    registry = Registry(root)
    version, _ = train_and_register(
        world_frame.drop(columns=["dealer_id"]), registry, report=False,
        config=TrainConfig(family="lightgbm", max_rounds=120, learning_rate=0.1,
                           baseline=False, seed=7))
    registry.promote(version, "challenger")
    return root


@pytest.fixture(scope="session")
def decided_world(world_frame, two_models, tmp_path_factory):
    """(engine, model root, records by arm) after deciding every world application with
    20 % of customers routed to the challenger; approved applications that the world booked
    get a loan whose first installments are paid unless the world marks the loan bad."""
    root = two_models
    RoutingStore(root).save(RoutingPolicy(challenger_percent=CHALLENGER_PERCENT), who="test")
    cat = catalog()
    vectors = {}
    for i in range(len(world_frame)):
        row = world_frame.iloc[i]
        vectors[row["entity_id"]] = {k: v for k, v in vector_from_row(row, cat).items()
                                     if k not in MODEL_KEYS}
    service = DecisionService(store=VectorStore(vectors), rules=_rulebook(),
                              model=load_champion(root), challenger=load_challenger(root),
                              model_root=root, routing=RoutingStore(root), guidance=False)
    eng = make_engine(f"sqlite:///{tmp_path_factory.mktemp('traffic') / 'traffic.db'}")
    migrations.upgrade(eng)
    entities = offline.application_entities(WORLD)
    with Session(eng) as s:
        dealers = offline.read_world_table(WORLD, "dealers")
        dealer_ids = {}
        for d in dealers.itertuples(index=False):
            row = Dealer(code=d.dealer_id, name=d.name, city=d.city, province=d.province,
                         channel=d.channel, lat=d.lat, lon=d.lon)
            s.add(row)
            s.flush()
            dealer_ids[d.dealer_id] = row.id
        people = offline.read_world_table(WORLD, "customers")
        customer_ids = {}
        for c in people.itertuples(index=False):
            row = Customer(external_ref=c.customer_id, id_number_index=CIPHER.blind_index(
                c.id_number), id_number_masked=c.id_number[:3] + "*" * 11 + c.id_number[-4:],
                pii_enc=b"-")
            s.add(row)
            s.flush()
            customer_ids[c.customer_id] = row.id
        records = []
        for e in entities.itertuples(index=False):
            app = Application(
                ref=e.application_id, customer_id=customer_ids[e.customer_id],
                dealer_id=dealer_ids[e.dealer_id], vehicle_brand=e.vehicle_brand,
                vehicle_model=e.vehicle_model, vehicle_price=Decimal(str(e.vehicle_price)),
                lease_type=e.lease_type, down_payment=Decimal(str(e.down_payment)),
                loan_amount=Decimal(str(e.loan_amount)), term_months=int(e.term_months),
                state="submitted", submitted_at=e.applied_at.to_pydatetime())
            s.add(app)
            s.flush()
            record = service.decide(s, app, as_of=e.as_of.to_pydatetime())
            records.append(record)
            if record.outcome == "approve" and e.booked:
                _book(s, app, record, bad=bool(e.bad_12m), on=e.applied_at.date())
        s.commit()
        by_arm = {}
        for r in s.scalars(select(DecisionRecord)):
            by_arm.setdefault(r.routing["arm"], []).append(r.id)
    yield eng, root, by_arm
    eng.dispose()


def _rulebook():
    from ruleengine.rulebook import RuleBook

    from ..conftest import ROOT

    return RuleBook(ROOT / "rules", catalog=catalog())


def _book(s: Session, app: Application, record: DecisionRecord, *, bad: bool, on) -> None:
    offer = next(o for o in record.offers if o["recommended"])
    loan = Loan(ref=f"LN{app.id:08d}", application_id=app.id, customer_id=app.customer_id,
                product_id=offer["product_id"], principal=Decimal(offer["financed_amount"]),
                annual_rate=Decimal(offer["annual_rate"]), term_months=offer["term"],
                repayment_method=offer["repayment_method"], disbursed_on=on,
                last_closed_date=on, accrued_through=on)
    s.add(loan)
    s.flush()
    for n in (1, 2, 3):
        due = on + timedelta(days=30 * n)
        s.add(ScheduledInstallment(
            loan_id=loan.id, number=n, period_start=due - timedelta(days=30), due_date=due,
            principal_due=Decimal("100.00"), interest_due=Decimal("10.00"),
            settled_on=None if bad else due))
