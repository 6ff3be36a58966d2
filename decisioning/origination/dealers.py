"""Dealer onboarding: Chedaitong signs an agreement with a 4S store, which then files
applications through its consultants. Admin-only, every change audited.

A dealer may file while it is active (not suspended) and today lies within its agreement's
effective dates; `check_can_file` is what application creation asks. The payout account is
stored encrypted with a masked copy for display (only the bank file needs the clear number).

Where the money goes needs four eyes: a payout account — a new dealer's first one, or any
change of bank, account name or number — is a *pending change* (`DealerAccountChange`) until
an admin other than its requester (`accounts.same_hands`) approves it. Until then payouts keep
going to the approved account: it is the one two people vouched for, and holding them would
let one admin stop a dealer's money by filing a change; a dealer with no approved account yet
is paid nothing (`approved_account` is what the bank file and the payment vendor read).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy import update as update_rows
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from chedaitong.clock import lender_today
from chedaitong.crypto import DataCipher, mask_account
from chedaitong.db import Dealer, Role, User
from chedaitong.db.partners import AuditEvent, DealerAccountChange, DealerAgreement
from chedaitong.errors import Conflict, Invalid, NotFound, NotPermitted
from decisioning.origination import accounts, tokens

ACTIVE, SUSPENDED = "active", "suspended"
ACCOUNT_FIELDS = ("bank_name", "account_name", "account_number")  # where the money goes
AGREEMENT_FIELDS = ("agreement_ref", "effective_from", *ACCOUNT_FIELDS)
PENDING, APPROVED, REJECTED = "pending", "approved", "rejected"
DECISIONS = {"approve": APPROVED, "reject": REJECTED}


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


def _change_aad(dealer_id: int) -> bytes:
    return f"dealer_account_changes:{dealer_id}".encode()


def agreement_of(session: Session, dealer_id: int) -> DealerAgreement | None:
    return session.scalar(select(DealerAgreement).where(DealerAgreement.dealer_id == dealer_id))


@dataclass(frozen=True)
class PayoutAccount:
    bank_name: str
    account_name: str
    account_number: str  # clear: for the bank file and the payment vendor only


def approved_account(session: Session, cipher: DataCipher,
                     dealer_id: int) -> PayoutAccount | None:
    """The account a second admin approved, the only one a payout may go to (None: no
    agreement, or its first account still awaits approval)."""
    agreement = agreement_of(session, dealer_id)
    if agreement is None or agreement.account_enc is None:
        return None
    return PayoutAccount(agreement.bank_name, agreement.account_name,
                         cipher.decrypt(agreement.account_enc, aad=_aad(dealer_id)).decode())


def pending_change(session: Session, dealer_id: int) -> DealerAccountChange | None:
    return session.scalar(select(DealerAccountChange).where(
        DealerAccountChange.dealer_id == dealer_id, DealerAccountChange.status == PENDING))


def _check_dates(start: date, end: date | None) -> None:
    if end is not None and end < start:
        raise Invalid("effective_to", "must not be before effective_from")


def _add_agreement(session: Session, cipher: DataCipher, actor: User, dealer: Dealer,
                   data: dict[str, Any]) -> None:
    """The agreement, without an account until a second admin approves the requested one."""
    session.add(DealerAgreement(
        dealer_id=dealer.id, agreement_ref=data["agreement_ref"],
        effective_from=data["effective_from"], effective_to=data.get("effective_to")))
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise Conflict(f"agreement {data['agreement_ref']!r} is already registered") from None
    _request_account(session, cipher, actor, dealer, data, kind="first")


def _request_account(session: Session, cipher: DataCipher, actor: User, dealer: Dealer,
                     account: dict[str, Any], kind: str, reason: str = "") -> None:
    """File the account as a pending change (flushed, audited); Conflict while another one
    waits — the checker approves the one they looked at, never one swapped in after."""
    code, waiting = dealer.code, pending_change(session, dealer.id)
    if waiting is not None:
        raise _change_waits(code, waiting.id)
    change = DealerAccountChange(
        dealer_id=dealer.id, kind=kind, bank_name=account["bank_name"],
        account_name=account["account_name"],
        account_masked=mask_account(account["account_number"]),
        account_enc=cipher.encrypt(account["account_number"].encode(),
                                   aad=_change_aad(dealer.id)),
        reason=reason, status=PENDING, requested_by=actor.id)
    session.add(change)
    try:
        session.flush()
    except IntegrityError:  # a concurrent request filed one first (the partial unique index)
        session.rollback()
        raise _change_waits(code, None) from None
    audit(session, actor, "dealer.account_requested", "dealer", dealer.id, change_id=change.id,
          change_kind=kind, bank_name=change.bank_name, account_name=change.account_name,
          account=change.account_masked, reason=reason)


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
    _add_agreement(session, cipher, actor, dealer, data)
    audit(session, actor, "dealer.onboard", "dealer", dealer.id, code=dealer.code,
          agreement_ref=data["agreement_ref"], effective_from=data["effective_from"],
          effective_to=data.get("effective_to"))
    session.commit()
    return dealer


def update(*, session: Session, cipher: DataCipher, actor: User, dealer: Dealer,
           data: dict[str, Any]) -> Dealer:
    """Suspend / reactivate, extend or end the agreement (applied at once), or request a
    payout account (bank, account name or number: a pending change for a second admin)."""
    agreement = agreement_of(session, dealer.id)
    changed: dict[str, Any] = {}
    if agreement is None and set(data) - {"status", "reason"}:
        # a dealer from before onboarding existed (a world import) signs its agreement now
        missing = [f for f in AGREEMENT_FIELDS if f not in data]
        if missing:
            raise Invalid(missing[0], "required to put this dealer's first agreement on file")
        _check_dates(data["effective_from"], data.get("effective_to"))
        _add_agreement(session, cipher, actor, dealer, data)
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
        for name in ("effective_from", "effective_to"):
            if name in data and data[name] != getattr(agreement, name):
                setattr(agreement, name, data[name])
                changed[name] = data[name]
        _request_account_change(session, cipher, actor, dealer, data)
    if "status" in data and (data["status"] == ACTIVE) != dealer.active:
        dealer.active = data["status"] == ACTIVE
        changed["status"] = data["status"]
    if changed:
        audit(session, actor, "dealer.update", "dealer", dealer.id, reason=data.get("reason", ""),
              **changed)
    session.commit()
    return dealer


def _request_account_change(session: Session, cipher: DataCipher, actor: User, dealer: Dealer,
                            data: dict[str, Any]) -> None:
    """A pending change when the account fields sent differ from the approved account (the
    fields not sent are kept); sending the approved account again requests nothing."""
    if not set(ACCOUNT_FIELDS) & set(data):
        return
    current = approved_account(session, cipher, dealer.id)
    wanted = {f: data.get(f, getattr(current, f, None)) for f in ACCOUNT_FIELDS}
    missing = [f for f, v in wanted.items() if v is None]
    if missing:  # no approved account to keep the other fields from
        raise Invalid(missing[0], "required: this dealer has no approved payout account yet")
    if current is not None and PayoutAccount(**wanted) == current:
        return
    _request_account(session, cipher, actor, dealer, wanted,
                     kind="change" if current is not None else "first",
                     reason=data.get("reason", ""))


def _change_waits(code: str, change_id: int | None) -> Conflict:
    return Conflict(f"dealer {code} already has a payout account change awaiting "
                    "approval: approve or reject it first",
                    details={"pending_change_id": change_id})


def decide_account_change(*, session: Session, cipher: DataCipher, actor: User,
                          dealer: Dealer, change_id: int, decision: str,
                          note: str = "") -> DealerAccountChange:
    """Approve (the account becomes the one payouts go to) or reject a pending payout account,
    committed. Only an admin who is not the requester's hands (`accounts.same_hands`) may
    approve; anyone of them may reject, the requester too (withdrawing it). Of two concurrent
    decisions one wins: the other gets Conflict, as does a change already decided."""
    change = session.get(DealerAccountChange, change_id)
    if change is None or change.dealer_id != dealer.id:
        raise NotFound(f"no payout account change {change_id} of dealer {dealer.code}")
    if change.status != PENDING:
        raise Conflict(f"payout account change {change_id} is already {change.status}",
                       details={"status": change.status})
    if actor.role is not Role.ADMIN:
        raise NotPermitted("only an admin decides a payout account")
    outcome = DECISIONS.get(decision)
    if outcome is None:
        raise Invalid("decision", "approve or reject")
    requester = session.get(User, change.requested_by)
    if outcome == APPROVED and accounts.same_hands(actor, requester):
        raise NotPermitted("four eyes: another admin must approve the payout account "
                           + ("you requested" if actor.id == requester.id else
                              f"{requester.username} requested (one of your accounts "
                              "created the other, or one admin created both)"))
    now = datetime.now(UTC)
    won = session.execute(update_rows(DealerAccountChange).where(
        DealerAccountChange.id == change.id, DealerAccountChange.status == PENDING)
        .values(status=outcome, decided_by=actor.id, decided_at=now,
                decision_note=note[:500]).execution_options(synchronize_session=False))
    if won.rowcount != 1:
        session.rollback()
        raise Conflict(f"payout account change {change_id} was decided meanwhile")
    if outcome == APPROVED:
        agreement = agreement_of(session, dealer.id)
        number = cipher.decrypt(change.account_enc, aad=_change_aad(dealer.id))
        agreement.bank_name, agreement.account_name = change.bank_name, change.account_name
        agreement.account_masked = change.account_masked
        agreement.account_enc = cipher.encrypt(number, aad=_aad(dealer.id))
    audit(session, actor, f"dealer.account_{outcome}", "dealer", dealer.id,
          change_id=change.id, change_kind=change.kind, account=change.account_masked,
          requested_by=change.requested_by, note=note[:500])
    session.commit()
    session.refresh(change)
    return change


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
    change = pending_change(session, dealer.id)
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
        "pending_account_change": change_view(session, change) if change else None,
        "consultants": [{"id": u.id, "username": u.username, "display_name": u.display_name,
                         "active": u.active} for u in staff],
    }


def change_view(session: Session, change: DealerAccountChange) -> dict[str, Any]:
    """A requested payout account as staff see it: masked, never the clear number."""
    requester = session.get(User, change.requested_by)
    return {"id": change.id, "dealer_id": change.dealer_id, "kind": change.kind,
            "status": change.status,
            "bank_name": change.bank_name, "account_name": change.account_name,
            "account_masked": change.account_masked, "reason": change.reason,
            "requested_by": change.requested_by,
            "requested_by_username": requester.username if requester else None,
            "requested_at": change.requested_at, "decided_by": change.decided_by,
            "decided_at": change.decided_at}


def account_changes(session: Session, status: str | None = PENDING,
                    limit: int = 200) -> list[DealerAccountChange]:
    """Requested payout accounts, oldest first (the checker's worklist when pending)."""
    query = select(DealerAccountChange)
    if status:
        query = query.where(DealerAccountChange.status == status)
    return list(session.scalars(query.order_by(DealerAccountChange.id).limit(limit)))


def listing(session: Session) -> list[Dealer]:
    return list(session.scalars(select(Dealer).order_by(Dealer.code)))


def invite_consultant(*, session: Session, actor: User, dealer: Dealer, username: str,
                      display_name: str) -> tuple[User, str]:
    """A consultant account of this dealer with its first token (given once)."""
    if not dealer.active:
        raise Conflict(f"dealer {dealer.code} is suspended; reactivate it before inviting")
    user, token = accounts.register_user(session=session, username=username,
                                         display_name=display_name, role=Role.CONSULTANT,
                                         dealer_id=dealer.id, created_by=actor.id)
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
