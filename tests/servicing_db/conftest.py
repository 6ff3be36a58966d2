"""A small booked portfolio on the sample world, a fast champion and the post-loan plumbing.

30 sample customers (with their GPS, app and bureau facts) each get one loan disbursed early in
2025; a third pay on time, a third stopped after two installments, a third missed only the
latest one — so the nightly run sees M0, M1 and M3/M3+ loans and fires every kind of action.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from chedaitong.crypto import DataCipher
from chedaitong.db.servicing import ScheduledInstallment
from chedaitong_sim.synthetic.credit_frames import synthetic_frame
from chedaitong_sim.worldload.origination import load_world
from decisioning.postloan.inspection import Resources
from featurestore.store import FeatureStore
from models.registry import Registry
from models.train import TrainConfig, train_and_register
from servicing.booking import book_loan, post_repayment
from tests.conftest import sample_world_facts

ROOT = Path(__file__).resolve().parents[2]
WORLD = ROOT / "data" / "sample"
AS_OF = date(2025, 7, 10)
FAST = TrainConfig(family="lightgbm", learning_rate=0.2, max_rounds=60, early_stopping_rounds=10,
                   baseline=False,
                   num_threads=1)


@pytest.fixture(scope="session")
def model_root(tmp_path_factory) -> Path:
    """An application model standing in for the champion (post-loan scoring only needs one)."""
    root = tmp_path_factory.mktemp("models")
    registry = Registry(root)
    version, _ = train_and_register(synthetic_frame(2000, seed=3), registry, config=FAST,
                                    report=False)
    registry.promote(version, "champion")
    return root


@pytest.fixture
def pl_settings(settings, model_root):
    return dataclasses.replace(settings, model_dir=model_root)


@pytest.fixture
def store(pl_settings) -> FeatureStore:
    return FeatureStore(DataCipher(pl_settings.data_key))


@pytest.fixture
def resources(pl_settings) -> Resources:
    return Resources(str(pl_settings.model_dir), str(pl_settings.rules_dir))


def plan(amount: str = "100000.00", rate: str = "0.08", term: int = 36,
         method: str = "equal_installment") -> dict:
    return {"product_id": "P1", "lease_type": "leaseback", "term": term,
            "repayment_method": method, "annual_rate": rate, "financed_amount": amount,
            "down_payment_ratio": 0.2, "first_installment": "0", "total_interest": "0",
            "recommended": True}


def load_sample(engine, store: FeatureStore) -> dict:
    """The sample world's first 30 customers, with their facts, in `engine`'s database."""
    with Session(engine) as session:
        ids = load_world(session, store, WORLD, customers=30,
                         facts=sample_world_facts(store.cipher))
        session.commit()
    return ids


def book_portfolio(engine, world: dict) -> list[int]:
    """One loan per customer of `world`: a third paid on time, a third stopped after two
    installments, a third missed only the latest one (deterministic: two databases built
    this way hold the same book)."""
    from chedaitong.db import Application

    loan_ids = []
    with Session(engine) as session:
        seen = set()
        apps = []
        for _ref, app_id in sorted(world["applications"].items()):
            app = session.get(Application, app_id)
            if app.customer_id not in seen:
                seen.add(app.customer_id)
                apps.append(app)
        for k, app in enumerate(apps):
            loan = book_loan(session, application_id=app.id,
                             plan=plan(amount=f"{60000 + 1000 * k}.00", term=24 + 12 * (k % 2)),
                             disbursed_on=date(2025, 1, 3 + k % 5), loan_ref=f"LN{k:04d}")
            rows = session.scalars(select(ScheduledInstallment).where(
                ScheduledInstallment.loan_id == loan.id).order_by(ScheduledInstallment.number))
            due = [r for r in rows if r.due_date < AS_OF]
            paid = {0: due, 1: due[:2], 2: due[:-1]}[k % 3]
            for r in paid:
                post_repayment(session, loan.id, r.principal_due + r.interest_due, r.due_date,
                               "test", f"{loan.ref}-{r.number}")
            loan_ids.append(loan.id)
        session.commit()
    return loan_ids


@pytest.fixture
def world(engine, store) -> dict:
    return load_sample(engine, store)


@pytest.fixture
def portfolio(engine, world) -> list[int]:
    """30 booked loans with on-time, stopped and recently-missed repayment histories."""
    return book_portfolio(engine, world)


@pytest.fixture(scope="session")
def sandbox():
    from chedaitong_sim.sandbox.server import running_sandbox

    with running_sandbox(WORLD) as server:
        yield server


@pytest.fixture
def vendors(sandbox):
    from chedaitong_sim.testing import fast_vendors

    sandbox.reset()
    v = fast_vendors(sandbox.base_url)
    yield v
    v.close()


ZERO = Decimal("0.00")
