"""The customer's consents on file. Today: the credit-inquiry authorisation the PBOC requires
before a bureau report is pulled (the signed document itself is uploaded with the
application, see `applications.AUTHORIZATION_DOC`)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from chedaitong.db import Customer
from chedaitong.db.origination import Verification


def authorize_credit_inquiry(*, session: Session, customer: Customer,
                             text_version: str) -> Verification:
    """Record the customer's consent to the credit inquiries, committed."""
    v = Verification(customer_id=customer.id, kind="credit_authorization", passed=True,
                     score=None, vendor_request_id=None, detail=f"consent {text_version}")
    session.add(v)
    session.commit()
    return v
