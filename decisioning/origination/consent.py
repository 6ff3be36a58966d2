"""The customer's consents on file. Today: the credit-inquiry authorisation the PBOC requires
before a bureau report is pulled (the signed document itself is uploaded with the
application, see `applications.AUTHORIZATION_DOC`)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from chedaitong.db import Customer
from chedaitong.db.behaviour import POSTLOAN_MONITORING_CONSENT
from chedaitong.db.origination import Verification


def authorize_credit_inquiry(*, session: Session, customer: Customer,
                             text_version: str) -> Verification:
    """Record the customer's consent to the credit inquiries, committed."""
    v = Verification(customer_id=customer.id, kind="credit_authorization", passed=True,
                     score=None, vendor_request_id=None, detail=f"consent {text_version}")
    session.add(v)
    session.commit()
    return v


POSTLOAN_MONITORING_TEXT = "postloan-monitoring-v1"


def record_postloan_monitoring(*, session: Session, customer_id: int, application_id: int,
                               text_version: str = POSTLOAN_MONITORING_TEXT) -> Verification:
    """Record, in the caller's transaction, the consent to post-loan monitoring the customer
    gives by signing the contract (the contract text carries the clause): the nightly job may
    then pull refreshed bureau reports with reason ``post_loan_management``."""
    v = Verification(customer_id=customer_id, application_id=application_id,
                     kind=POSTLOAN_MONITORING_CONSENT, passed=True, score=None,
                     vendor_request_id=None, detail=f"consent {text_version} at signing")
    session.add(v)
    return v
