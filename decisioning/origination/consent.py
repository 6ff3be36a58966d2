"""Credit-inquiry consent: granted by the customer, per application, before any bureau pull.

PRC credit-reporting rules need the data subject's written consent for each inquiry. So the
consent is a record the customer creates with their own token (never the consultant), bound
to one application: purpose, bureaus, when, until when, the text version agreed to and the
SHA-256 of the document they signed (that text, rendered for this application). Granting it
is also what links an application to a customer — only through a verified identity
(`identity.require_verified`). The consultant's upload is the paper copy, kept as evidence.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from chedaitong.db import Application, Customer, User
from chedaitong.db.base import as_utc
from chedaitong.db.origination import POST_LOAN_MONITORING, CreditConsent
from chedaitong.errors import Conflict, Invalid, NotFound
from decisioning.origination import access, identity, state_machine
from decisioning.service import ConsentGrant

BUREAU_PBOC, BUREAU_THIRDPARTY = "pboc", "thirdparty"
BUREAUS = (BUREAU_PBOC, BUREAU_THIRDPARTY)
LOAN_APPLICATION = "loan_application"  # the purpose a submission and its decision need
PURPOSES = (LOAN_APPLICATION, POST_LOAN_MONITORING)
VALIDITY = timedelta(days=30)
#: the authorisation texts the user app shows, by version (the lawyers own the wording)
TEXTS = {
    "v1": ("本人授权车贷通及其合作机构，为审核本人{ref}号车辆融资申请（用途：{purpose}），"
           "向{bureaus}查询、使用本人的信用信息。授权有效期至{expires}。\n"
           "I authorise Chedaitong to query my credit reports at {bureaus} for application "
           "{ref} ({purpose}) until {expires}."),
}


def document_text(*, application: Application, text_version: str, purpose: str,
                  bureaus: Iterable[str], expires_at: datetime) -> str:
    """The consent document the customer signs (its hash is kept with the record)."""
    return TEXTS[text_version].format(ref=application.ref, purpose=purpose,
                                      bureaus=", ".join(bureaus),
                                      expires=as_utc(expires_at).date().isoformat())


def grant(*, session: Session, user: User, application_id: int, text_version: str | None,
          purpose: str = "loan_application", bureaus: Iterable[str] = BUREAUS,
          now: datetime | None = None) -> CreditConsent:
    """The signed-in customer consents to the inquiries for one application, committed.

    The application must be filed under the customer's own *verified* ID number (NotFound
    otherwise: another customer's application is not disclosed) and not yet decided; the
    first consent links it to the customer. Idempotent and race-safe: the application keeps
    one effective consent per purpose (the database's unique index), so the same grant again
    — or six at once — answers with the consent on file; a different one (other bureaus or
    text, or after expiry) supersedes it.
    """
    customer = identity.require_verified(session=session, user=user)
    application = access.application(session=session, application_id=application_id,
                                      user=user)  # someone else's: NotFound, nothing told
    bureaus = list(dict.fromkeys(bureaus))
    if text_version is None:
        raise Invalid("text_version", "required: the version of the text you agreed to")
    if text_version not in TEXTS:
        raise Invalid("text_version", f"unknown text version; one of {', '.join(TEXTS)}")
    if purpose == POST_LOAN_MONITORING:
        raise Invalid("purpose", "post-loan monitoring is consented to by signing the loan "
                                 "contract (its clause), not before: grant loan_application")
    if purpose not in PURPOSES:
        raise Invalid("purpose", f"one of {', '.join(PURPOSES)}")
    if not bureaus or set(bureaus) - set(BUREAUS):
        raise Invalid("bureaus", f"a non-empty subset of {', '.join(BUREAUS)}")
    if application.state != state_machine.DRAFT:
        raise state_machine.IllegalTransition(application, "grant consent", application.state)
    if application.customer_id not in (None, customer.id):  # visible implies not, but be sure
        raise NotFound(f"no application {application_id} visible to you")
    now = now or datetime.now(UTC)
    current = effective(session=session, application_id=application.id, purpose=purpose)
    if current is not None and _same_grant(current, customer.id, bureaus, text_version, now):
        return current  # a repeated (or concurrent) grant: the one already on file
    if current is not None:  # expired, or for other bureaus or text: the new one replaces it
        current.superseded_at = now
    expires = now + VALIDITY
    text = document_text(application=application, text_version=text_version,
                         purpose=purpose, bureaus=bureaus, expires_at=expires)
    signed = f"{text}\n--\nsigned by customer {customer.external_ref} at {now.isoformat()}"
    application.customer_id = customer.id
    row = CreditConsent(application_id=application.id, customer_id=customer.id,
                        granted_by=user.id, purpose=purpose, bureaus=bureaus,
                        text_version=text_version,
                        document_sha256=hashlib.sha256(signed.encode()).hexdigest(),
                        granted_at=now, expires_at=expires)
    session.add(row)
    try:
        session.commit()
    except IntegrityError:  # a concurrent grant stored its consent first (the unique index)
        session.rollback()
        winner = effective(session=session, application_id=application_id, purpose=purpose)
        if winner is not None and _same_grant(winner, customer.id, bureaus, text_version,
                                              datetime.now(UTC)):
            return winner
        raise Conflict("another consent for this application was granted at the same "
                       "moment; look at the consents on file and grant again if needed"
                       ) from None
    return row


def effective(*, session: Session, application_id: int, purpose: str) -> CreditConsent | None:
    """The application's one effective consent for ``purpose`` (neither revoked nor
    superseded; it may have expired), or None."""
    return session.scalar(select(CreditConsent).where(
        CreditConsent.application_id == application_id, CreditConsent.purpose == purpose,
        CreditConsent.revoked_at.is_(None), CreditConsent.superseded_at.is_(None)))


def _same_grant(c: CreditConsent, customer_id: int, bureaus: list[str], text_version: str,
                at: datetime) -> bool:
    return (c.customer_id == customer_id and is_live(c, at) and c.text_version == text_version
            and sorted(c.bureaus) == sorted(bureaus))


def revoke(*, session: Session, user: User, application_id: int) -> list[CreditConsent]:
    """The customer withdraws every live consent of one of their applications, committed."""
    customer = identity.require_verified(session=session, user=user)
    application = access.application(session=session, application_id=application_id,
                                      user=user)
    rows = [c for c in of_application(session=session, application=application)
            if c.customer_id == customer.id and c.revoked_at is None
            and c.superseded_at is None]
    if not rows:
        raise Conflict("there is no live consent to revoke on this application")
    now = datetime.now(UTC)
    for c in rows:
        c.revoked_at = now
    session.commit()
    return rows


def of_application(*, session: Session, application: Application) -> list[CreditConsent]:
    return list(session.scalars(select(CreditConsent).where(
        CreditConsent.application_id == application.id).order_by(CreditConsent.id)))


def is_live(c: CreditConsent, at: datetime) -> bool:
    return c.live_at(at)


def live_consent(*, session: Session, application: Application,
                 at: datetime | None = None) -> CreditConsent | None:
    """The newest unrevoked, unexpired consent of the application's own customer for the
    loan application, or None: one given for post-loan monitoring does not cover the credit
    decision's inquiries (an inquiry's purpose is the one consented to)."""
    at = at or datetime.now(UTC)
    for c in reversed(of_application(session=session, application=application)):
        if (c.customer_id == application.customer_id and c.purpose == LOAN_APPLICATION
                and is_live(c, at)):
            return c
    return None


def as_grant(c: CreditConsent | None) -> ConsentGrant | None:
    """What the decision service needs to know of a consent (it does not read this table)."""
    if c is None:
        return None
    return ConsentGrant(id=c.id, bureaus=tuple(c.bureaus), purpose=c.purpose,
                        expires_at=as_utc(c.expires_at),
                        revoked=c.revoked_at is not None)


def require_live(*, session: Session, application: Application) -> CreditConsent:
    """The live consent a submission needs (Conflict, naming what is missing, otherwise)."""
    if application.customer_id is None:
        raise Conflict("the customer has not yet confirmed this application and granted the "
                       "credit-inquiry consent in the user app")
    found = live_consent(session=session, application=application)
    if found is None:
        raise Conflict("no live credit-inquiry consent from the customer for this "
                       "application (missing, expired, revoked or for another purpose)")
    return found


def authorize_credit_inquiry(*, session: Session, customer: Customer,
                             text_version: str) -> None:
    """Retired: a consent is per application (POST /applications/<id>/consent)."""
    raise Conflict("credit-inquiry consent is given per application: "
                   "POST /applications/<id>/consent")


POSTLOAN_MONITORING_TEXT = "postloan-monitoring-v1"
#: how long past the last installment the monitoring consent holds (arrears outlive the term)
MONITORING_TAIL = timedelta(days=365)


def record_postloan_monitoring(*, session: Session, application: Application, granted_by: int,
                               document_sha256: str | None = None,
                               now: datetime | None = None) -> CreditConsent:
    """Record, in the caller's transaction, the consent to post-loan monitoring the customer
    gives by signing the contract (the contract text carries the clause): a `CreditConsent`
    for PBOC with purpose ``post_loan_monitoring``, live until a year after the term, under
    which the nightly job may pull refreshed reports (reason ``post_loan_management``)."""
    now = now or datetime.now(UTC)
    earlier = effective(session=session, application_id=application.id,
                        purpose=POST_LOAN_MONITORING)
    if earlier is not None:  # granted before signing (the API took that once): replaced
        earlier.superseded_at = now
        session.flush()
    clause = f"{POSTLOAN_MONITORING_TEXT}:{application.ref}"
    row = CreditConsent(
        application_id=application.id, customer_id=application.customer_id,
        granted_by=granted_by, purpose=POST_LOAN_MONITORING, bureaus=[BUREAU_PBOC],
        text_version=POSTLOAN_MONITORING_TEXT,
        document_sha256=document_sha256 or hashlib.sha256(clause.encode()).hexdigest(),
        granted_at=now,
        expires_at=now + timedelta(days=31 * application.term_months) + MONITORING_TAIL)
    session.add(row)
    return row
