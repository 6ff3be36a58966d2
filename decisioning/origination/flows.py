"""The origination steps with side effects (decisions, vendors, files, SMS, booking), one per
seed step after the application is filed.

Keyword-only functions over a session. Each step checks the state machine *before* calling a
vendor, commits its own work, and turns a vendor failure into `VendorFailed` (nothing changed,
retry later) or a recorded refer — never a half-done step.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from chedaitong.db import Application, Customer, Dealer, Role, User, claims
from chedaitong.db.locks import hold_row
from chedaitong.db.origination import (
    LoanContract,
    PlanChoice,
    Review,
    StoredDocument,
    Verification,
    Voucher,
)
from chedaitong.db.outbox import OutboxMessage
from chedaitong.errors import Conflict, Invalid, NotPermitted
from decisioning.container import Services
from decisioning.origination import (
    accounts,
    applications,
    consent,
    dealers,
    deciding,
    documents,
    files,
    outbox,
    state_machine,
    vouchers,
)
from decisioning.origination.consent import record_postloan_monitoring
from decisioning.origination.identity import ask_liveness, record_liveness, vendor_failed
from servicing.booking import book_loan
from vendors.errors import VendorError, VendorRejected
from vendors.interfaces import SignRequest

T = TypeVar("T")

log = logging.getLogger(__name__)

OUTCOME_ACTION = deciding.OUTCOME_ACTION


# ---- decision -----------------------------------------------------------------------------
def submit(*, session: Session, services: Services, application: Application,
           actor: User, answer: Callable[[list[Row]], T] | None = None) -> T | None:
    """Record the submission (state ``deciding``) and queue its decision.

    ``answer``: what the caller will answer with (the API's application detail), read in the
    submission's own transaction, after the state step and before the commit — the
    application as submitted, without a second transaction after the commit — given the
    application's documents (`applications.documents_of`, read once: the authorisation check
    and the answer). Returned when
    the decision was queued; None when it was taken here (no queue), so the caller reads the
    decided application itself.

    Needs the customer's own live consent for this application (which also means the
    application is linked to a verified customer) and the paper copy of the authorisation;
    otherwise Conflict, nothing changes and no vendor is called. The decision is taken by a
    worker (`deciding.decide_submitted`, which reads the consent again), off the caller's
    thread; the SMS it owes goes through the outbox. Where no queue is configured
    (`Services.queue` is None: scripts, domain tests) the same task runs here, before returning.
    """
    state_machine.check(application, "submit")
    dealers.check_dealer_active(session, application.dealer_id)
    consent.require_live(session=session, application=application)
    # one at a time with a profile update (`profile.update` holds the same row): the decision
    # reads the profile as it stands at the submission, and no update is applied after it
    hold_row(session, Customer, application.customer_id)
    docs = applications.documents_of(session=session, application=application)
    if not any(d.kind == applications.AUTHORIZATION_DOC for d in docs):
        raise Conflict("upload the credit-inquiry authorisation document before submitting")
    state_machine.advance(session, application, "submit", actor.id,
                          values={"submitted_at": datetime.now(UTC)})
    queue = getattr(services, "queue", None)
    answered = answer(docs) if answer is not None and queue is not None else None
    session.commit()  # the submission stands whatever happens to its decision
    if queue is not None:
        queue.decide(application.id)
        return answered
    done = deciding.decide_submitted(session=session, services=services,
                                     application_id=application.id)
    outbox.deliver_now(session=session, services=services, message_ids=done.deliver)
    session.refresh(application)
    return None


def choose_plan(*, session: Session, application: Application, customer_user: User,
                product_id: str | None) -> PlanChoice:
    """The customer accepts the recommended plan (``product_id`` None) or an alternative."""
    state_machine.check(application, "choose_plan")
    offers = applications.available_offers(session=session, application=application)
    if not offers:
        raise Conflict("this application has no plan to choose")
    if product_id is None:
        chosen = next((o for o in offers if o.get("recommended")), offers[0])
    else:
        chosen = next((o for o in offers if o.get("product_id") == product_id), None)
        if chosen is None:
            raise Invalid("product_id", "not one of this application's offers")
    state_machine.advance(session, application, "choose_plan", customer_user.id,
                   note=str(chosen.get("product_id")))
    choice = PlanChoice(application_id=application.id, offer=chosen, chosen_by=customer_user.id)
    session.add(choice)
    session.commit()
    return choice


def reapply(*, session: Session, services: Services, application: Application, actor: User,
            changes: dict[str, Any]) -> Application:
    """A new application linked to this one (with the customer's changes), submitted.

    The customer may change only their own terms (down payment, amount, term): the dealer's
    vehicle fields are refused (Invalid naming the field). The new application needs the
    customer's consent (``changes["consent_text_version"]``): a consent is per application.
    """
    state_machine.check(application, "reapply")
    changes = dict(changes)
    text_version = changes.pop("consent_text_version", None)
    for name in applications.DEALER_FIELDS:
        if name in changes and changes[name] != getattr(application, name):
            raise Invalid(name, "entered by the dealer; a re-application cannot change it")
    if text_version is None:
        raise Invalid("consent_text_version", "a re-application needs your credit-inquiry "
                      "consent for it (the text version you agreed to)")
    if text_version not in consent.TEXTS:
        raise Invalid("consent_text_version",
                      f"unknown text version; one of {', '.join(consent.TEXTS)}")
    terms = {f: changes.get(f, getattr(application, f)) for f in applications.TERMS_FIELDS}
    applications.check_amounts(terms)
    state_machine.advance(session, application, "reapply", actor.id, note="re-applied")
    new = Application(ref=applications.new_ref(), customer_id=application.customer_id,
                      id_number_index=application.id_number_index,
                      id_number_masked=application.id_number_masked,
                      dealer_id=application.dealer_id,
                      consultant_id=application.consultant_id, previous_id=application.id,
                      state=state_machine.DRAFT, **terms)
    session.add(new)
    session.flush()
    state_machine.start(session, new, actor.id, note=f"re-application of {application.ref}")
    auth = applications.authorization_of(session=session, application=application)
    if auth is not None:  # the signed authorisation covers the re-application
        session.add(StoredDocument(
            application_id=new.id, kind=applications.AUTHORIZATION_DOC,
            filename=auth.filename, content_type=auth.content_type, size=auth.size,
            sha256=auth.sha256, mailing_status="not_required", uploaded_by=auth.uploaded_by))
    session.commit()
    consent.grant(session=session, user=actor, application_id=new.id,
                  text_version=text_version)
    submit(session=session, services=services, application=new, actor=actor)
    return new


# ---- contract and liveness ----------------------------------------------------------------
def create_contract(*, session: Session, services: Services, application: Application,
                    actor: User) -> LoanContract:
    """Render the contract for the chosen plan; creating it at the e-signature vendor goes
    through the outbox (the contract row, the state step and the send in one transaction,
    delivered by a worker with retries), so an e-signature outage delays the contract and
    never fails this step. Where no queue runs, it is delivered here, after the commit."""
    state_machine.check(application, "create_contract")
    services.vendor("esign")  # not configured at all: Unavailable before anything changes
    plan = applications.plan_of(session=session, application=application)
    customer = session.get(Customer, application.customer_id)
    p = services.store.profile(customer)
    text = documents.contract_text(
        application=application, customer=customer, customer_name=p.name,
        dealer=session.get(Dealer, application.dealer_id), plan=plan.offer,
        start=datetime.now(UTC).date())
    contract = LoanContract(application_id=application.id, vendor_contract_id=None,
                            document_text=text,
                            document_sha256=hashlib.sha256(text.encode()).hexdigest(),
                            status=outbox.CONTRACT_SENDING)
    session.add(contract)
    session.flush()
    state_machine.advance(session, application, "create_contract", actor.id,
                          note=f"contract {contract.id} sent for e-signature")
    message = outbox.add_contract(session, application=application, contract=contract)
    session.commit()
    _deliver(session, services, [message.id])
    session.refresh(contract)
    return contract


def _deliver(session: Session, services: Services, message_ids: list[int]) -> None:
    """Hand committed outbox messages to the queue's workers (or deliver them here)."""
    queue = getattr(services, "queue", None)
    if queue is not None:
        try:
            queue.deliver(message_ids)
            return
        except Exception:  # noqa: BLE001 - the sweep delivers what could not be queued
            log.exception("could not queue outbox %s; the sweep will", message_ids)
            return
    outbox.deliver_now(session=session, services=services, message_ids=message_ids)


def _contract_at_vendor(session: Session, services: Services, application: Application,
                        contract: LoanContract) -> None:
    """A contract the worker has not yet created at the vendor is sent now (same outbox
    message, same idempotency key: never two contracts); Conflict while the vendor is down."""
    if contract.vendor_contract_id is not None:
        return
    message_id = session.scalar(select(OutboxMessage.id).where(
        OutboxMessage.application_id == application.id,
        OutboxMessage.kind == outbox.ESIGN_CONTRACT))
    if message_id is not None:
        outbox.deliver_now(session=session, services=services, message_ids=[message_id])
        session.refresh(contract)
    if contract.vendor_contract_id is None:
        raise Conflict("the contract is still being sent to the e-signature service; "
                       "try again shortly")


def sign_contract(*, session: Session, services: Services, application: Application,
                  customer_user: User, verification_code: str) -> LoanContract:
    """The customer signs with the code the e-signature vendor sent; the signed copy is kept.
    One signing at a time per application (`state_machine.once`, after the contract is at
    the vendor): a second request while the vendor signs the first is refused without a
    vendor call, and nothing is held in the database meanwhile."""
    state_machine.check(application, "sign_contract")
    contract = session.scalar(select(LoanContract).where(
        LoanContract.application_id == application.id))
    _contract_at_vendor(session, services, application, contract)
    p = services.store.profile(session.get(Customer, application.customer_id))
    esign = services.vendor("esign")

    def ask(key: str):
        try:
            signed = esign.sign(SignRequest(contract_id=contract.vendor_contract_id,
                                            signer_id_number=p.id_number,
                                            verification_code=verification_code,
                                            idempotency_key=key))
            doc = (esign.signed_document(contract.vendor_contract_id)
                   if signed.status.value == "signed" else None)
        except VendorRejected as exc:
            raise Invalid("verification_code", f"rejected by e-signature: {exc}") from None
        except VendorError as exc:
            raise vendor_failed("esign", exc) from None
        if doc is not None:
            files.save(services.upload_dir, files.StoredFile(
                doc.sha256, len(doc.content), doc.media_type, "contract.txt", doc.content))
        return signed, doc

    claimed, (signed, doc) = state_machine.once(
        session, application, "sign_contract", ask,
        digest=claims.fingerprint(contract.vendor_contract_id, verification_code))
    claims.finish(session, claimed)
    contract.status = signed.status.value
    if doc is not None:
        contract.signed_sha256 = doc.sha256
        contract.signed_at = signed.signed_at or datetime.now(UTC)
        record_postloan_monitoring(session=session, application=application,
                                   granted_by=customer_user.id,
                                   document_sha256=contract.signed_sha256)
        state_machine.advance(session, application, "sign_contract", customer_user.id)
    session.commit()
    return contract


def application_liveness(*, session: Session, services: Services, application: Application,
                         customer_user: User, selfie: bytes) -> Verification:
    """Liveness before disbursement; a pass queues the back-office disbursement review. One
    check at a time per application (`state_machine.once`): a second upload while the vendor
    answers the first is refused without a vendor call, and nothing is held in the database
    meanwhile (other writes of the customer, the store and everyone else go on)."""
    state_machine.check(application, "pass_liveness")
    customer = session.get(Customer, application.customer_id)
    claimed, r = state_machine.once(
        session, application, "pass_liveness",
        lambda key: ask_liveness(services, customer, selfie, key),
        digest=claims.fingerprint(selfie))
    claims.finish(session, claimed)
    v = record_liveness(session, services, customer, r, application_id=application.id)
    if v.passed:
        state_machine.advance(session, application, "pass_liveness", customer_user.id)
        state_machine.advance(session, application, "queue_disbursement", None)
    session.commit()
    return v


# ---- back office --------------------------------------------------------------------------
def review(*, session: Session, application: Application, reviewer: User, decision: str,
           notes: str, offer: dict[str, Any] | None = None,
           separate_duties: bool = True) -> tuple[Review, Voucher | None]:
    """Approve or reject a referral or a disbursement. Approving a disbursement issues the
    voucher in the same transaction as the state step, so a racing second approval gets
    `IllegalTransition` and no second voucher.

    Only reviewers decide (an admin administers, NotPermitted). With ``separate_duties`` the
    reviewer who approved the credit referral may not approve its disbursement (the credit
    approval is committed before the disbursement review exists, so the check cannot race),
    and no approval comes from the filing consultant's hands (`accounts.same_hands`: e.g. an
    admin who invited the consultant and created the reviewer account holds both tokens).
    """
    if reviewer.role is not Role.REVIEWER:
        raise NotPermitted(f"role {reviewer.role.value} may not decide reviews; reviewers do")
    if application.state == state_machine.REFERRED:
        kind, action = "credit", f"review_{decision}"
    elif application.state == state_machine.DISBURSEMENT_REVIEW:
        kind, action = "disbursement", f"{decision}_disbursement"
    else:
        raise state_machine.IllegalTransition(application, f"review ({decision})",
                                              application.state)
    if separate_duties and decision == "approve" and accounts.same_hands(
            reviewer, session.get(User, application.consultant_id)):
        raise NotPermitted("separation of duties: your account and that of the consultant "
                           "who filed this application were created by one admin (or one "
                           "created the other); another reviewer must approve it")
    if separate_duties and kind == "disbursement" and decision == "approve":
        credit_approver = session.scalar(select(Review.reviewer_id).where(
            Review.application_id == application.id, Review.kind == "credit",
            Review.decision == "approve").order_by(Review.id.desc()).limit(1))
        if credit_approver is not None and accounts.same_hands(
                reviewer, session.get(User, credit_approver)):
            raise NotPermitted("separation of duties: you approved this application's credit "
                               "(or your account and that approver's were created by one "
                               "admin); another reviewer must approve the disbursement")
    manual = None
    if kind == "credit" and decision == "approve" and not applications.available_offers(
            session=session, application=application):
        if offer is None:
            raise Invalid("offer", "the decision has no plan: set annual_rate to approve")
        manual = manual_offer(application, offer)
    state_machine.advance(session, application, action, reviewer.id, note=notes)
    row = Review(application_id=application.id, kind=kind, reviewer_id=reviewer.id,
                 decision=decision, notes=notes, offer=manual)
    session.add(row)
    voucher = None
    if kind == "disbursement" and decision == "approve":
        voucher = vouchers.issue(session=session, application=application, reviewer=reviewer)
    session.commit()
    return row, voucher


def manual_offer(application: Application, offer: dict[str, Any]) -> dict[str, Any]:
    """The plan a reviewer sets when approving a referral the machine found no product for."""
    return {"product_id": "MANUAL", "name_zh": "人工审批方案", "name_en": "Manual plan",
            "lease_type": application.lease_type,
            "term": int(offer.get("term_months") or application.term_months),
            "repayment_method": offer.get("repayment_method", "equal_installment"),
            "annual_rate": str(offer["annual_rate"]),
            "financed_amount": str(application.loan_amount), "recommended": True,
            "risk_grade": None, "version": "manual"}


# ---- pickup, documents, booking -----------------------------------------------------------
def confirm_pickup(*, session: Session, application: Application, actor: User) -> None:
    """The customer drove the car away."""
    state_machine.advance(session, application, "confirm_pickup", actor.id)
    session.commit()


def check_can_upload_checklist(application: Application) -> None:
    if application.state != state_machine.PICKED_UP:
        raise state_machine.IllegalTransition(application, "upload documents", application.state)


def upload_checklist_document(*, session: Session, services: Services,
                              application: Application, kind: str,
                              upload: files.StoredFile, actor: User) -> StoredDocument:
    """One checklist document after pickup; the last one completes the file and books the
    loan with servicing (once: of two last documents uploaded at once, both are stored and
    one completes the file)."""
    applications.check_checklist_kind(kind)
    check_can_upload_checklist(application)
    doc = applications.store_document(session=session, upload_dir=services.upload_dir,
                                      application=application, kind=kind, upload=upload,
                                      user=actor)
    session.commit()
    uploaded = set(session.scalars(select(StoredDocument.kind).where(
        StoredDocument.application_id == application.id)))
    if uploaded >= set(applications.CHECKLIST):
        try:
            state_machine.advance(session, application, "complete_documents", actor.id)
        except state_machine.IllegalTransition:  # a concurrent upload completed the file
            session.refresh(doc)  # and books it; this document is stored all the same
            return doc
        session.commit()
        book(session=session, application=application, actor=actor)
    return doc


def book(*, session: Session, application: Application, actor: User) -> str | None:
    """Hand the loan to servicing; returns the loan ref, or None when booking failed.

    The state stays `documents_complete` on failure, so back office can retry the booking.
    """
    state_machine.check(application, "book")
    plan = applications.plan_of(session=session, application=application)
    voucher = session.scalar(select(Voucher).where(Voucher.application_id == application.id))
    loan_ref = f"LN{application.ref[2:]}"
    try:
        book_loan(session, application_id=application.id, plan=dict(plan.offer),
                  disbursed_on=voucher.issued_at.date(), loan_ref=loan_ref)
        state_machine.advance(session, application, "book", actor.id, note=loan_ref)
        session.commit()
    except Exception:  # booking is retryable; never fail the upload that triggered it
        session.rollback()
        log.exception("booking %s failed", application.ref)
        return None
    return loan_ref
