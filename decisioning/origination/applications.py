"""Loan applications: creation, what each party may see of one, its documents, offers and
history. Reads and single-row writes; the steps with side effects are in `flows`."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, bindparam, func, select
from sqlalchemy.orm import Session

from chedaitong.crypto import mask_id_number
from chedaitong.db import Application, Customer, Dealer, DecisionRecord, Role, User
from chedaitong.db.origination import (
    LoanContract,
    PlanChoice,
    Review,
    StateTransition,
    StoredDocument,
    Voucher,
)
from chedaitong.errors import Conflict, Invalid, NotFound, NotPermitted
from decisioning.origination import access, audiences, dealers, files, state_machine
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
                "loan_amount", "term_months", "vin")
#: what the dealer entered about the car: a customer's re-application cannot change it
DEALER_FIELDS = ("vehicle_brand", "vehicle_model", "vehicle_price", "lease_type", "vin")


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
    """A consultant's application under the ID number ``data["id_number"]`` (state draft),
    committed.

    It is not linked to any customer yet, and the answer is the same whether or not someone
    is registered with that number (a consultant learns nothing about who is a customer):
    the customer finds it in the user app and binds it by granting the credit-inquiry
    consent with their verified identity (`consent.grant`). A suspended dealer's consultants
    cannot file.
    """
    dealers.check_can_file(session, consultant)
    terms = dict(data)
    id_number = terms.pop("id_number")
    check_amounts(terms)
    app = Application(ref=new_ref(), customer_id=None,
                      id_number_index=store.cipher.blind_index(id_number),
                      id_number_masked=mask_id_number(id_number),
                      dealer_id=consultant.dealer_id,
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
    if customer is None and application.customer_id is not None:
        customer = session.get(Customer, application.customer_id)
    return _summary(application, customer.id_number_masked if customer else None)


def _summary(application: Application, customer_masked: str | None) -> dict[str, Any]:
    """The list's fields; the customer's own masked number once confirmed, else the one the
    consultant filed."""
    masked = customer_masked if application.customer_id is not None else (
        application.id_number_masked)
    return {**{k: getattr(application, k) for k in (
        "id", "ref", "state", "vehicle_brand", "vehicle_model", "loan_amount", "term_months",
        "submitted_at", "created_at")}, "customer_id_number_masked": masked,
        "customer_confirmed": application.customer_id is not None}


#: what the apps' view of a decision reads (`audiences.decision_view`, the offers): the
#: record's features, fired rules and model explanations stay in the database
VIEW_COLUMNS = (DecisionRecord.id, DecisionRecord.application_id, DecisionRecord.decided_at,
                DecisionRecord.outcome, DecisionRecord.offers, DecisionRecord.reasons,
                DecisionRecord.evidence_gaps, DecisionRecord.guidance)


def latest_decision(*, session: Session, application_id: int) -> DecisionRecord | None:
    """The application's latest decision record."""
    return session.scalar(select(DecisionRecord).where(
        DecisionRecord.application_id == application_id)
        .order_by(DecisionRecord.id.desc()).limit(1))


# ---- what `detail` reads: statements built once, Core rows -------------------------------
# Every GET of an application (each poll of a submission) runs these: built at import, their
# SQL and cache keys are computed once, and they load plain rows, not ORM objects (no identity
# map, no instance state) — nothing read here is changed by the request.
_APP = bindparam("application_id")
#: the parties: the dealer, and the customer once confirmed (None: no row joins)
_PARTIES = (select(Dealer.code, Dealer.name, Customer.id_number_masked, Customer.phone_masked)
            .select_from(Dealer)
            .outerjoin(Customer, Customer.id == bindparam("customer_id"))
            .where(Dealer.id == bindparam("dealer_id")))
_DECISION_VIEW = (select(*VIEW_COLUMNS).where(DecisionRecord.application_id == _APP)
                  .order_by(DecisionRecord.id.desc()).limit(1))
#: what exists once a plan is chosen, in one round trip
_AFTER_PLAN = select(
    select(LoanContract.status).where(LoanContract.application_id == _APP).limit(1)
    .scalar_subquery().label("contract_status"),
    select(Voucher.number).where(Voucher.application_id == _APP).limit(1)
    .scalar_subquery().label("voucher_number"),
    select(PlanChoice.offer).where(PlanChoice.application_id == _APP).limit(1)
    .scalar_subquery().label("plan"),
    select(StateTransition.note).where(StateTransition.application_id == _APP,
                                       StateTransition.to_state == state_machine.BOOKED)
    .limit(1).scalar_subquery().label("loan_ref"))
#: the document fields the apps show (`webapp.schemas.DocumentOut`)
_DOCUMENTS = (select(StoredDocument.kind, StoredDocument.filename, StoredDocument.content_type,
                     StoredDocument.size, StoredDocument.sha256, StoredDocument.mailing_status,
                     StoredDocument.tracking_number, StoredDocument.uploaded_at)
              .where(StoredDocument.application_id == _APP).order_by(StoredDocument.kind))
_MANUAL_OFFER = (select(Review.offer).where(
    Review.application_id == _APP, Review.kind == "credit", Review.decision == "approve",
    Review.offer.is_not(None)).order_by(Review.id.desc()).limit(1))


def available_offers(*, session: Session, application: Application,
                     record: DecisionRecord | None | Any = ...) -> list[dict[str, Any]]:
    """The decision's offers, or the plan a reviewer set when approving a referral
    (``record``: the latest decision, when the caller has read it)."""
    if record is ...:
        record = latest_decision(session=session, application_id=application.id)
    offers = list(record.offers) if record else []
    if offers:
        return offers
    manual = session.scalar(_MANUAL_OFFER, {"application_id": application.id})
    return [manual] if manual else []


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


def voucher_view(*, session: Session, application: Application,
                 user: User) -> dict[str, Any]:
    """The voucher as ``user`` may see it: the verification code is the consultant's (the
    voucher is sent to them, and the dealer checks the code at pickup), never staff's."""
    voucher = voucher_of(session=session, application=application)
    return {"number": voucher.number, "amount": voucher.amount,
            "issued_at": voucher.issued_at, "document_text": voucher.document_text,
            "verification_code": voucher.verification_code
            if user.role is Role.CONSULTANT else None}


def documents_of(*, session: Session, application: Application) -> list[Row]:
    """The application's documents by kind: what the apps show of each (plain rows)."""
    return list(session.execute(_DOCUMENTS, {"application_id": application.id}).all())


def history(*, session: Session, application: Application) -> list[StateTransition]:
    return list(session.scalars(select(StateTransition).where(
        StateTransition.application_id == application.id).order_by(StateTransition.id)))


def history_view(*, session: Session, application: Application,
                 user: User) -> list[dict[str, Any]]:
    """The history as ``user`` may see it: staff's notes (internal review notes) only for
    staff."""
    rows = history(session=session, application=application)
    actors = {t.actor_id for t in rows if t.actor_id is not None}
    staff_ids = set(session.scalars(select(User.id).where(
        User.id.in_(actors), User.role.in_(audiences.STAFF)))) if actors else set()
    return audiences.history_for(rows, user, staff_ids)


def detail(*, session: Session, application: Application, user: User | None = None,
           parties: Row | None = None, documents: list[Row] | None = None) -> dict[str, Any]:
    """What the apps show: masked parties, the decision as ``user``'s audience may see it
    (`audiences.decision_view`) and offers — never features, raw device data or full
    identifiers. Reads through the prebuilt statements above (plain rows); ``parties``: the
    row `access.application_and_parties` read with the application (else read here);
    ``documents``: the application's `documents_of`, when the caller has read them in this
    transaction (submit, for its authorisation check)."""
    params = {"application_id": application.id}
    if parties is None:
        parties = session.execute(_PARTIES, {"customer_id": application.customer_id,
                                             "dealer_id": application.dealer_id}).one()
    # what cannot exist yet in this state is not looked for (the 202 of a submit, and every
    # poll of it, is an application still deciding: no decision, plan, contract or loan)
    undecided = application.state in UNDECIDED_STATES
    before_plan = undecided or application.state in PRE_PLAN_STATES
    record: Row | None = None if undecided else session.execute(_DECISION_VIEW,
                                                                params).first()
    after: Row | None = None if before_plan else session.execute(_AFTER_PLAN, params).one()
    docs = documents_of(session=session, application=application) if documents is None \
        else documents
    return {
        **_summary(application, parties.id_number_masked),
        "dealer_code": parties.code, "dealer_name": parties.name,
        "consultant_id": application.consultant_id, "previous_id": application.previous_id,
        "vehicle_price": application.vehicle_price, "down_payment": application.down_payment,
        "lease_type": application.lease_type, "vin": application.vin,
        "customer_phone_masked": parties.phone_masked,
        "allowed_actions": state_machine.allowed_actions(application.state),
        "decision": audiences.decision_view(record, user),
        "offers": [] if undecided else available_offers(session=session,
                                                        application=application, record=record),
        "plan": after.plan if after else None,
        "contract_status": after.contract_status if after else None,
        "voucher_number": after.voucher_number if after else None,
        "documents": docs,
        "missing_documents": sorted(set(CHECKLIST) - {d.kind for d in docs}),
        "loan_ref": after.loan_ref if after else None,
    }


#: states without a decision yet, and decided states before a plan is chosen (no plan,
#: contract, voucher or loan can exist in them)
UNDECIDED_STATES = frozenset({state_machine.DRAFT, state_machine.SUBMITTED,
                              state_machine.DECIDING})
PRE_PLAN_STATES = frozenset({state_machine.APPROVED, state_machine.DECLINED,
                             state_machine.REFERRED, state_machine.SUPERSEDED})


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
    """The paper copy of the credit-inquiry authorisation the customer signed in the store
    (needed before submitting), committed. It is evidence, never the consent itself: that is
    the customer's own record (`consent.grant`). It must parse as a PDF."""
    check_can_upload_authorization(application)
    files.check_pdf(upload)
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


#: who moves a paper original forward: the dealer mails it, the back office receives it
MAILING_STEPS = {("pending", "mailed"): (Role.CONSULTANT,),
                 ("mailed", "received"): (Role.REVIEWER,)}


def set_mailing(*, session: Session, application: Application, kind: str, status: str,
                tracking_number: str | None, user: User) -> StoredDocument:
    """Move a checklist document's paper original one step forward, committed: pending →
    mailed by the dealer's consultant, mailed → received by the back office. Any other step
    (a step back, a skip, the wrong role) is refused."""
    check_mailing_kind(kind)
    doc = session.scalar(select(StoredDocument).where(
        StoredDocument.application_id == application.id, StoredDocument.kind == kind))
    if doc is None:
        raise NotFound(f"no {kind} document uploaded for this application")
    step = (doc.mailing_status, status)
    if step not in MAILING_STEPS:
        raise Conflict(f"the paper original is {doc.mailing_status}; it cannot become "
                       f"{status}", details={"mailing_status": doc.mailing_status})
    if user.role not in MAILING_STEPS[step]:
        raise NotPermitted(f"{status} is set by "
                           + " or ".join(r.value for r in MAILING_STEPS[step]))
    doc.mailing_status = status
    if tracking_number is not None:
        doc.tracking_number = tracking_number
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
