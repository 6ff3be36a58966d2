"""The origination domain driven without Flask: a migrated database, the process's Services
with sandbox vendors and a decision service that approves one plan, and seeded people."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from chedaitong.crypto import DataCipher
from chedaitong.db import Dealer, DecisionRecord, Role, User
from chedaitong_sim.sandbox.server import running_sandbox
from chedaitong_sim.testing import fast_vendors, make_id_number
from decisioning.container import Services, UploadDir
from decisioning.origination import accounts, customers
from featurestore.store import FeatureStore
from servicing.schedule import offer_summary


class OnePlan:
    """Approves with one 36-month plan at 9.99 % (the real service: tests/decisioning)."""

    rules = None

    def decide(self, session, application, as_of=None, authorization_ref=None, **_):
        q = offer_summary(Decimal(application.loan_amount), Decimal("0.0999"), 36)
        offer = {"product_id": "STD", "name_zh": "标准", "name_en": "Standard",
                 "lease_type": application.lease_type, "term": 36,
                 "repayment_method": "equal_installment", "risk_grade": "B",
                 "annual_rate": "0.0999", "down_payment_ratio": "0.2",
                 "financed_amount": str(application.loan_amount),
                 "first_installment": str(q.monthly_installment),
                 "total_interest": str(q.total_interest), "recommended": True,
                 "version": "test"}
        now = datetime.now(UTC)
        record = DecisionRecord(
            application_id=application.id, decided_at=now, as_of=as_of or now,
            outcome="approve", rules_version="test", model_version=None,
            challenger_version=None, features={}, fired_rules=[], model=None, challenger=None,
            offers=[offer], reasons=[], evidence_gaps=[], timings_ms={})
        session.add(record)
        session.flush()
        return record


@pytest.fixture(scope="session")
def sandbox():
    with running_sandbox(None, latency_ms=1) as server:  # hash oracle: any valid ID
        yield server


@pytest.fixture
def services(settings, sandbox, tmp_path):
    cipher = DataCipher(settings.data_key)
    svc = Services(settings=settings, store=FeatureStore(cipher),
                   upload_dir=UploadDir(tmp_path / "uploads", cipher),
                   vendors=fast_vendors(sandbox.base_url), decisions=OnePlan())
    yield svc
    svc.close()


@dataclass
class People:
    session: Session
    consultant: User
    other_consultant: User
    reviewer: User
    customer_user: User
    customer: object
    id_number: str


@pytest.fixture
def people(engine, services) -> People:
    session = Session(engine)
    dealers = []
    for code in ("DA", "DB"):
        d = Dealer(code=code, name=f"4S {code}", city="上海", province="上海", lat=31.2, lon=121.5)
        session.add(d)
        dealers.append(d)
    session.flush()
    staff = {}
    for name, role, dealer in (("sc", Role.CONSULTANT, dealers[0]),
                               ("sc-b", Role.CONSULTANT, dealers[1]),
                               ("rev", Role.REVIEWER, None)):
        staff[name], _ = accounts.register_user(session=session, username=name,
                                                display_name=name, role=role,
                                                dealer_id=dealer.id if dealer else None)
    user, _ = accounts.register_user(session=session, username="li", display_name="李")
    idn = make_id_number("31010119900307001")
    customer = customers.complete_profile(
        session=session, store=services.store, user=user,
        data={"name": "李四", "id_number": idn, "phone": "13900139000",
              "birth_date": date(1990, 3, 7), "home_lat": 31.2, "home_lon": 121.4})
    yield People(session, staff["sc"], staff["sc-b"], staff["rev"], user, customer, idn)
    session.close()


TERMS = {"vehicle_brand": "比亚迪", "vehicle_model": "汉 EV", "vehicle_price": Decimal("250000"),
         "lease_type": "direct_lease", "down_payment": Decimal("60000"),
         "loan_amount": Decimal("150000"), "term_months": 36}
