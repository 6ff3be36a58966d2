"""Updating personal information after first use: emergency contacts, income, phone, home.

The decision reads the profile when it decides, so an update is allowed while nothing is being
decided on it: before any application is submitted, after a decision (to complete the file and
re-apply), and after the loan is booked — not from submission until booking. Emergency contacts
(relation, name, phone) are PII and live inside the encrypted profile; the app's flagged
address-book upload stays a device source only the models read. Every change keeps a history
row: the field names in the clear, the previous values encrypted.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from chedaitong.crypto import mask_phone
from chedaitong.db import Application, Customer, User
from chedaitong.db.locks import hold_row
from chedaitong.db.partners import ProfileChange
from chedaitong.errors import Conflict
from decisioning.origination import state_machine as sm
from featurestore.store import FeatureStore

UPDATABLE = ("phone", "home_lat", "home_lon", "home_city", "home_province", "monthly_income")
CONTACTS = "emergency_contacts"
#: the states in which nothing is being decided or carried out on the current profile: not
#: yet submitted, decided (the customer may complete the file and re-apply), or over. Any
#: other state — submitted, deciding, a chosen plan on its way to booking — locks the profile.
OPEN_STATES = (sm.DRAFT, sm.APPROVED, sm.DECLINED, sm.REFERRED, sm.SUPERSEDED, sm.REJECTED,
               sm.BOOKED)


def _aad(customer_id: int) -> bytes:
    return f"profile_changes:{customer_id}".encode()


def check_can_update(session: Session, customer: Customer) -> None:
    busy = session.scalar(select(Application).where(
        Application.customer_id == customer.id, Application.state.not_in(OPEN_STATES))
        .limit(1))
    if busy is not None:
        raise Conflict(
            f"application {busy.ref} is {busy.state}: personal information can change again "
            "once it is decided (to re-apply) or booked",
            details={"application_id": busy.id, "current_state": busy.state})


def update(*, session: Session, store: FeatureStore, customer: Customer, actor: User,
           changes: dict[str, Any]) -> list[str]:
    """Apply ``changes`` (a subset of `UPDATABLE` and `CONTACTS`); returns the fields that
    changed (none: no history row). The customer's row is held first (`hold_row`), through
    the check and the write: the profile is one encrypted value rewritten whole, so two
    updates at once would each drop the other's, and a submission (which holds the same row)
    cannot slip between the check and the write to be decided on the profile replaced here."""
    hold_row(session, Customer, customer.id)
    session.refresh(customer)  # what committed before the hold
    check_can_update(session, customer)
    current = store.profile(customer)
    values = {name: changes[name] for name in UPDATABLE if name in changes}
    extra = dict(current.extra)
    if CONTACTS in changes:
        extra[CONTACTS] = [dict(c) for c in changes[CONTACTS]]
    changed = [n for n, v in values.items() if getattr(current, n) != v]
    if extra.get(CONTACTS) != current.extra.get(CONTACTS):
        changed.append(CONTACTS)
    if not changed:
        return []
    previous = {n: (current.extra.get(n) if n == CONTACTS else getattr(current, n))
                for n in changed}
    store.replace_profile(customer, dataclasses.replace(current, **values, extra=extra))
    session.add(ProfileChange(
        customer_id=customer.id, actor_id=actor.id, fields=changed,
        previous_enc=store.cipher.encrypt(json.dumps(previous, default=str).encode(),
                                          aad=_aad(customer.id))))
    session.commit()
    return changed


def contacts_masked(store: FeatureStore, customer: Customer) -> list[dict[str, str]]:
    """Emergency contacts as anyone but the customer sees them: relation and masked phone."""
    return [{"relation": c["relation"], "name_masked": c["name"][:1] + "*" * (len(c["name"]) - 1),
             "phone_masked": mask_phone(c["phone"])}
            for c in store.profile(customer).extra.get(CONTACTS) or []]


def history(session: Session, customer: Customer) -> list[ProfileChange]:
    return list(session.scalars(select(ProfileChange).where(
        ProfileChange.customer_id == customer.id).order_by(ProfileChange.id)))
