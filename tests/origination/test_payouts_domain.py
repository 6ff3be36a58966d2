"""Paying the dealer, without Flask: one instruction per approved disbursement, a dealer with
no approved account is held back, a failed transfer is re-queued and paid, the voucher is
never issued twice, and where the money goes needs two admins (four eyes)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from chedaitong.db import Dealer, Role
from chedaitong.db.origination import Voucher
from chedaitong.db.partners import AuditEvent, DealerAccountChange, DealerPayout
from chedaitong.errors import Conflict, Invalid, NotPermitted
from decisioning.origination import accounts, dealers, flows, payouts, state_machine

from .test_journey_domain import _submitted

ACCOUNT = "6222000011112222"
NEW_ACCOUNT = "6222000055557777"


def _admins(session, *names):
    """Admins made from the command line (nobody in the app created them: separate people)."""
    return [accounts.register_user(session=session, username=n, display_name=n,
                                   role=Role.ADMIN)[0] for n in names]


def _account(people, services, dealer, maker, checker, **data):
    """``maker`` requests the account, ``checker`` approves it."""
    s = people.session
    dealers.update(session=s, cipher=services.store.cipher, actor=maker, dealer=dealer,
                   data=data)
    change = dealers.pending_change(s, dealer.id)
    dealers.decide_account_change(session=s, cipher=services.store.cipher, actor=checker,
                                  dealer=dealer, change_id=change.id, decision="approve")


FIRST = {"agreement_ref": "AGR-DA", "effective_from": date(2026, 1, 1), "bank_name": "工商银行",
         "account_name": "4S DA"}


def _approved(people, services):
    app = _at_disbursement_review(people, services)
    _, voucher = flows.review(session=people.session, application=app,
                              reviewer=people.reviewer, decision="approve", notes="ok")
    assert app.state == state_machine.DISBURSED
    return app, voucher


def _at_disbursement_review(people, services):
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
    assert app.state == state_machine.DISBURSEMENT_REVIEW
    return app


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
    _account(people, services, dealer, *_admins(s, "maker", "checker"), **FIRST,
             account_number=ACCOUNT)

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
    s = people.session
    app, _ = _approved(people, services)
    payout = payouts.of_application(s, app.id)
    dealer = s.get(Dealer, app.dealer_id)
    maker, checker = _admins(s, "maker", "checker")
    _account(people, services, dealer, maker, checker, **FIRST,
             account_number="6222000011110000")  # a closed account
    run = payouts.send(session=s, services=services)
    assert run.sent == 1 and payout.status == payouts.SENT and payout.bank_ref
    assert payouts.send(session=s, services=services).sent == 0  # nothing pending any more
    run = payouts.sync(session=s, services=services)
    assert run.failed == 1 and payout.status == payouts.FAILED
    assert payout.failure_reason == "receiving account is closed"
    _account(people, services, dealer, maker, checker, account_number=ACCOUNT)
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

    s = people.session
    app, _ = _approved(people, services)
    _account(people, services, s.get(Dealer, app.dealer_id), *_admins(s, "maker", "checker"),
             **FIRST, account_number=ACCOUNT)
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


def test_a_payout_account_is_paid_to_only_once_another_admin_approved_it(people, services,
                                                                          engine):
    """One admin could change a dealer's payout account and export or send its payouts at
    once: money to an account nobody else approved. Now every account is a pending change
    that the requester (or an account they created, or their creator) cannot approve, and the
    bank file and the payment vendor only ever see the approved account."""
    s, cipher = people.session, services.store.cipher
    app, _ = _approved(people, services)
    payout = payouts.of_application(s, app.id)
    dealer = s.get(Dealer, app.dealer_id)
    maker, checker = _admins(s, "maker", "checker")
    puppet, _ = accounts.create_staff(session=s, username="puppet", display_name="p",
                                      role=Role.ADMIN, dealer_code=None, created_by=maker.id)
    dealers.update(session=s, cipher=cipher, actor=maker, dealer=dealer,
                   data={**FIRST, "account_number": ACCOUNT})
    first = dealers.pending_change(s, dealer.id)
    assert first.kind == "first" and first.account_masked.endswith("2222")
    assert dealers.view(s, dealer)["account_masked"] is None  # nothing approved yet
    held = payouts.export_file(session=s, cipher=cipher, actor_id=maker.id)
    assert held.count == 0 and held.skipped == [payout.ref] and ACCOUNT not in held.content
    run = payouts.send(session=s, services=services)
    assert run.sent == 0 and run.errors == [{"ref": payout.ref, "reason": payouts.NO_ACCOUNT}]
    for same in (maker, puppet):  # the requester, and an admin the requester created
        with pytest.raises(NotPermitted, match="four eyes"):
            dealers.decide_account_change(session=s, cipher=cipher, actor=same, dealer=dealer,
                                          change_id=first.id, decision="approve")
        s.rollback()
    with pytest.raises(NotPermitted):  # a reviewer is no checker of payout accounts
        dealers.decide_account_change(session=s, cipher=cipher, actor=people.reviewer,
                                      dealer=dealer, change_id=first.id, decision="approve")
    dealers.decide_account_change(session=s, cipher=cipher, actor=checker, dealer=dealer,
                                  change_id=first.id, decision="approve")
    with pytest.raises(Conflict):  # decided once
        dealers.decide_account_change(session=s, cipher=cipher, actor=checker, dealer=dealer,
                                      change_id=first.id, decision="reject")

    # a change: requested, the next bank file still pays the approved account
    dealers.update(session=s, cipher=cipher, actor=maker, dealer=dealer,
                   data={"account_number": NEW_ACCOUNT, "reason": "dealer changed banks"})
    with pytest.raises(Conflict, match="awaiting approval"):  # one pending change at a time
        dealers.update(session=s, cipher=cipher, actor=checker, dealer=dealer,
                       data={"account_number": "6222000099998888"})
    s.rollback()
    change = dealers.pending_change(s, dealer.id)
    assert change.kind == "change" and change.bank_name == "工商银行"  # the rest kept
    shown = dealers.view(s, dealer)
    assert shown["account_masked"].endswith("2222")
    assert shown["pending_account_change"]["account_masked"].endswith("7777")
    assert NEW_ACCOUNT not in repr(shown)
    with engine.connect() as conn:  # at rest the requested number is ciphertext only
        raw = conn.execute(select(DealerAccountChange.__table__)).all()
    assert raw and not any(NEW_ACCOUNT.encode() in bytes(r.account_enc) or NEW_ACCOUNT in
                           str(r.account_masked) for r in raw)
    out = payouts.export_file(session=s, cipher=cipher, actor_id=maker.id)
    assert out.count == 1 and ACCOUNT in out.content and NEW_ACCOUNT not in out.content
    dealers.decide_account_change(session=s, cipher=cipher, actor=maker, dealer=dealer,
                                  change_id=change.id, decision="reject")  # withdrawn
    assert dealers.pending_change(s, dealer.id) is None
    assert dealers.approved_account(s, cipher, dealer.id).account_number == ACCOUNT
    _account(people, services, dealer, maker, checker, account_number=NEW_ACCOUNT)
    assert dealers.approved_account(s, cipher, dealer.id).account_number == NEW_ACCOUNT
    # sending the approved account again asks nothing of anybody
    dealers.update(session=s, cipher=cipher, actor=maker, dealer=dealer,
                   data={"account_number": NEW_ACCOUNT, "bank_name": "工商银行"})
    assert dealers.pending_change(s, dealer.id) is None
    trail = [(e.action, e.actor_id) for e in dealers.audit_trail(s, "dealer", dealer.id)]
    assert ("dealer.account_requested", maker.id) in trail
    assert ("dealer.account_approved", checker.id) in trail
    assert ("dealer.account_rejected", maker.id) in trail


def test_two_admins_deciding_one_account_change_at_once_decide_it_once(people, services,
                                                                       engine):
    """The second of two decisions read the change while it was still pending: it must not
    overwrite the first (an approval turned into a rejection, or approved twice)."""
    from sqlalchemy.exc import IntegrityError
    from sqlalchemy.orm import Session

    s, cipher = people.session, services.store.cipher
    dealer = s.get(Dealer, people.consultant.dealer_id)
    maker, first, second = _admins(s, "maker", "first", "second")
    dealers.update(session=s, cipher=cipher, actor=maker, dealer=dealer,
                   data={**FIRST, "account_number": ACCOUNT})
    change_id = dealers.pending_change(s, dealer.id).id
    with Session(engine) as other:
        stale = other.get(DealerAccountChange, change_id)  # read while pending
        assert stale.status == "pending"
        dealers.decide_account_change(session=s, cipher=cipher, actor=first, dealer=dealer,
                                      change_id=change_id, decision="approve")
        with pytest.raises(Conflict, match="decided meanwhile"):
            dealers.decide_account_change(session=other, cipher=cipher,
                                          actor=other.get(type(second), second.id),
                                          dealer=other.get(Dealer, dealer.id),
                                          change_id=change_id, decision="reject")
    s.expire_all()
    assert s.get(DealerAccountChange, change_id).status == "approved"
    assert dealers.approved_account(s, cipher, dealer.id).account_number == ACCOUNT
    # and the database keeps one pending change per dealer, whoever writes it
    for number in (NEW_ACCOUNT, "6222000099998888"):
        s.add(DealerAccountChange(dealer_id=dealer.id, kind="change", bank_name="b",
                                  account_name="n", account_masked=number[-4:],
                                  account_enc=b"x", status="pending",
                                  requested_by=maker.id))
    with pytest.raises(IntegrityError):
        s.commit()
    s.rollback()


def test_an_admin_cannot_approve_a_disbursement_filed_by_their_own_consultant(people,
                                                                             services):
    """An admin who invited a dealer's consultant could create a reviewer account (its token
    handed to them) and approve, as that reviewer, the disbursement of an application the
    consultant filed: one person filing and releasing the money."""
    s = people.session
    (admin,) = _admins(s, "boss")
    people.consultant.created_by = admin.id  # boss invited the consultant
    s.commit()
    puppet, _ = accounts.create_staff(session=s, username="boss-rev", display_name="r",
                                      role=Role.REVIEWER, dealer_code=None,
                                      created_by=admin.id)
    app = _at_disbursement_review(people, services)
    with pytest.raises(NotPermitted, match="separation of duties"):
        flows.review(session=s, application=app, reviewer=puppet, decision="approve",
                     notes="ok")
    s.rollback()
    assert app.state == state_machine.DISBURSEMENT_REVIEW and payouts.of_application(
        s, app.id) is None
    _, voucher = flows.review(session=s, application=app, reviewer=people.reviewer,
                              decision="approve", notes="ok")
    assert voucher is not None and app.state == state_machine.DISBURSED
