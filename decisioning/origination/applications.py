"""Loan applications: creation, what each party may see of one, its documents, offers and
history. Reads and single-row writes; the steps with side effects are in `flows`."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chedaitong.db import Application, Customer, Dealer, DecisionRecord, User
from chedaitong.db.origination import (
    LoanContract,
    PlanChoice,
    Review,
    StateTransition,
    StoredDocument,
    Voucher,
)
from chedaitong.errors import Conflict, Invalid, NotFound
from decisioning.origination import access, files, state_machine
from featurestore.store import FeatureStore

AUTHORIZATION_DOC = "credit_authorization"
#: what the consultant uploads after pickup (the paper originals are mailed too)
CHECKLIST = (
    "loan_contract",
    "insurance_policy",
    "purchase_invoice",
    "purchase_tax_invoice",
    "insurance_invoice",
    "vehicle_registration",
)
DOCUMENT_KINDS = (AUTHORIZATION_DOC, *CHECKLIST)
MAILING_STATES = ("pending", "mailed", "received")
#: review queue per state
QUEUES = {state_machine.REFERRED: "credit", state_machine.DISBURSEMENT_REVIEW: "disbursement"}
TERMS_FIELDS = ("vehicle_brand", "vehicle_model", "vehicle_price", "lease_type", "down_payment",
                "loan_amount", "term_months")


def new_ref() -> str:
    return f"AP{datetime.now(UTC):%y%m%d}{secrets.token_hex(4).upper()}"


def check_amounts(terms: dict[str, Any]) -> None:
    """The down payment is below the price and the loan within the price net of it."""
    price, down, loan = terms["vehicle_price"], terms["down_payment"], terms["loan_amount"]
    if down >= price:
        raise Invalid("down_payment", "must be less than the vehicle price")
    if loan > price - down:
        raise Invalid("loan_amount", "must not exceed the price net of the down payment")


def create(*, session: Session, store: FeatureStore, consultant: User,
           data: dict[str, Any]) -> Application:
    """A consultant's application for the customer with ``data["id_number"]`` (state draft),
    committed."""
    terms = dict(data)
    customer = store.find_customer(session, terms.pop("id_number"))
    if customer is None:
        raise Invalid("id_number", "no registered customer has this ID number")
    check_amounts(terms)
    app = Application(ref=new_ref(), customer_id=customer.id, dealer_id=consultant.dealer_id,
                      consultant_id=consultant.id, state=state_machine.DRAFT, **terms)
    session.add(app)
    session.flush()
    state_machine.start(session, app, consultant.id, note="created")
    session.commit()
    return app


def page(*, session: Session, user: User, state: str | None, number: int,
         size: int) -> tuple[list[Application], int]:
    """One page of the applications ``user`` may see, newest first, and the total."""
    query = access.visible(select(Application), user)
    if state is not None:
        query = query.where(Application.state == state)
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    rows = session.scalars(query.order_by(Application.id.desc())
                           .offset((number - 1) * size).limit(size)).all()
    return list(rows), total


def summary(*, session: Session, application: Application,
            customer: Customer | None = None) -> dict[str, Any]:
    customer = customer or session.get(Customer, application.customer_id)
    return {**{k: getattr(application, k) for k in (
        "id", "ref", "state", "vehicle_brand", "vehicle_model", "loan_amount", "term_months",
        "submitted_at", "created_at")}, "customer_id_number_masked": customer.id_number_masked}


def latest_decision(*, session: Session, application_id: int) -> DecisionRecord | None:
    return session.scalar(select(DecisionRecord).where(
        DecisionRecord.application_id == application_id).order_by(DecisionRecord.id.desc())
        .limit(1))


def available_offers(*, session: Session, application: Application) -> list[dict[str, Any]]:
    """The decision's offers, or the plan a reviewer set when approving a referral."""
    record = latest_decision(session=session, application_id=application.id)
    offers = list(record.offers) if record else []
    manual = session.scalar(select(Review.offer).where(
        Review.application_id == application.id, Review.kind == "credit",
        Review.decision == "approve", Review.offer.is_not(None)).order_by(Review.id.desc())
        .limit(1))
    return offers or ([manual] if manual else [])


def plan_of(*, session: Session, application: Application) -> PlanChoice | None:
    return session.scalar(select(PlanChoice).where(PlanChoice.application_id == application.id))


def contract_of(*, session: Session, application: Application) -> LoanContract:
    contract = session.scalar(select(LoanContract).where(
        LoanContract.application_id == application.id))
    if contract is None:
        raise NotFound("no contract yet")
    return contract


def voucher_of(*, session: Session, application: Application) -> Voucher:
    voucher = session.scalar(select(Voucher).where(Voucher.application_id == application.id))
    if voucher is None:
        raise NotFound("no voucher issued for this application")
    return voucher


def documents_of(*, session: Session, application: Application) -> list[StoredDocument]:
    return list(session.scalars(select(StoredDocument).where(
        StoredDocument.application_id == application.id).order_by(StoredDocument.kind)))


def history(*, session: Session, application: Application) -> list[StateTransition]:
    return list(session.scalars(select(StateTransition).where(
        StateTransition.application_id == application.id).order_by(StateTransition.id)))


def loan_ref_of(*, session: Session, application: Application) -> str | None:
    """The servicing loan's ref once booked (noted on the transition to booked)."""
    return session.scalar(select(StateTransition.note).where(
        StateTransition.application_id == application.id,
        StateTransition.to_state == state_machine.BOOKED))


def detail(*, session: Session, application: Application) -> dict[str, Any]:
    """What the apps show: masked parties, decision summary and offers — never features,
    raw device data or full identifiers."""
    customer = session.get(Customer, application.customer_id)
    dealer = session.get(Dealer, application.dealer_id)
    contract = session.scalar(select(LoanContract).where(
        LoanContract.application_id == application.id))
    voucher = session.scalar(select(Voucher).where(Voucher.application_id == application.id))
    plan = plan_of(session=session, application=application)
    docs = documents_of(session=session, application=application)
    return {
        **summary(session=session, application=application, customer=customer),
        "dealer_code": dealer.code, "dealer_name": dealer.name,
        "consultant_id": application.consultant_id, "previous_id": application.previous_id,
        "vehicle_price": application.vehicle_price, "down_payment": application.down_payment,
        "lease_type": application.lease_type, "customer_phone_masked": customer.phone_masked,
        "allowed_actions": state_machine.allowed_actions(application.state),
        "decision": latest_decision(session=session, application_id=application.id),
        "offers": available_offers(session=session, application=application),
        "plan": plan.offer if plan else None,
        "contract_status": contract.status if contract else None,
        "voucher_number": voucher.number if voucher else None,
        "documents": docs,
        "missing_documents": sorted(set(CHECKLIST) - {d.kind for d in docs}),
        "loan_ref": loan_ref_of(session=session, application=application),
    }


def state_view(application: Application, loan_ref: str | None = None) -> dict[str, Any]:
    return {"id": application.id, "state": application.state, "loan_ref": loan_ref,
            "allowed_actions": state_machine.allowed_actions(application.state)}


def store_document(*, session: Session, upload_dir, application: Application, kind: str,
                   upload: files.StoredFile, user: User) -> StoredDocument:
    """Keep a file on disk under its hash and (re)point the application's ``kind`` at it
    (flushed, not committed). The identical file again is a Conflict, as it is when two
    identical uploads race to the unique (application, kind) row: one 201, the rest 409."""
    doc = session.scalar(select(StoredDocument).where(  # one read: the check and the write
        StoredDocument.application_id == application.id, StoredDocument.kind == kind))
    if doc is not None and doc.sha256 == upload.sha256:
        raise Conflict(f"{kind}: this file is already the application's {kind}",
                       details={"errors": {"files": {"file": ["already uploaded"]}}})
    files.save(upload_dir, upload)
    fields = {"filename": upload.filename, "content_type": upload.content_type,
              "size": upload.size, "sha256": upload.sha256, "uploaded_by": user.id,
              "uploaded_at": datetime.now(UTC)}  # read before adding: no half-set row flushes
    if doc is None:
        doc = StoredDocument(application_id=application.id, kind=kind,
                             mailing_status="pending" if kind in CHECKLIST else "not_required",
                             **fields)
        session.add(doc)
    else:
        for name, value in fields.items():
            setattr(doc, name, value)
    session.flush()
    return doc


def check_can_upload_authorization(application: Application) -> None:
    if application.state != state_machine.DRAFT:
        raise state_machine.IllegalTransition(application, "upload the authorisation",
                                       application.state)


def upload_authorization(*, session: Session, upload_dir, application: Application,
                         upload: files.StoredFile, user: User) -> StoredDocument:
    """The signed credit-inquiry authorisation (needed before submitting), committed."""
    check_can_upload_authorization(application)
    doc = store_document(session=session, upload_dir=upload_dir, application=application,
                         kind=AUTHORIZATION_DOC, upload=upload, user=user)
    session.commit()
    return doc


def authorization_of(*, session: Session, application: Application) -> StoredDocument | None:
    return session.scalar(select(StoredDocument).where(
        StoredDocument.application_id == application.id,
        StoredDocument.kind == AUTHORIZATION_DOC))


def check_checklist_kind(kind: str) -> None:
    if kind not in CHECKLIST:
        raise NotFound(f"unknown document {kind!r}; one of {', '.join(CHECKLIST)}")


def check_mailing_kind(kind: str) -> None:
    if kind not in CHECKLIST:
        raise NotFound(f"unknown document {kind!r}")


def set_mailing(*, session: Session, application: Application, kind: str, status: str,
                tracking_number: str | None) -> StoredDocument:
    """Mailing status of a checklist document's paper original, committed."""
    check_mailing_kind(kind)
    doc = session.scalar(select(StoredDocument).where(
        StoredDocument.application_id == application.id, StoredDocument.kind == kind))
    if doc is None:
        raise NotFound(f"no {kind} document uploaded for this application")
    doc.mailing_status, doc.tracking_number = status, tracking_number
    session.commit()
    return doc


def review_queue(*, session: Session, kind: str | None = None) -> list[dict[str, Any]]:
    """Referred applications (credit) and disbursement reviews, oldest first (200 at most),
    with the masked customer id and the machine's outcome."""
    wanted = [s for s, k in QUEUES.items() if kind in (None, k)]
    rows = session.execute(
        select(Application, Customer)
        .join(Customer, Customer.id == Application.customer_id)
        .where(Application.state.in_(wanted))
        .order_by(Application.submitted_at, Application.id).limit(200)).all()
    items = []
    for app, customer in rows:
        record = latest_decision(session=session, application_id=app.id)
        items.append({**summary(session=session, application=app, customer=customer),
                      "application": app, "queue": QUEUES[app.state],
                      "outcome": record.outcome if record else None})
    return items


def review_case(*, session: Session, application: Application) -> dict[str, Any]:
    """What a reviewer works from: the decision, masked parties, offers, earlier reviews, and
    whether approving needs a manual rate (a referral with no plan)."""
    offers = available_offers(session=session, application=application)
    return {
        "record": latest_decision(session=session, application_id=application.id),
        "queue": QUEUES.get(application.state),
        "customer": session.get(Customer, application.customer_id),
        "dealer": session.get(Dealer, application.dealer_id),
        "offers": offers,
        "reviews": list(session.scalars(select(Review).where(
            Review.application_id == application.id).order_by(Review.id))),
        "needs_rate": application.state == state_machine.REFERRED and not offers,
    }


def financed_amount(application: Application, plan: PlanChoice | None) -> Decimal:
    """What the chosen plan finances (the requested amount when the plan does not say)."""
    return Decimal(str((plan.offer if plan else {}).get("financed_amount")
                       or application.loan_amount))
