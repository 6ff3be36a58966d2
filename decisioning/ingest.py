"""What partners' servers push to us: a payment channel's repayment notifications and a vehicle
tracker vendor's batched positions.

Repayments are idempotent by the channel's reference: (channel, reference) is the repayment's
unique key in servicing, so a notification delivered twice posts once. Each notification stands
alone (one unknown loan does not hold back the others). Positions are validated like the app's
device uploads — all or nothing, every bad record named by index and field — then stored
encrypted per customer and reduced to facts for the nightly inspection.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from chedaitong.db import Customer, User
from chedaitong.db.servicing import Loan
from chedaitong.errors import Invalid
from featurestore.store import FeatureStore
from featurestore.uploads import UploadRejected, validate_upload
from servicing.booking import ServicingError, post_repayment


def channel_source(user: User) -> str:
    """The repayment source of a channel account: its references are unique within it."""
    return f"channel:{user.username}"[:32]


def post_repayments(*, session: Session, channel: User,
                    notifications: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Post each notification (loan_ref, amount, paid_on, reference); one result per item:
    posted | already_posted | rejected (with the reason)."""
    source = channel_source(channel)
    results = []
    for n in notifications:
        out: dict[str, Any] = {"reference": n["reference"], "loan_ref": n["loan_ref"]}
        loan_id = session.scalar(select(Loan.id).where(Loan.ref == n["loan_ref"]))
        if loan_id is None:
            results.append({**out, "status": "rejected", "reason": "unknown loan"})
            continue
        try:
            repayment, created = post_repayment(session, loan_id, Decimal(n["amount"]),
                                                n["paid_on"], source, n["reference"])
            session.commit()
        except (ServicingError, ValueError) as exc:
            session.rollback()
            results.append({**out, "status": "rejected", "reason": str(exc)[:200]})
            continue
        results.append({**out, "status": "posted" if created else "already_posted",
                        "repayment_id": repayment.id, "amount": repayment.amount,
                        "unapplied": repayment.unapplied})
    return results


def vehicle_positions(*, session: Session, store: FeatureStore,
                      positions: list[dict[str, Any]]) -> dict[str, Any]:
    """Validate the whole batch (Invalid naming each bad record), then store per loan."""
    if not isinstance(positions, list) or not positions:
        raise Invalid("positions", "must be a non-empty list")
    errors: dict[int, dict[str, list[str]]] = {}
    refs = [p.get("loan_ref") if isinstance(p, dict) else None for p in positions]
    records = [{k: v for k, v in p.items() if k != "loan_ref"} if isinstance(p, dict) else p
               for p in positions]
    try:
        validate_upload("vehicle_gps", records)
    except UploadRejected as exc:
        errors.update({int(k) if str(k).isdigit() else k: v for k, v in exc.errors.items()}
                      or {0: {"_": [str(exc)]}})
    loans = dict(session.execute(select(Loan.ref, Loan.customer_id).where(
        Loan.ref.in_({r for r in refs if isinstance(r, str)}))).all())
    for i, ref in enumerate(refs):
        if ref not in loans:
            errors.setdefault(i, {})["loan_ref"] = ["no such loan"]
    if errors:
        raise Invalid("positions", {str(k): v for k, v in sorted(errors.items(), key=str)},
                      message=f"{len(errors)} bad position(s); nothing was stored")
    by_customer: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for ref, rec in zip(refs, records, strict=True):
        by_customer[loans[ref]].append(rec)
    stored = duplicates = 0
    for customer_id, recs in by_customer.items():
        result = store.ingest_device(session, session.get(Customer, customer_id), "vehicle_gps",
                                     recs)
        stored, duplicates = stored + result.stored, duplicates + result.duplicates
    session.commit()
    return {"stored": stored, "duplicates": duplicates, "loans": len(by_customer)}
