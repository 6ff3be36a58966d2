"""Dealer onboarding: Chedaitong signs an agreement with a 4S store, which then files
applications through its consultants. Admin-only, every change audited.

A dealer may file while it is active (not suspended) and today lies within its agreement's
effective dates; `check_can_file` is what application creation asks. The payout account is
stored encrypted with a masked copy for display (only the bank file needs the clear number).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from chedaitong.clock import lender_today
from chedaitong.crypto import DataCipher, mask_account
from chedaitong.db import Dealer, Role, User
from chedaitong.db.partners import AuditEvent, DealerAgreement
from chedaitong.errors import Conflict, Invalid, NotFound
from decisioning.origination import accounts, tokens

ACTIVE, SUSPENDED = "active", "suspended"
AGREEMENT_FIELDS = ("agreement_ref", "effective_from", "bank_name", "account_name",
                    "account_number")


def audit(session: Session, actor: User | None, action: str, kind: str, target_id: int,
          **detail: Any) -> None:
    """Record an administrative change (flushed with the change it describes)."""
    session.add(AuditEvent(actor_id=actor.id if actor else None, action=action,
                           target_kind=kind, target_id=target_id,
                           detail={k: _plain(v) for k, v in detail.items()}))


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def _aad(dealer_id: int) -> bytes:
    return f"dealer_agreements:{dealer_id}".encode()


def agreement_of(session: Session, dealer_id: int) -> DealerAgreement | None:
    return session.scalar(select(DealerAgreement).where(DealerAgreement.dealer_id == dealer_id))


def payout_account(session: Session, cipher: DataCipher, dealer_id: int) -> str | None:
    """The clear account number, for the bank transfer file only."""
    agreement = agreement_of(session, dealer_id)
    if agreement is None:
        return None
    return cipher.decrypt(agreement.account_enc, aad=_aad(dealer_id)).decode()


def _check_dates(start: date, end: date | None) -> None:
    if end is not None and end < start:
        raise Invalid("effective_to", "must not be before effective_from")


def _add_agreement(session: Session, cipher: DataCipher, dealer: Dealer,
                   data: dict[str, Any]) -> None:
    session.add(DealerAgreement(
        dealer_id=dealer.id, agreement_ref=data["agreement_ref"],
        effective_from=data["effective_from"], effective_to=data.get("effective_to"),
        bank_name=data["bank_name"], account_name=data["account_name"],
        account_masked=mask_account(data["account_number"]),
        account_enc=cipher.encrypt(data["account_number"].encode(), aad=_aad(dealer.id))))
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise Conflict(f"agreement {data['agreement_ref']!r} is already registered") from None


def get(session: Session, dealer_id: int) -> Dealer:
    dealer = session.get(Dealer, dealer_id)
    if dealer is None:
        raise NotFound(f"no dealer {dealer_id}")
    return dealer


def onboard(*, session: Session, cipher: DataCipher, actor: User,
            data: dict[str, Any]) -> Dealer:
    """A new partner dealer with its signed agreement (active from the agreement's start)."""
    _check_dates(data["effective_from"], data.get("effective_to"))
    dealer = Dealer(code=data["code"], name=data["name"], city=data["city"],
                    province=data["province"], lat=data.get("lat"), lon=data.get("lon"),
                    active=True)
    session.add(dealer)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise Conflict(f"dealer code {data['code']!r} is taken") from None
    _add_agreement(session, cipher, dealer, data)
    audit(session, actor, "dealer.onboard", "dealer", dealer.id, code=dealer.code,
          agreement_ref=data["agreement_ref"], effective_from=data["effective_from"],
          effective_to=data.get("effective_to"))
    session.commit()
    return dealer


def update(*, session: Session, cipher: DataCipher, actor: User, dealer: Dealer,
           data: dict[str, Any]) -> Dealer:
    """Suspend / reactivate, extend or end the agreement, change the payout account."""
    agreement = agreement_of(session, dealer.id)
    changed: dict[str, Any] = {}
    if agreement is None and set(data) - {"status", "reason"}:
        # a dealer from before onboarding existed (a world import) signs its agreement now
        missing = [f for f in AGREEMENT_FIELDS if f not in data]
        if missing:
            raise Invalid(missing[0], "required to put this dealer's first agreement on file")
        _check_dates(data["effective_from"], data.get("effective_to"))
        _add_agreement(session, cipher, dealer, data)
        changed.update(agreement_ref=data["agreement_ref"],
                       effective_from=data["effective_from"],
                       effective_to=data.get("effective_to"))
    elif agreement is not None:
        if data.get("agreement_ref", agreement.agreement_ref) != agreement.agreement_ref:
            raise Invalid("agreement_ref", "a signed agreement keeps its reference; onboard "
                                           "a new dealer record for a new agreement")
        start = data.get("effective_from", agreement.effective_from)
        end = data.get("effective_to", agreement.effective_to)
        _check_dates(start, end)
        for name in ("effective_from", "effective_to", "bank_name", "account_name"):
            if name in data and data[name] != getattr(agreement, name):
                setattr(agreement, name, data[name])
                changed[name] = data[name]
        if "account_number" in data:
            agreement.account_masked = mask_account(data["account_number"])
            agreement.account_enc = cipher.encrypt(data["account_number"].encode(),
                                                   aad=_aad(dealer.id))
            changed["account"] = agreement.account_masked
    if "status" in data and (data["status"] == ACTIVE) != dealer.active:
        dealer.active = data["status"] == ACTIVE
        changed["status"] = data["status"]
    if changed:
        audit(session, actor, "dealer.update", "dealer", dealer.id, reason=data.get("reason", ""),
              **changed)
    session.commit()
    return dealer


def status_of(session: Session, dealer: Dealer, today: date | None = None,
              agreement: DealerAgreement | None | Any = ...) -> str:
    """active | suspended | not_yet_effective | expired | no_agreement (legacy dealers from a
    world import have no agreement row and keep filing while active). ``agreement``: the
    dealer's, when the caller has read it."""
    if not dealer.active:
        return SUSPENDED
    if agreement is ...:
        agreement = agreement_of(session, dealer.id)
    if agreement is None:
        return ACTIVE
    today = today or lender_today()
    if today < agreement.effective_from:
        return "not_yet_effective"
    if agreement.effective_to is not None and today > agreement.effective_to:
        return "expired"
    return ACTIVE


def check_can_file(session: Session, consultant: User) -> None:
    """Conflict unless the consultant's dealer may file applications today."""
    check_dealer_active(session, consultant.dealer_id)


def check_dealer_active(session: Session, dealer_id: int) -> None:
    """Conflict unless the dealer may file (and submit) applications today: a dealer
    suspended after a draft was made cannot have it decided either."""
    dealer, agreement = session.execute(  # one round trip: the dealer and its agreement
        select(Dealer, DealerAgreement)
        .outerjoin(DealerAgreement, DealerAgreement.dealer_id == Dealer.id)
        .where(Dealer.id == dealer_id)).one()
    status = status_of(session, dealer, agreement=agreement)
    if status != ACTIVE:
        raise Conflict(f"dealer {dealer.code} cannot file applications: {status}",
                       details={"dealer_status": status})


def view(session: Session, dealer: Dealer) -> dict[str, Any]:
    """The back office's view: agreement, masked account, status and consultants."""
    agreement = agreement_of(session, dealer.id)
    staff = session.scalars(select(User).where(User.dealer_id == dealer.id)
                            .order_by(User.id)).all()
    return {
        "id": dealer.id, "code": dealer.code, "name": dealer.name, "city": dealer.city,
        "province": dealer.province, "status": status_of(session, dealer),
        "suspended": not dealer.active,
        "agreement_ref": agreement.agreement_ref if agreement else None,
        "effective_from": agreement.effective_from if agreement else None,
        "effective_to": agreement.effective_to if agreement else None,
        "bank_name": agreement.bank_name if agreement else None,
        "account_name": agreement.account_name if agreement else None,
        "account_masked": agreement.account_masked if agreement else None,
        "consultants": [{"id": u.id, "username": u.username, "display_name": u.display_name,
                         "active": u.active} for u in staff],
    }


def listing(session: Session) -> list[Dealer]:
    return list(session.scalars(select(Dealer).order_by(Dealer.code)))


def invite_consultant(*, session: Session, actor: User, dealer: Dealer, username: str,
                      display_name: str) -> tuple[User, str]:
    """A consultant account of this dealer with its first token (given once)."""
    if not dealer.active:
        raise Conflict(f"dealer {dealer.code} is suspended; reactivate it before inviting")
    user, token = accounts.register_user(session=session, username=username,
                                         display_name=display_name, role=Role.CONSULTANT,
                                         dealer_id=dealer.id)
    audit(session, actor, "consultant.invite", "user", user.id, dealer=dealer.code,
          username=username)
    session.commit()
    return user, token


def set_consultant_active(*, session: Session, actor: User, user_id: int,
                          active: bool) -> User:
    """Deactivate (their tokens stop working at once) or reactivate a consultant."""
    user = session.get(User, user_id)
    if user is None or user.role is not Role.CONSULTANT:
        raise NotFound(f"no consultant {user_id}")
    if user.active != active:
        user.active = active
        if not active:
            tokens.note_revocation(session)
        audit(session, actor, "consultant." + ("reactivate" if active else "deactivate"),
              "user", user.id, dealer_id=user.dealer_id)
    session.commit()
    return user


def audit_trail(session: Session, kind: str | None = None, target_id: int | None = None,
                limit: int = 200) -> list[AuditEvent]:
    query = select(AuditEvent)
    if kind:
        query = query.where(AuditEvent.target_kind == kind)
    if target_id is not None:
        query = query.where(AuditEvent.target_id == target_id)
    return list(session.scalars(query.order_by(AuditEvent.id.desc()).limit(limit)))
