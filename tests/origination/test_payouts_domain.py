"""Paying the dealer, without Flask: one instruction per approved disbursement, a dealer with
no account on file is held back, a failed transfer is re-queued and paid, and the voucher is
never issued twice."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from chedaitong.db import Dealer
from chedaitong.db.origination import Voucher
from chedaitong.db.partners import AuditEvent, DealerPayout
from chedaitong.errors import Conflict, Invalid
from decisioning.origination import dealers, flows, payouts, state_machine

from .test_journey_domain import _submitted

ACCOUNT = "6222000011112222"


def _approved(people, services):
    s = people.session
    app = _submitted(people, services)
    flows.choose_plan(session=s, application=app, customer_user=people.customer_user,
                      product_id=None)
    flows.create_contract(session=s, services=services, application=app,
                          actor=people.consultant)
    flows.sign_contract(session=s, services=services, application=app,
                        customer_user=people.customer_user, verification_code="123456")
    for attempt in range(12):
        if flows.application_liveness(session=s, services=services, application=app,
                                      customer_user=people.customer_user,
                                      selfie=b"\xff\xd8\xff\xe0" + bytes([attempt]) * 32).passed:
            break
    _, voucher = flows.review(session=s, application=app, reviewer=people.reviewer,
                              decision="approve", notes="ok")
    assert app.state == state_machine.DISBURSED
    return app, voucher


def test_a_failed_payout_is_paid_on_retry_and_the_voucher_stays_one(people, services):
    s, cipher = people.session, services.store.cipher
    app, voucher = _approved(people, services)
    payout = payouts.of_application(s, app.id)
    assert payout.status == payouts.PENDING and payout.amount == voucher.amount
    assert payouts.instruct(session=s, application=app, voucher=voucher) is payout  # once

    held = payouts.export_file(session=s, cipher=cipher, actor_id=people.reviewer.id)
    assert held.count == 0 and held.skipped == [payout.ref]  # no account on file yet
    dealer = s.get(Dealer, app.dealer_id)
    with pytest.raises(Invalid) as missing:
        dealers.update(session=s, cipher=cipher, actor=people.reviewer, dealer=dealer,
                       data={"bank_name": "工商银行"})
    assert missing.value.field == "agreement_ref"
    s.rollback()
    dealers.update(session=s, cipher=cipher, actor=people.reviewer, dealer=dealer, data={
        "agreement_ref": "AGR-DA", "effective_from": date(2026, 1, 1), "bank_name": "工商银行",
        "account_name": "4S DA", "account_number": ACCOUNT})

    first = payouts.export_file(session=s, cipher=cipher, actor_id=people.reviewer.id)
    assert first.count == 1 and ACCOUNT in first.content and payout.ref in first.content
    assert payouts.export_file(session=s, cipher=cipher, actor_id=None).count == 0
    r = payouts.reconcile(session=s, content=f"payout_ref,status,bank_ref,reason\n"
                                             f"{payout.ref},failed,,account frozen\n")
    assert r.failed == 1 and payout.status == payouts.FAILED
    payouts.retry(session=s, actor=people.reviewer, payout=payout)
    assert payout.status == payouts.PENDING and payout.attempts == 2
    with pytest.raises(Conflict):
        payouts.retry(session=s, actor=people.reviewer, payout=payout)
    second = payouts.export_file(session=s, cipher=cipher, actor_id=None)
    assert second.count == 1 and second.batch_ref != first.batch_ref
    r = payouts.reconcile(session=s, content=f"payout_ref,status,bank_ref,reason\n"
                                             f"{payout.ref},paid,B-2,\nPO-X,paid,,\n")
    assert r.paid == 1 and r.errors == [{"line": 3, "reason": "unknown payout 'PO-X'"}]
    assert s.scalar(select(func.count()).select_from(Voucher)) == 1
    assert s.scalar(select(func.count()).select_from(DealerPayout)) == 1
    actions = set(s.scalars(select(AuditEvent.action)))
    assert {"dealer.update", "payout.export", "payout.failed", "payout.retry",
            "payout.paid"} <= actions
    with pytest.raises(Invalid):
        payouts.reconcile(session=s, content="ref,state\nx,y\n")


def test_payouts_through_the_payment_vendor_settle_or_fail_and_retry(people, services):
    s, cipher = people.session, services.store.cipher
    app, _ = _approved(people, services)
    payout = payouts.of_application(s, app.id)
    dealer = s.get(Dealer, app.dealer_id)
    dealers.update(session=s, cipher=cipher, actor=people.reviewer, dealer=dealer, data={
        "agreement_ref": "AGR-DA", "effective_from": date(2026, 1, 1), "bank_name": "工商银行",
        "account_name": "4S DA", "account_number": "6222000011110000"})  # a closed account
    run = payouts.send(session=s, services=services)
    assert run.sent == 1 and payout.status == payouts.SENT and payout.bank_ref
    assert payouts.send(session=s, services=services).sent == 0  # nothing pending any more
    run = payouts.sync(session=s, services=services)
    assert run.failed == 1 and payout.status == payouts.FAILED
    assert payout.failure_reason == "receiving account is closed"
    dealers.update(session=s, cipher=cipher, actor=people.reviewer, dealer=dealer,
                   data={"account_number": ACCOUNT})
    payouts.retry(session=s, actor=people.reviewer, payout=payout)
    first_transfer = payout.bank_ref
    assert payouts.send(session=s, services=services).sent == 1
    assert payout.bank_ref != first_transfer  # a new attempt, a new idempotency key
    assert payouts.sync(session=s, services=services).paid == 1
    assert payout.status == payouts.PAID
    assert s.scalar(select(func.count()).select_from(Voucher)) == 1


def test_a_payout_being_exported_is_not_also_sent_through_the_payment_vendor(
        people, services, engine, database_url):
    """`send` read the pending payouts without a lock and paid each through the vendor: a
    payout a concurrent bank-file export had locked was transferred as well, then marked
    sent over the export (the dealer paid twice)."""
    if not database_url.startswith("postgresql"):
        pytest.skip("needs real concurrent transactions: PostgreSQL (TEST_DATABASE_URL)")
    import threading

    from sqlalchemy.orm import Session

    s, cipher = people.session, services.store.cipher
    app, _ = _approved(people, services)
    dealers.update(session=s, cipher=cipher, actor=people.reviewer,
                   dealer=s.get(Dealer, app.dealer_id), data={
                       "agreement_ref": "AGR-DA", "effective_from": date(2026, 1, 1),
                       "bank_name": "工商银行", "account_name": "4S DA",
                       "account_number": ACCOUNT})
    locked, sent = threading.Event(), threading.Event()

    def export_holding_the_lock() -> None:  # export_file's FOR UPDATE, held a moment
        with Session(engine) as other:
            for p in other.scalars(select(DealerPayout).where(
                    DealerPayout.status == payouts.PENDING).with_for_update()):
                p.status = payouts.EXPORTED
            locked.set()
            sent.wait(3)
            other.commit()

    exporter = threading.Thread(target=export_holding_the_lock)
    exporter.start()
    assert locked.wait(10)
    run = payouts.send(session=s, services=services)
    sent.set()
    exporter.join(10)
    s.rollback()
    assert run.sent == 0
    assert payouts.of_application(s, app.id).status == payouts.EXPORTED
