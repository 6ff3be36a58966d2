"""Identity checks with the vendors: the ID card is genuine (the person exists), the bank card's
four elements agree, the applicant is that person (liveness). Each result is kept as a
`Verification` and given to the feature store as an identity fact; a vendor failure is
VendorFailed (nothing recorded), a refused request Invalid naming the field."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from chedaitong.crypto import mask_account
from chedaitong.db import Customer
from chedaitong.db.origination import Verification
from chedaitong.errors import Invalid, VendorFailed
from decisioning.container import Services
from vendors.errors import VendorError, VendorRejected
from vendors.interfaces import FourElementRequest, IdCheckRequest, LivenessRequest

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


def verify_id_card(*, session: Session, services: Services,
                   customer: Customer) -> Verification:
    """The ID card is genuine (the person exists), checked with the ID-check vendor."""
    p = services.store.profile(customer)
    try:
        r = services.vendor("id_check").verify(IdCheckRequest(name=p.name,
                                                              id_number=p.id_number))
    except VendorError as exc:
        raise vendor_failed("id_check", exc) from None
    v = _record(session, services, customer, kind="id_card", passed=r.passed, score=None,
                request_id=r.request_id, detail=r.verdict.value)
    session.commit()
    return v


def verify_four_elements(*, session: Session, services: Services, customer: Customer,
                         card_number: str, phone: str) -> Verification:
    """Name + ID + bank card + reserved phone agree; only the card's last four are kept."""
    p = services.store.profile(customer)
    try:
        r = services.vendor("four_element").verify(FourElementRequest(
            name=p.name, id_number=p.id_number, card_number=card_number, phone=phone))
    except VendorRejected as exc:
        raise Invalid("card_number", f"rejected by the verifier: {exc}") from None
    except VendorError as exc:
        raise vendor_failed("four_element", exc) from None
    v = _record(session, services, customer, kind="four_element", passed=r.passed,
                score=None, request_id=r.request_id,
                detail=f"{r.verdict.value} card {mask_account(card_number)}")
    session.commit()
    return v


def check_liveness(*, session: Session, services: Services, customer: Customer,
                   selfie: bytes, application_id: int | None = None) -> Verification:
    """Liveness / face comparison against the ID photo (flushed; the caller commits)."""
    p = services.store.profile(customer)
    try:
        r = services.vendor("liveness").compare(
            LivenessRequest(name=p.name, id_number=p.id_number, selfie=selfie))
    except VendorError as exc:
        raise vendor_failed("liveness", exc) from None
    return _record(session, services, customer, kind="liveness", passed=r.passed,
                   score=r.score, request_id=r.request_id, detail=r.code,
                   application_id=application_id)


def registration_liveness(*, session: Session, services: Services, customer: Customer,
                          selfie: bytes) -> Verification:
    """Liveness at registration (the applicant is that person), committed."""
    v = check_liveness(session=session, services=services, customer=customer, selfie=selfie)
    session.commit()
    return v
