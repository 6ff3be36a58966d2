"""A bureau outage mid-run: decisions turn to refer, nothing crashes, nothing approved blind."""

from __future__ import annotations

import time
from datetime import timedelta

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from chedaitong.db import Application, Role, User
from chedaitong.db.origination import CreditConsent
from chedaitong_sim.sandbox.server import running_sandbox
from chedaitong_sim.testing import fast_vendors
from chedaitong_sim.worldload.origination import load_world
from decisioning.origination import consent
from decisioning.service import ConsentGrant
from featurestore import offline

from .conftest import WORLD


def _consent(s: Session, app: Application, at) -> ConsentGrant:
    """The customer's consent for this application, as the user app records it (bureau
    pulls happen only under one)."""
    user = User(username=f"world-{app.customer_id}", display_name="c", role=Role.CUSTOMER)
    s.add(user)
    s.flush()
    row = CreditConsent(application_id=app.id, customer_id=app.customer_id, granted_by=user.id,
                        purpose="loan_application", bureaus=["pboc", "thirdparty"],
                        text_version="v1", document_sha256="0" * 64,
                        granted_at=at - timedelta(days=1), expires_at=at + timedelta(days=29))
    s.add(row)
    s.flush()
    return consent.as_grant(row)


def test_bureau_taken_down_mid_run(engine, service, world_facts):
    # Customers whose bureau reports are not on file yet: every decision must ask the vendors.
    no_reports = world_facts[~world_facts["source"].isin(["pboc", "thirdparty"])]
    with Session(engine) as s:
        load_world(s, service.store, WORLD, customers=60, facts=no_reports)
        s.commit()
    decided_at = offline.application_entities(WORLD).set_index("application_id")["as_of"]

    with running_sandbox(WORLD, latency_ms=2, seed=1) as sandbox, \
            fast_vendors(sandbox.base_url) as vendors, \
            Session(engine, expire_on_commit=False) as s:
        service.vendors = vendors
        apps = s.scalars(select(Application).order_by(Application.id)).all()
        by_customer: dict[int, Application] = {}
        for a in apps:  # one application per customer, so no report is reused across phases
            by_customer.setdefault(a.customer_id, a)
        firsts = list(by_customer.values())
        up, down, back = firsts[:20], firsts[20:40], firsts[40:55]

        def run(batch):
            out = []
            for a in batch:
                at = decided_at[a.ref].to_pydatetime()
                out.append(service.decide(s, a, as_of=at, consent=_consent(s, a, at)))
            return out

        before = run(up)
        httpx.post(f"{sandbox.base_url}/_admin/outage", json={"vendor": "pboc", "down": True})
        during = run(down)
        httpx.post(f"{sandbox.base_url}/_admin/outage", json={"vendor": "pboc", "down": False})
        time.sleep(0.5)  # the adapters' circuit breaker half-opens after its cool-down
        after = run(back)
        s.commit()

    assert all(r.evidence_gaps == [] for r in before)
    fired = [[f["id"] for f in r.fired_rules] for r in before]
    assert {r.outcome for r in before} & {"approve"}, fired
    assert all("pboc_unavailable" in r.evidence_gaps for r in during)
    # never approved blind; a decline rule that needs no bureau data may still decline
    assert {r.outcome for r in during} <= {"refer", "decline"}
    assert sum(r.outcome == "refer" for r in during) >= len(during) // 2
    assert all(any(x["reason_code"] == "MISSING_EVIDENCE" for x in r.reasons)
               for r in during if r.outcome == "refer")
    assert sum(r.evidence_gaps == [] for r in after) >= len(after) - 1
