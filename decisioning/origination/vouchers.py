"""Disbursement vouchers: Chedaitong's guarantee to the dealer that the loan counts as paid, so
the car can be handed over before the bank transfer lands. Issued with the disbursement
approval; checked by number and an 8-digit code."""

from __future__ import annotations

import hmac
import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from chedaitong.db import Application, Dealer, Role, User
from chedaitong.db.origination import Voucher
from decisioning.origination import applications, documents, payouts


def issue(*, session: Session, application: Application, reviewer: User) -> Voucher:
    """A new voucher for the chosen plan's financed amount and the dealer's payout
    instruction for it (both flushed: they commit with the approval that issues them, so the
    one-voucher guarantee is also the one-payout guarantee)."""
    plan = applications.plan_of(session=session, application=application)
    amount = applications.financed_amount(application, plan)
    number = f"DV{application.id:08d}{secrets.token_hex(2).upper()}"
    code = f"{secrets.randbelow(10**8):08d}"
    dealer = session.get(Dealer, application.dealer_id)
    issued = datetime.now(UTC)
    text = documents.voucher_text(application=application, dealer=dealer, number=number,
                                  code=code, amount=amount, issued=issued)
    voucher = Voucher(application_id=application.id, number=number, verification_code=code,
                      dealer_id=application.dealer_id, amount=amount, issued_by=reviewer.id,
                      issued_at=issued, document_text=text)
    session.add(voucher)
    session.flush()
    payouts.instruct(session=session, application=application, voucher=voucher)
    return voucher


def find(*, session: Session, number: str) -> Voucher | None:
    return session.scalar(select(Voucher).where(Voucher.number == number))


def verify(*, session: Session, number: str, code: str, user: User) -> Voucher | None:
    """The voucher when number and code match (and a consultant asks for their own dealer)."""
    voucher = find(session=session, number=number)
    # as bytes: compare_digest refuses str with non-ASCII characters (a typed "１２…")
    if voucher is None or not hmac.compare_digest(voucher.verification_code.encode(),
                                                  code.encode()):
        return None
    if user.role is Role.CONSULTANT and user.dealer_id != voucher.dealer_id:
        return None
    return voucher


def check_view(*, session: Session, voucher: Voucher | None) -> dict[str, Any]:
    """What a dealer's check answers: valid or not, and for a valid one what it guarantees."""
    if voucher is None:
        return {"valid": False}
    app = session.get(Application, voucher.application_id)
    dealer = session.get(Dealer, voucher.dealer_id)
    return {"valid": True, "application_ref": app.ref, "amount": voucher.amount,
            "dealer_code": dealer.code, "issued_at": voucher.issued_at}


def lookup_view(*, session: Session, voucher: Voucher) -> dict[str, Any]:
    """The back office's view of a voucher (never its code)."""
    app = session.get(Application, voucher.application_id)
    dealer = session.get(Dealer, voucher.dealer_id)
    issuer = session.get(User, voucher.issued_by)
    payout = payouts.of_application(session, app.id)
    return {"number": voucher.number, "amount": voucher.amount,
            "payout_status": payout.status if payout else None,
            "payout_ref": payout.ref if payout else None,
            "issued_at": voucher.issued_at, "application_ref": app.ref,
            "application_id": app.id, "state": app.state,
            "dealer": f"{dealer.name} ({dealer.code})",
            "issued_by": issuer.display_name if issuer else voucher.issued_by}
