"""Identity checks with the vendors: the ID card is genuine (the person exists), the bank card's
four elements agree, the applicant is that person (liveness). Each result is kept as a
`Verification` and given to the feature store as an identity fact; a vendor failure is
VendorFailed (nothing recorded), a refused request Invalid naming the field.

An ID number typed into a profile is only a *pending* claim: it becomes the customer's
(`identity_status` verified) once the ID-card check and a liveness check both passed. Then
any other pending claim on the same number is displaced (audited in `identity_events`); a
number already verified by someone else is refused. Applications link to customers only
through a verified identity (`require_verified`).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from chedaitong.crypto import mask_account
from chedaitong.db import Customer, User, claims
from chedaitong.db.origination import IdentityEvent, Verification
from chedaitong.errors import Conflict, Invalid, VendorFailed
from decisioning.container import Services
from vendors.errors import VendorError, VendorRejected
from vendors.interfaces import (
    FourElementRequest,
    IdCheckRequest,
    LivenessRequest,
    LivenessResult,
)

log = logging.getLogger(__name__)


def vendor_failed(name: str, exc: VendorError) -> VendorFailed:
    log.warning("vendor %s failed: %s", name, type(exc).__name__)
    return VendorFailed(name, type(exc).__name__)


def _record(session: Session, services: Services, customer: Customer, *, kind: str,
            passed: bool, score: float | None, request_id: str | None, detail: str,
            application_id: int | None = None) -> Verification:
    now = datetime.now(UTC)
    services.store.ingest_identity(session, customer, kind, passed, score, now)
    v = Verification(customer_id=customer.id, application_id=application_id, kind=kind,
                     passed=passed, score=score, vendor_request_id=request_id,
                     detail=detail[:200], at=now)
    session.add(v)
    session.flush()
    return v


def claim_check(session: Session, kind: str, customer: Customer, call, *, digest: str):
    """One vendor call per check and customer at a time (`chedaitong.db.claims`): a double
    tap's second request is refused before the vendor is asked (each check is charged)."""
    return claims.once(session, f"{kind}:customer:{customer.id}", call, digest=digest,
                       busy=f"another {kind} check of yours is in progress; ask again once "
                            "it is answered",
                       details={"check": kind})


def verify_id_card(*, session: Session, services: Services,
                   customer: Customer) -> Verification:
    """The ID card is genuine (the person exists), checked with the ID-check vendor."""
    p = services.store.profile(customer)

    def ask(key: str):
        try:
            return services.vendor("id_check").verify(IdCheckRequest(
                name=p.name, id_number=p.id_number, idempotency_key=key))
        except VendorError as exc:
            raise vendor_failed("id_check", exc) from None

    claimed, r = claim_check(session, "id_card", customer, ask,
                       digest=claims.fingerprint(p.name, p.id_number))
    claims.finish(session, claimed)
    v = _record(session, services, customer, kind="id_card", passed=r.passed, score=None,
                request_id=r.request_id, detail=r.verdict.value)
    session.commit()
    bind_if_confirmed(session=session, customer=customer)
    return v


def verify_four_elements(*, session: Session, services: Services, customer: Customer,
                         card_number: str, phone: str) -> Verification:
    """Name + ID + bank card + reserved phone agree; only the card's last four are kept."""
    p = services.store.profile(customer)

    def ask(key: str):
        try:
            return services.vendor("four_element").verify(FourElementRequest(
                name=p.name, id_number=p.id_number, card_number=card_number, phone=phone,
                idempotency_key=key))
        except VendorRejected as exc:
            raise Invalid("card_number", f"rejected by the verifier: {exc}") from None
        except VendorError as exc:
            raise vendor_failed("four_element", exc) from None

    claimed, r = claim_check(session, "four_element", customer, ask,
                       digest=claims.fingerprint(p.name, p.id_number, card_number, phone))
    claims.finish(session, claimed)
    v = _record(session, services, customer, kind="four_element", passed=r.passed,
                score=None, request_id=r.request_id,
                detail=f"{r.verdict.value} card {mask_account(card_number)}")
    session.commit()
    return v


def ask_liveness(services: Services, customer: Customer, selfie: bytes,
                 idempotency_key: str) -> LivenessResult:
    """Liveness / face comparison against the ID photo: the vendor call alone (VendorFailed)."""
    p = services.store.profile(customer)
    try:
        return services.vendor("liveness").compare(LivenessRequest(
            name=p.name, id_number=p.id_number, selfie=selfie,
            idempotency_key=idempotency_key))
    except VendorError as exc:
        raise vendor_failed("liveness", exc) from None


def record_liveness(session: Session, services: Services, customer: Customer,
                    r: LivenessResult, application_id: int | None = None) -> Verification:
    """The liveness answer as the customer's check (flushed; the caller commits)."""
    return _record(session, services, customer, kind="liveness", passed=r.passed,
                   score=r.score, request_id=r.request_id, detail=r.code,
                   application_id=application_id)


def registration_liveness(*, session: Session, services: Services, customer: Customer,
                          selfie: bytes) -> Verification:
    """Liveness at registration (the applicant is that person), committed."""
    claimed, r = claim_check(session, "liveness", customer,
                       lambda key: ask_liveness(services, customer, selfie, key),
                       digest=claims.fingerprint(selfie))
    claims.finish(session, claimed)
    v = record_liveness(session, services, customer, r)
    session.commit()
    bind_if_confirmed(session=session, customer=customer)
    return v


# ---- binding the ID number to the customer -----------------------------------------------
PENDING, VERIFIED, DISPLACED = "pending", "verified", "displaced"


def _latest_passed(session: Session, customer_id: int, kind: str) -> bool:
    passed = session.scalar(select(Verification.passed).where(
        Verification.customer_id == customer_id, Verification.kind == kind)
        .order_by(Verification.id.desc()).limit(1))
    return bool(passed)


def _event(session: Session, customer_id: int, event: str, by: int | None = None,
           note: str = "") -> None:
    session.add(IdentityEvent(customer_id=customer_id, event=event, by_customer_id=by,
                              note=note[:200]))


def record_claim(*, session: Session, customer: Customer) -> None:
    """A profile's ID number starts as a pending claim (flushed, audited)."""
    customer.identity_status = PENDING
    _event(session, customer.id, "claimed", note="profile completed; pending ID check "
           "and liveness")
    session.flush()


def bind_if_confirmed(*, session: Session, customer: Customer) -> bool:
    """Make a pending claim verified once the ID card *and* liveness passed, displacing other
    pending claims on the number; committed. Conflict when someone else verified it first."""
    if customer.identity_status != PENDING:
        if customer.identity_status == DISPLACED:
            raise Conflict("this ID number has been verified by its owner on another account")
        return customer.identity_status == VERIFIED
    if not (_latest_passed(session, customer.id, "id_card")
            and _latest_passed(session, customer.id, "liveness")):
        return False
    # one binder of a number at a time: lock every claim on it, in id order (no deadlock),
    # and decide on what the lock shows (a racer may have verified or displaced us meanwhile)
    claims = list(session.scalars(
        select(Customer).where(Customer.id_number_index == customer.id_number_index)
        .order_by(Customer.id).with_for_update()
        .execution_options(populate_existing=True)))
    if customer.identity_status == DISPLACED:
        session.rollback()
        raise Conflict("this ID number has been verified by its owner on another account")
    owner = next((c.id for c in claims
                  if c.identity_status == VERIFIED and c.id != customer.id), None)
    if owner is not None:
        _event(session, customer.id, "refused", by=owner,
               note="the ID number is already verified by another customer")
        session.commit()
        raise Conflict("this ID number is already verified by another account")
    squatters = [c.id for c in claims if c.identity_status == PENDING and c.id != customer.id]
    if squatters:
        session.execute(update(Customer).where(Customer.id.in_(squatters),
                                               Customer.identity_status == PENDING)
                        .values(identity_status=DISPLACED)
                        .execution_options(synchronize_session=False))
        for other in squatters:
            _event(session, other, "displaced", by=customer.id,
                   note="pending claim displaced by the verified owner")
    customer.identity_status = VERIFIED
    _event(session, customer.id, "verified", note="ID card and liveness passed")
    try:
        session.commit()  # the partial unique index lets only one verified owner win a race
    except IntegrityError:
        session.rollback()
        raise Conflict("this ID number is already verified by another account") from None
    return True


def require_verified(*, session: Session, user: User) -> Customer:
    """The signed-in user's customer with a verified identity (Conflict otherwise)."""
    customer = session.scalar(select(Customer).where(Customer.user_id == user.id))
    if customer is None:
        raise Conflict("complete your personal information first (PUT /customers/me/profile)")
    if customer.identity_status != VERIFIED:
        raise Conflict("confirm your identity first: the ID-card check and liveness must "
                       "both pass (POST /customers/me/id-check, /customers/me/liveness)",
                       details={"identity_status": customer.identity_status})
    return customer
