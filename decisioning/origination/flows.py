"""Origination steps with their side effects (vendors, decisions, files, SMS, booking).

Keyword-only functions over a session, one per seed step; views stay thin. Each step checks the
state machine *before* calling a vendor, commits its own work, and never lets a vendor failure
become a 500: it is a 502/503 with the vendor named, or a recorded refer.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.exceptions import BadGateway, Conflict, NotFound, UnprocessableEntity

from chedaitong.crypto import mask_account
from chedaitong.db import Application, Customer, Dealer, DecisionRecord, Role, User
from chedaitong.db.origination import (
    LoanContract,
    Notification,
    PlanChoice,
    Review,
    StoredDocument,
    Verification,
    Voucher,
)
from featurestore.store import CustomerProfile
from vendors.errors import VendorError, VendorRejected
from vendors.interfaces import (
    ContractRequest,
    FourElementRequest,
    IdCheckRequest,
    LivenessRequest,
    Signer,
    SignRequest,
    SmsMessage,
)
from webapp import storage, workflow
from webapp.auth import issue_token
from webapp.services import Services

log = logging.getLogger(__name__)

AUTHORIZATION_DOC = "credit_authorization"
CHECKLIST = (
    "loan_contract",
    "insurance_policy",
    "purchase_invoice",
    "purchase_tax_invoice",
    "insurance_invoice",
    "vehicle_registration",
)
MAILING_STATES = ("pending", "mailed", "received")
OUTCOME_ACTION = {"approve": "decide_approve", "decline": "decide_decline",
                  "refer": "decide_refer"}


def _unprocessable(field: str, reason: str, location: str = "json") -> UnprocessableEntity:
    err = UnprocessableEntity(f"{field}: {reason}")
    err.data = {"messages": {location: {field: [reason]}}}
    return err


def _vendor_failed(name: str, exc: VendorError) -> BadGateway:
    log.warning("vendor %s failed: %s", name, type(exc).__name__)
    return BadGateway(f"the {name} service is unavailable, try again ({type(exc).__name__})")


def _now() -> datetime:
    return datetime.now(UTC)


# ---- customers ----------------------------------------------------------------------------
def register_user(session: Session, *, username: str, display_name: str,
                  role: Role = Role.CUSTOMER, dealer_id: int | None = None) -> tuple[User, str]:
    """A new user with a first token (409 when the username is taken)."""
    user = User(username=username, display_name=display_name, role=role, dealer_id=dealer_id)
    session.add(user)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise Conflict(f"username {username!r} is taken") from None
    token = issue_token(session, user, label="register")
    session.commit()
    return user, token


def customer_of(session: Session, user: User) -> Customer:
    customer = session.scalar(select(Customer).where(Customer.user_id == user.id))
    if customer is None:
        raise Conflict("complete your personal information first (PUT /customers/me/profile)")
    return customer


def complete_profile(session: Session, svc: Services, *, user: User,
                     data: dict[str, Any]) -> Customer:
    """First-use personal information → an encrypted customer record (once per user)."""
    if session.scalar(select(Customer.id).where(Customer.user_id == user.id)) is not None:
        raise Conflict("personal information is already complete")
    if svc.store.find_customer(session, data["id_number"]) is not None:
        raise Conflict("this ID number is already registered to another account")
    profile = CustomerProfile(
        name=data["name"], id_number=data["id_number"], phone=data["phone"],
        birth_date=data["birth_date"], home_lat=data["home_lat"], home_lon=data["home_lon"],
        home_city=data.get("home_city", ""), home_province=data.get("home_province", ""),
        monthly_income=data.get("monthly_income"), device_id=data.get("device_id"),
    )
    customer = svc.store.register_customer(session, f"APP-{uuid.uuid4().hex[:16]}", profile,
                                           _now(), user_id=user.id)
    session.commit()
    return customer


def _record_check(session: Session, svc: Services, customer: Customer, *, kind: str,
                  passed: bool, score: float | None, request_id: str | None, detail: str,
                  application_id: int | None = None) -> Verification:
    now = _now()
    svc.store.ingest_identity(session, customer, kind, passed, score, now)
    v = Verification(customer_id=customer.id, application_id=application_id, kind=kind,
                     passed=passed, score=score, vendor_request_id=request_id,
                     detail=detail[:200], at=now)
    session.add(v)
    session.flush()
    return v


def verify_id_card(session: Session, svc: Services, *, customer: Customer) -> Verification:
    """The ID card is genuine (the person exists), checked with the ID-check vendor."""
    p = svc.store.profile(customer)
    try:
        r = svc.vendor("id_check").verify(IdCheckRequest(name=p.name, id_number=p.id_number))
    except VendorError as exc:
        raise _vendor_failed("id_check", exc) from None
    v = _record_check(session, svc, customer, kind="id_card", passed=r.passed, score=None,
                      request_id=r.request_id, detail=r.verdict.value)
    session.commit()
    return v


def verify_four_elements(session: Session, svc: Services, *, customer: Customer,
                         card_number: str, phone: str) -> Verification:
    """Name + ID + bank card + reserved phone agree; only the card's last four are kept."""
    p = svc.store.profile(customer)
    try:
        r = svc.vendor("four_element").verify(FourElementRequest(
            name=p.name, id_number=p.id_number, card_number=card_number, phone=phone))
    except VendorRejected as exc:
        raise _unprocessable("card_number", f"rejected by the verifier: {exc}") from None
    except VendorError as exc:
        raise _vendor_failed("four_element", exc) from None
    v = _record_check(session, svc, customer, kind="four_element", passed=r.passed, score=None,
                      request_id=r.request_id,
                      detail=f"{r.verdict.value} card {mask_account(card_number)}")
    session.commit()
    return v


def check_liveness(session: Session, svc: Services, *, customer: Customer, selfie: bytes,
                   application_id: int | None = None) -> Verification:
    p = svc.store.profile(customer)
    try:
        r = svc.vendor("liveness").compare(
            LivenessRequest(name=p.name, id_number=p.id_number, selfie=selfie))
    except VendorError as exc:
        raise _vendor_failed("liveness", exc) from None
    return _record_check(session, svc, customer, kind="liveness", passed=r.passed,
                         score=r.score, request_id=r.request_id, detail=r.code,
                         application_id=application_id)


def authorize_credit_inquiry(session: Session, *, customer: Customer,
                             text_version: str) -> Verification:
    """The customer's consent to the credit inquiries (the PBOC requires one on file)."""
    v = Verification(customer_id=customer.id, kind="credit_authorization", passed=True,
                     score=None, vendor_request_id=None, detail=f"consent {text_version}")
    session.add(v)
    session.commit()
    return v


# ---- applications -------------------------------------------------------------------------
def create_application(session: Session, svc: Services, *, consultant: User,
                       data: dict[str, Any]) -> Application:
    customer = svc.store.find_customer(session, data.pop("id_number"))
    if customer is None:
        raise _unprocessable("id_number", "no registered customer has this ID number")
    _check_amounts(data)
    app = Application(
        ref=f"AP{_now():%y%m%d}{secrets.token_hex(4).upper()}", customer_id=customer.id,
        dealer_id=consultant.dealer_id, consultant_id=consultant.id, state=workflow.DRAFT,
        **data,
    )
    session.add(app)
    session.flush()
    session.add(workflow.StateTransition(application_id=app.id, from_state=None,
                                         to_state=workflow.DRAFT, actor_id=consultant.id,
                                         note="created"))
    session.commit()
    return app


def _check_amounts(data: dict[str, Any]) -> None:
    price, down, loan = data["vehicle_price"], data["down_payment"], data["loan_amount"]
    if down >= price:
        raise _unprocessable("down_payment", "must be less than the vehicle price")
    if loan > price - down:
        raise _unprocessable("loan_amount", "must not exceed the price net of the down payment")


def store_document(session: Session, svc: Services, *, application: Application, kind: str,
                   upload: storage.StoredFile, user: User) -> StoredDocument:
    """Keep a file on disk under its hash and (re)point the application's ``kind`` at it."""
    storage.save(svc.upload_dir, upload)
    doc = session.scalar(select(StoredDocument).where(
        StoredDocument.application_id == application.id, StoredDocument.kind == kind))
    if doc is None:
        doc = StoredDocument(application_id=application.id, kind=kind,
                             mailing_status="pending" if kind in CHECKLIST else "not_required")
        session.add(doc)
    doc.filename, doc.content_type = upload.filename, upload.content_type
    doc.size, doc.sha256, doc.uploaded_by, doc.uploaded_at = (
        upload.size, upload.sha256, user.id, _now())
    session.flush()
    return doc


def submit(session: Session, svc: Services, *, application: Application,
           actor: User) -> DecisionRecord:
    """Submit → decide at once (machines first) → SMS the customer."""
    workflow.check(application, "submit")
    auth = session.scalar(select(StoredDocument).where(
        StoredDocument.application_id == application.id,
        StoredDocument.kind == AUTHORIZATION_DOC))
    if auth is None:
        raise Conflict("upload the credit-inquiry authorisation document before submitting")
    application.submitted_at = _now()
    workflow.advance(session, application, "submit", actor.id)
    session.commit()  # the submission stands even if deciding fails below
    record = svc.decision_service().decide(
        session, application, authorization_ref=f"auth:{application.ref}:{auth.sha256[:12]}")
    workflow.advance(session, application, OUTCOME_ACTION[record.outcome], None,
                     note=f"decision {record.id}")
    session.commit()
    notify_decision(session, svc, application=application, record=record)
    return record


def notify_decision(session: Session, svc: Services, *, application: Application,
                    record: DecisionRecord) -> Notification:
    """SMS the customer that a result is ready (the outcome only; details are in the app)."""
    customer = session.get(Customer, application.customer_id)
    note = Notification(application_id=application.id, customer_id=customer.id,
                        template="DECISION_READY", status="skipped")
    if svc.vendors is not None:
        phone = svc.store.profile(customer).phone
        try:
            receipt = svc.vendors.sms.send(SmsMessage(
                phone=phone, template="DECISION_READY",
                params=(("ref", application.ref), ("outcome", record.outcome)),
                idempotency_key=f"sms:decision:{application.ref}:{record.id}"))
            note.status, note.vendor_message_id = "accepted", receipt.message_id
        except VendorError as exc:  # a lost SMS must not undo the decision
            note.status, note.error = "failed", type(exc).__name__
    session.add(note)
    session.commit()
    return note


def latest_decision(session: Session, application_id: int) -> DecisionRecord | None:
    return session.scalar(select(DecisionRecord).where(
        DecisionRecord.application_id == application_id).order_by(DecisionRecord.id.desc())
        .limit(1))


def available_offers(session: Session, application: Application) -> list[dict[str, Any]]:
    """The decision's offers, or the plan a reviewer set when approving a referral."""
    record = latest_decision(session, application.id)
    offers = list(record.offers) if record else []
    manual = session.scalar(select(Review.offer).where(
        Review.application_id == application.id, Review.kind == "credit",
        Review.decision == "approve", Review.offer.is_not(None)).order_by(Review.id.desc())
        .limit(1))
    return offers or ([manual] if manual else [])


def choose_plan(session: Session, *, application: Application, customer_user: User,
                product_id: str | None) -> PlanChoice:
    workflow.check(application, "choose_plan")
    offers = available_offers(session, application)
    if not offers:
        raise Conflict("this application has no plan to choose")
    if product_id is None:
        chosen = next((o for o in offers if o.get("recommended")), offers[0])
    else:
        chosen = next((o for o in offers if o.get("product_id") == product_id), None)
        if chosen is None:
            raise _unprocessable("product_id", "not one of this application's offers")
    workflow.advance(session, application, "choose_plan", customer_user.id,
                     note=str(chosen.get("product_id")))
    choice = PlanChoice(application_id=application.id, offer=chosen, chosen_by=customer_user.id)
    session.add(choice)
    session.commit()
    return choice


def reapply(session: Session, svc: Services, *, application: Application, actor: User,
            changes: dict[str, Any]) -> tuple[Application, DecisionRecord]:
    """A new application linked to this one (with the customer's changes) and its decision."""
    workflow.check(application, "reapply")
    fields = ("vehicle_brand", "vehicle_model", "vehicle_price", "lease_type", "down_payment",
              "loan_amount", "term_months")
    data = {f: changes.get(f, getattr(application, f)) for f in fields}
    _check_amounts(data)
    workflow.advance(session, application, "reapply", actor.id, note="re-applied")
    new = Application(ref=f"AP{_now():%y%m%d}{secrets.token_hex(4).upper()}",
                      customer_id=application.customer_id, dealer_id=application.dealer_id,
                      consultant_id=application.consultant_id, previous_id=application.id,
                      state=workflow.DRAFT, **data)
    session.add(new)
    session.flush()
    session.add(workflow.StateTransition(application_id=new.id, from_state=None,
                                         to_state=workflow.DRAFT, actor_id=actor.id,
                                         note=f"re-application of {application.ref}"))
    auth = session.scalar(select(StoredDocument).where(
        StoredDocument.application_id == application.id,
        StoredDocument.kind == AUTHORIZATION_DOC))
    if auth is not None:  # the signed authorisation covers the re-application
        session.add(StoredDocument(
            application_id=new.id, kind=AUTHORIZATION_DOC, filename=auth.filename,
            content_type=auth.content_type, size=auth.size, sha256=auth.sha256,
            mailing_status="not_required", uploaded_by=auth.uploaded_by))
    session.commit()
    return new, submit(session, svc, application=new, actor=actor)


# ---- contract -----------------------------------------------------------------------------
def contract_text(session: Session, svc: Services, application: Application,
                  plan: dict[str, Any], start: date) -> str:
    """The loan contract: parties (masked), vehicle, plan and the repayment schedule."""
    from servicing.schedule import build_schedule

    customer = session.get(Customer, application.customer_id)
    dealer = session.get(Dealer, application.dealer_id)
    principal = Decimal(str(plan.get("financed_amount") or application.loan_amount))
    schedule = build_schedule(plan.get("repayment_method", "equal_installment"), principal,
                              Decimal(str(plan["annual_rate"])), int(plan["term"]), start)
    name = svc.store.profile(customer).name
    lines = [
        "车贷通 汽车融资租赁合同 / Chedaitong car finance lease contract",
        f"Contract for application {application.ref}",
        "",
        "Parties",
        "  Lessor: Chedaitong Financial Leasing Co., Ltd.",
        f"  Lessee: {name[0]}{'*' * (len(name) - 1)}  ID {customer.id_number_masked}"
        f"  phone {customer.phone_masked or '-'}",
        f"  Dealer: {dealer.name} ({dealer.code}), {dealer.city}",
        "",
        "Vehicle",
        f"  {application.vehicle_brand} {application.vehicle_model}, price "
        f"CNY {application.vehicle_price}",
        f"  Lease type: {application.lease_type}; "
        f"{'deposit' if application.lease_type in ('direct', 'direct_lease') else 'down payment'} "
        f"CNY {application.down_payment}",
        "",
        "Plan",
        f"  Product {plan.get('product_id', 'manual')} {plan.get('name_en', '')}",
        f"  Financed CNY {schedule.principal}, annual rate {schedule.annual_rate}, "
        f"{schedule.term_months} months, {schedule.method.value}",
        f"  Total interest CNY {schedule.total_interest}, total repayable "
        f"CNY {schedule.total_amount}",
        "",
        "Repayment schedule (due dates assume disbursement on " f"{start.isoformat()})",
        "  no  due date    principal    interest      amount   remaining",
    ]
    lines += [f"  {i.number:>2}  {i.due_date}  {i.principal:>10}  {i.interest:>10}  "
              f"{i.amount:>10}  {i.remaining_principal:>10}" for i in schedule.installments]
    lines += ["", "Overdue amounts bear penalty interest as set out in the general terms.", ""]
    return "\n".join(lines)


def create_contract(session: Session, svc: Services, *, application: Application,
                    actor: User) -> LoanContract:
    workflow.check(application, "create_contract")
    plan = session.scalar(select(PlanChoice).where(PlanChoice.application_id == application.id))
    text = contract_text(session, svc, application, plan.offer, _now().date())
    document = text.encode()
    p = svc.store.profile(session.get(Customer, application.customer_id))
    try:
        c = svc.vendor("esign").create_contract(ContractRequest(
            application_id=application.ref, title=f"Loan contract {application.ref}",
            document=document, signers=(Signer(name=p.name, id_number=p.id_number,
                                               phone=p.phone),),
            idempotency_key=f"contract:{application.ref}"))
    except VendorError as exc:
        raise _vendor_failed("esign", exc) from None
    workflow.advance(session, application, "create_contract", actor.id, note=c.contract_id)
    contract = LoanContract(application_id=application.id, vendor_contract_id=c.contract_id,
                            document_text=text,
                            document_sha256=hashlib.sha256(document).hexdigest(),
                            status=c.status.value)
    session.add(contract)
    session.commit()
    return contract


def sign_contract(session: Session, svc: Services, *, application: Application,
                  customer_user: User, verification_code: str) -> LoanContract:
    workflow.check(application, "sign_contract")
    contract = session.scalar(select(LoanContract).where(
        LoanContract.application_id == application.id))
    p = svc.store.profile(session.get(Customer, application.customer_id))
    esign = svc.vendor("esign")
    try:
        signed = esign.sign(SignRequest(contract_id=contract.vendor_contract_id,
                                        signer_id_number=p.id_number,
                                        verification_code=verification_code))
        if signed.status.value == "signed":
            doc = esign.signed_document(contract.vendor_contract_id)
            contract.signed_sha256 = doc.sha256
            storage.save(svc.upload_dir, storage.StoredFile(doc.sha256, len(doc.content),
                                                            doc.media_type, "contract.txt",
                                                            doc.content))
    except VendorRejected as exc:
        raise _unprocessable("verification_code", f"rejected by e-signature: {exc}") from None
    except VendorError as exc:
        raise _vendor_failed("esign", exc) from None
    contract.status = signed.status.value
    if signed.status.value == "signed":
        contract.signed_at = signed.signed_at or _now()
        workflow.advance(session, application, "sign_contract", customer_user.id)
    session.commit()
    return contract


def application_liveness(session: Session, svc: Services, *, application: Application,
                         customer_user: User, selfie: bytes) -> Verification:
    """Liveness before disbursement; a pass queues the back-office disbursement review."""
    workflow.check(application, "pass_liveness")
    customer = session.get(Customer, application.customer_id)
    v = check_liveness(session, svc, customer=customer, selfie=selfie,
                       application_id=application.id)
    if v.passed:
        workflow.advance(session, application, "pass_liveness", customer_user.id)
        workflow.advance(session, application, "queue_disbursement", None)
    session.commit()
    return v


# ---- back office --------------------------------------------------------------------------
def review(session: Session, *, application: Application, reviewer: User, decision: str,
           notes: str, offer: dict[str, Any] | None = None) -> tuple[Review, Voucher | None]:
    """Approve or reject a referral or a disbursement. Approving a disbursement issues the
    voucher in the same transaction as the state step, so a racing second approval gets 409
    and no second voucher."""
    if application.state == workflow.REFERRED:
        kind, action = "credit", f"review_{decision}"
    elif application.state == workflow.DISBURSEMENT_REVIEW:
        kind, action = "disbursement", f"{decision}_disbursement"
    else:
        raise workflow.IllegalTransition(application, f"review ({decision})", application.state)
    manual = None
    if kind == "credit" and decision == "approve" and not available_offers(session, application):
        if offer is None:
            raise _unprocessable("offer", "the decision has no plan: set annual_rate to approve")
        manual = _manual_offer(application, offer)
    workflow.advance(session, application, action, reviewer.id, note=notes)
    row = Review(application_id=application.id, kind=kind, reviewer_id=reviewer.id,
                 decision=decision, notes=notes, offer=manual)
    session.add(row)
    voucher = None
    if kind == "disbursement" and decision == "approve":
        voucher = _issue_voucher(session, application, reviewer)
    session.commit()
    return row, voucher


def _manual_offer(application: Application, offer: dict[str, Any]) -> dict[str, Any]:
    return {"product_id": "MANUAL", "name_zh": "人工审批方案", "name_en": "Manual plan",
            "lease_type": application.lease_type,
            "term": int(offer.get("term_months") or application.term_months),
            "repayment_method": offer.get("repayment_method", "equal_installment"),
            "annual_rate": str(offer["annual_rate"]),
            "financed_amount": str(application.loan_amount), "recommended": True,
            "risk_grade": None, "version": "manual"}


def _issue_voucher(session: Session, application: Application, reviewer: User) -> Voucher:
    plan = session.scalar(select(PlanChoice).where(PlanChoice.application_id == application.id))
    amount = Decimal(str((plan.offer if plan else {}).get("financed_amount")
                         or application.loan_amount))
    number = f"DV{application.id:08d}{secrets.token_hex(2).upper()}"
    code = f"{secrets.randbelow(10**8):08d}"
    dealer = session.get(Dealer, application.dealer_id)
    issued = _now()
    text = "\n".join([
        "车贷通 放款凭证 / Chedaitong disbursement voucher",
        f"Voucher {number}  issued {issued:%Y-%m-%d %H:%M} UTC",
        f"Dealer {dealer.name} ({dealer.code})",
        f"Application {application.ref}: {application.vehicle_brand} "
        f"{application.vehicle_model}",
        f"Amount guaranteed: CNY {amount}",
        f"Verification code: {code}",
        "Chedaitong guarantees this amount as paid to the dealer; the car may be handed over.",
        "Check it: POST /vouchers/verify with the number and the verification code.",
    ])
    voucher = Voucher(application_id=application.id, number=number, verification_code=code,
                      dealer_id=application.dealer_id, amount=amount, issued_by=reviewer.id,
                      issued_at=issued, document_text=text)
    session.add(voucher)
    session.flush()
    return voucher


def verify_voucher(session: Session, *, number: str, code: str, user: User) -> Voucher | None:
    """The voucher when number and code match (and a consultant asks for their own dealer)."""
    voucher = session.scalar(select(Voucher).where(Voucher.number == number))
    if voucher is None or not hmac.compare_digest(voucher.verification_code, code):
        return None
    if user.role is Role.CONSULTANT and user.dealer_id != voucher.dealer_id:
        return None
    return voucher


# ---- pickup, documents, booking -----------------------------------------------------------
def confirm_pickup(session: Session, *, application: Application, actor: User) -> None:
    workflow.advance(session, application, "confirm_pickup", actor.id)
    session.commit()


def upload_checklist_document(session: Session, svc: Services, *, application: Application,
                              kind: str, upload: storage.StoredFile,
                              actor: User) -> StoredDocument:
    if application.state != workflow.PICKED_UP:
        raise workflow.IllegalTransition(application, "upload documents", application.state)
    doc = store_document(session, svc, application=application, kind=kind, upload=upload,
                         user=actor)
    session.commit()
    uploaded = set(session.scalars(select(StoredDocument.kind).where(
        StoredDocument.application_id == application.id)))
    if uploaded >= set(CHECKLIST):
        workflow.advance(session, application, "complete_documents", actor.id)
        session.commit()
        book(session, application=application, actor=actor)
    return doc


def set_mailing(session: Session, *, application: Application, kind: str, status: str,
                tracking_number: str | None) -> StoredDocument:
    doc = session.scalar(select(StoredDocument).where(
        StoredDocument.application_id == application.id, StoredDocument.kind == kind))
    if doc is None:
        raise NotFound(f"no {kind} document uploaded for this application")
    doc.mailing_status, doc.tracking_number = status, tracking_number
    session.commit()
    return doc


def book(session: Session, *, application: Application, actor: User) -> str | None:
    """Hand the loan to servicing; returns the loan ref, or None when servicing is not ready.

    The state stays `documents_complete` on failure, so back office can retry with
    POST /applications/<id>/book.
    """
    workflow.check(application, "book")
    try:
        from servicing.booking import book_loan
    except ImportError:
        log.warning("servicing.booking is not available; %s stays documents_complete",
                    application.ref)
        return None
    plan = session.scalar(select(PlanChoice).where(PlanChoice.application_id == application.id))
    voucher = session.scalar(select(Voucher).where(Voucher.application_id == application.id))
    loan_ref = f"LN{application.ref[2:]}"
    try:
        book_loan(session, application_id=application.id, plan=dict(plan.offer),
                  disbursed_on=voucher.issued_at.date(), loan_ref=loan_ref)
        workflow.advance(session, application, "book", actor.id, note=loan_ref)
        session.commit()
    except Exception:  # booking is retryable; never fail the upload that triggered it
        session.rollback()
        log.exception("booking %s failed", application.ref)
        return None
    return loan_ref


def masked_profile(svc: Services, customer: Customer) -> dict[str, Any]:
    p = svc.store.profile(customer)
    return {
        "id": customer.id, "name_masked": p.name[0] + "*" * (len(p.name) - 1),
        "id_number_masked": customer.id_number_masked, "phone_masked": customer.phone_masked,
        "home_city": p.home_city, "home_province": p.home_province,
    }

