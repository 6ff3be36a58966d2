"""The customer's own data: first-use personal information (encrypted), the masked view staff
and apps see, and device uploads reduced to facts by the feature store."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chedaitong.db import Customer, RawEvent, User
from chedaitong.db.origination import Verification
from chedaitong.errors import Conflict, Invalid, NotFound
from decisioning.origination import identity
from featurestore.store import CustomerProfile, FeatureStore
from featurestore.uploads import UploadRejected

#: what the user app uploads from the device
DEVICE_SOURCES = ("gps", "sms", "photo", "contact", "app")


def customer_of(*, session: Session, user: User) -> Customer:
    """The signed-in user's customer record (Conflict until the profile is complete)."""
    customer = session.scalar(select(Customer).where(Customer.user_id == user.id))
    if customer is None:
        raise Conflict("complete your personal information first (PUT /customers/me/profile)")
    return customer


def get(*, session: Session, customer_id: int) -> Customer:
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"no customer {customer_id}")
    return customer


def complete_profile(*, session: Session, store: FeatureStore, user: User,
                     data: dict[str, Any]) -> Customer:
    """First-use personal information → an encrypted customer record (once per user)."""
    if session.scalar(select(Customer.id).where(Customer.user_id == user.id)) is not None:
        raise Conflict("personal information is already complete")
    if store.find_customer(session, data["id_number"]) is not None:  # verified owners only
        raise Conflict("this ID number is already verified by another account")
    profile = CustomerProfile(
        name=data["name"], id_number=data["id_number"], phone=data["phone"],
        birth_date=data["birth_date"], home_lat=data["home_lat"], home_lon=data["home_lon"],
        home_city=data.get("home_city", ""), home_province=data.get("home_province", ""),
        monthly_income=data.get("monthly_income"), device_id=data.get("device_id"),
    )
    customer = store.register_customer(session, f"APP-{uuid.uuid4().hex[:16]}", profile,
                                       datetime.now(UTC), user_id=user.id)
    identity.record_claim(session=session, customer=customer)
    session.commit()
    return customer


def masked_name(name: str) -> str:
    return name[0] + "*" * (len(name) - 1)


def masked_profile(*, store: FeatureStore, customer: Customer) -> dict[str, Any]:
    """What anyone but the models may see of a customer: masked identifiers and home area."""
    p = store.profile(customer)
    return {
        "id": customer.id, "name_masked": masked_name(p.name),
        "id_number_masked": customer.id_number_masked, "phone_masked": customer.phone_masked,
        "home_city": p.home_city, "home_province": p.home_province,
    }


def summary(*, session: Session, store: FeatureStore, customer: Customer) -> dict[str, Any]:
    """Masked profile, the latest result of each check and upload counts per source — never
    raw device data."""
    checks = {}
    for v in session.scalars(select(Verification).where(
            Verification.customer_id == customer.id).order_by(Verification.id)):
        checks[v.kind] = v.passed
    uploads = dict(session.execute(select(RawEvent.source, func.count()).where(
        RawEvent.customer_id == customer.id).group_by(RawEvent.source)).all())
    return {**masked_profile(store=store, customer=customer), "checks": checks,
            "uploads": uploads}


def check_source(source: str) -> None:
    if source not in DEVICE_SOURCES:
        raise NotFound(f"unknown source {source!r}; one of {', '.join(DEVICE_SOURCES)}")


def upload_device_data(*, session: Session, store: FeatureStore, customer: Customer,
                       source: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    """Validate, encrypt and reduce one batch of app-collected records, all or nothing: a bad
    record rejects the batch (Invalid naming each record's index, field and reason)."""
    if source not in DEVICE_SOURCES:
        raise NotFound(f"unknown source {source!r}; one of {', '.join(DEVICE_SOURCES)}")
    try:
        result = store.ingest_device(session, customer, source, records)
    except UploadRejected as exc:
        session.rollback()
        raise Invalid("records", exc.errors, message=str(exc)) from None
    session.commit()
    return {"source": source, "stored": result.stored, "duplicates": result.duplicates}
