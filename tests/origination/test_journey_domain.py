"""The seed's steps through the domain alone (no Flask, no HTTP): the same functions the API
calls, their state machine and their errors."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from chedaitong.db.origination import Verification
from chedaitong.db.servicing import Loan
from chedaitong.errors import Invalid, NotFound, Unavailable, VendorFailed
from chedaitong_sim.testing import fast_vendors, signed_pdf
from decisioning.origination import (
    access,
    applications,
    consent,
    flows,
    identity,
    state_machine,
    vouchers,
)
from decisioning.origination.files import StoredFile

from .conftest import TERMS

PDF = StoredFile.of(signed_pdf("auth"), "application/pdf", "auth.pdf")


def _verified(people, services) -> None:
    """The customer's ID card and liveness pass: the ID number becomes theirs."""
    s = people.session
    assert identity.verify_id_card(session=s, services=services,
                                   customer=people.customer).passed
    for attempt in range(12):
        identity.registration_liveness(session=s, services=services, customer=people.customer,
                                       selfie=b"\xff\xd8\xff\xe0" + bytes([attempt]) * 32)
        if people.customer.identity_status == "verified":
            return
    raise AssertionError("identity never verified")


def _filed(people, services):
    """A draft the verified customer consented to, with its paper authorisation: ready to submit."""
    s = people.session
    if people.customer.identity_status != "verified":
        _verified(people, services)
    app = applications.create(session=s, store=services.store, consultant=people.consultant,
                              data={"id_number": people.id_number, **TERMS})
    consent.grant(session=s, user=people.customer_user, application_id=app.id,
                  text_version="v1")
    applications.upload_authorization(session=s, upload_dir=services.upload_dir,
                                      application=app, upload=PDF, user=people.consultant)
    return app


def _submitted(people, services):
    app = _filed(people, services)
    flows.submit(session=people.session, services=services, application=app,
                 actor=people.consultant)
    return app


def test_from_application_to_booked_loan(people, services):
    s = people.session
    _verified(people, services)
    app = _submitted(people, services)
    assert app.state == state_machine.APPROVED

    flows.choose_plan(session=s, application=app, customer_user=people.customer_user,
                      product_id=None)
    contract = flows.create_contract(session=s, services=services, application=app,
                                     actor=people.consultant)
    assert "Lessee: 李*" in contract.document_text and people.id_number not in \
        contract.document_text
    flows.sign_contract(session=s, services=services, application=app,
                        customer_user=people.customer_user, verification_code="123456")
    assert app.state == state_machine.CONTRACT_SIGNED
    for attempt in range(12):  # the sandbox scores each selfie; a failure may be retried
        v = flows.application_liveness(session=s, services=services, application=app,
                                       customer_user=people.customer_user,
                                       selfie=b"\xff\xd8\xff\xe0" + bytes([attempt]) * 32)
        if v.passed:
            break
    assert app.state == state_machine.DISBURSEMENT_REVIEW

    _, voucher = flows.review(session=s, application=app, reviewer=people.reviewer,
                              decision="approve", notes="ok")
    assert voucher.amount == TERMS["loan_amount"] and voucher.number in voucher.document_text
    assert vouchers.verify(session=s, number=voucher.number, code=voucher.verification_code,
                           user=people.consultant) is voucher
    assert vouchers.verify(session=s, number=voucher.number, code=voucher.verification_code,
                           user=people.other_consultant) is None  # another dealer's
    flows.confirm_pickup(session=s, application=app, actor=people.consultant)
    for kind in applications.CHECKLIST:
        flows.upload_checklist_document(
            session=s, services=services, application=app, kind=kind,
            upload=StoredFile.of(b"%PDF-1.4 " + kind.encode(), "application/pdf", kind),
            actor=people.consultant)
    assert app.state == state_machine.BOOKED
    loan_ref = applications.detail(session=s, application=app)["loan_ref"]
    loan = s.scalar(select(Loan).where(Loan.ref == loan_ref))
    assert loan is not None and loan.principal == TERMS["loan_amount"]
    steps = [t.to_state for t in applications.history(session=s, application=app)]
    assert steps[0] == state_machine.DRAFT and steps[-1] == state_machine.BOOKED


def test_a_step_out_of_order_names_the_state_and_what_is_allowed(people, services):
    s = people.session
    app = applications.create(session=s, store=services.store, consultant=people.consultant,
                              data={"id_number": people.id_number, **TERMS})
    with pytest.raises(state_machine.IllegalTransition) as refused:
        flows.choose_plan(session=s, application=app, customer_user=people.customer_user,
                          product_id=None)
    assert refused.value.details == {"current_state": "draft", "allowed_actions": ["submit"],
                                     "application_id": app.id}


def test_bad_terms_name_the_field(people, services):
    with pytest.raises(Invalid) as bad:
        applications.create(session=people.session, store=services.store,
                            consultant=people.consultant,
                            data={"id_number": people.id_number,
                                  **{**TERMS, "down_payment": TERMS["vehicle_price"]}})
    assert bad.value.field == "down_payment"


def test_another_dealers_consultant_cannot_see_the_application(people, services):
    app = _submitted(people, services)
    with pytest.raises(NotFound):
        access.application(session=people.session, application_id=app.id,
                           user=people.other_consultant)


def test_vendor_down_or_missing_records_nothing(people, services):
    s = people.session
    services.vendors.close()
    services.vendors = fast_vendors("http://127.0.0.1:9")  # nothing listens there
    with pytest.raises(VendorFailed) as down:
        identity.verify_id_card(session=s, services=services, customer=people.customer)
    assert down.value.vendor == "id_check"
    services.vendors.close()
    services.vendors = None
    with pytest.raises(Unavailable):
        identity.verify_id_card(session=s, services=services, customer=people.customer)
    assert s.scalar(select(func.count()).select_from(Verification)) == 0


def test_a_draft_of_a_dealer_suspended_since_cannot_be_submitted(people, services):
    from chedaitong.db import Dealer
    from chedaitong.errors import Conflict
    from decisioning.origination import dealers

    s = people.session
    app = _filed(people, services)
    dealers.update(session=s, cipher=services.store.cipher, actor=people.reviewer,
                   dealer=s.get(Dealer, app.dealer_id),
                   data={"status": "suspended", "reason": "agreement under review"})
    s.commit()
    with pytest.raises(Conflict) as refused:
        flows.submit(session=s, services=services, application=app, actor=people.consultant)
    assert refused.value.details == {"dealer_status": "suspended"}
    s.refresh(app)
    assert app.state == state_machine.DRAFT
